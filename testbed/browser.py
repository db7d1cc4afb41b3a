"""Headless Chromium on the dashboards, as the guidance center sees them: for the tests and the benchmark.

A dashboard is fully drawn when it shows all its charts, nothing is still
loading, and each chart holds its canvas, svg or table (a plain number: its text).
"""
from __future__ import annotations

import time
from pathlib import Path

# a chart is drawn when it shows a picture, a table or text (a figure); a table whose query returned
# no row shows the empty state's image, a big number without a value says so (at national, the
# follow-up dashboard's closed alerts and alarm accuracy before any alert is labelled)
DRAWN = ("const c = document.querySelectorAll('.chart-container');"
         "return c.length === arguments[0] && !document.querySelector('.loading') &&"
         " Array.from(c).every(e => e.querySelector('canvas, svg, table, img') || e.innerText.trim() !== '');")


def open_browser(profile_dir: Path, width: int = 1600, height: int = 1400):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", f"--window-size={width},{height}",
                f"--user-data-dir={profile_dir}"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def sign_in(browser, base: str, username: str, password: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{base}/login/")
    WebDriverWait(browser, 60).until(lambda b: b.find_elements(By.ID, "username"))
    browser.find_element(By.ID, "username").send_keys(username)
    browser.find_element(By.ID, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 60).until(lambda b: "/login" not in b.current_url)


def draw(browser, base: str, slug: str, n_charts: int, timeout: float = 120) -> float:
    """Open the dashboard and wait until it is fully drawn; the seconds that took (polled every 20 ms)."""
    from selenium.webdriver.support.ui import WebDriverWait

    started = time.perf_counter()
    browser.get(f"{base}/superset/dashboard/{slug}/")
    WebDriverWait(browser, timeout, poll_frequency=0.02).until(
        lambda b: b.execute_script(DRAWN, n_charts), message=f"dashboard {slug} did not draw its {n_charts} charts")
    return time.perf_counter() - started


def chart_count(dashboard_asset: dict) -> int:
    return sum(1 for v in dashboard_asset["position"].values() if isinstance(v, dict) and v.get("type") == "CHART")
