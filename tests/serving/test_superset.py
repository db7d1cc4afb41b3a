"""Superset on the Spark Thrift Server, as `make up` brings it: a real Superset, a real browser.

One module-scoped stack: a small warehouse (with faults, so the feed-health
charts have rejections and quarantine), the SQL endpoint over it, and a fresh
Superset set up from the repository (`courtwatch superset up`).
"""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import requests
import yaml

from courtwatch import dashboard_assets
from courtwatch import superset_service as superset
from courtwatch.settings import load_profile
from testbed.generate.landing_zone import generate
from tests.conftest import free_port

pytestmark = [pytest.mark.system, pytest.mark.timeout(1200)]
SLUGS = dashboard_assets.slugs()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, spark):
    from tests.conftest import run_pipeline

    root = tmp_path_factory.mktemp("superset")
    generate("tiny", str(root / "landing"), date(2026, 9, 1), 35, seed=11, incidents=3, fault_share=0.06)
    run_pipeline(spark, root / "landing", str(root / "warehouse"))
    conf = yaml.safe_load(Path("conf/test.yaml").read_text())
    conf.update(warehouse=str(root / "warehouse"), landing=str(root / "landing"),
                secrets_file=str(Path(".secrets/courtwatch.env").resolve()),
                sql={"port": free_port(), "metastore": str(root / "metastore")},
                superset={"home": str(root / "superset"), "port": free_port(), "workers": 1})
    (root / "profile.yaml").write_text(yaml.safe_dump(conf))
    profile = load_profile(str(root / "profile.yaml"))
    superset.up(profile)
    s = profile.superset
    try:
        yield {"profile": profile, "base": f"http://{s.host}:{s.port}", "root": root}
    finally:
        superset.down(profile)


def login(stack, username: str) -> requests.Session:
    profile = stack["profile"]
    password = profile.secret("SUPERSET_ADMIN_PASSWORD" if username == "admin" else "COURTWATCH_USER_PASSWORD")
    r = requests.post(f"{stack['base']}/api/v1/security/login", timeout=60,
                      json={"username": username, "password": password, "provider": "db", "refresh": False})
    r.raise_for_status()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    # SQL Lab's POSTs want a CSRF token too (bound to this session's cookie)
    csrf = session.get(f"{stack['base']}/api/v1/security/csrf_token/", timeout=60)
    if csrf.ok:
        session.headers["X-CSRFToken"] = csrf.json()["result"]
    return session


def listing(session, base, kind: str) -> list[dict]:
    r = session.get(f"{base}/api/v1/{kind}/", params={"q": json.dumps({"page_size": 100})}, timeout=60)
    r.raise_for_status()
    return r.json()["result"]


def chart_rows(session, base, chart_id: int) -> list[dict]:
    r = session.get(f"{base}/api/v1/chart/{chart_id}/data/", timeout=300)
    assert r.status_code == 200, f"chart {chart_id}: {r.status_code} {r.text[:500]}"
    return r.json()["result"][0]["data"]


def high_courts(stack) -> dict[str, str]:
    """High court id -> province code, from the registry the warehouse holds."""
    courts = (Path(stack["root"]) / "landing" / "reference" / "courts.csv").read_text().splitlines()
    header = courts[0].split(",")
    rows = [dict(zip(header, line.split(","))) for line in courts[1:]]
    return {r["court_id"]: r["province_code"] for r in rows if r["level"] == "HIGH"}


def test_assets_import_into_a_fresh_superset(stack):
    admin = login(stack, "admin")
    assets = dashboard_assets.build()
    dashboards = {d["slug"]: d for d in listing(admin, stack["base"], "dashboard")}
    assert set(dashboards) == set(SLUGS)
    assert dashboards["overview"]["dashboard_title"] == "全国审判质效概览"
    charts = listing(admin, stack["base"], "chart")
    assert len(charts) == sum(1 for rel in assets if rel.startswith("charts/"))
    datasets = {d["table_name"] for d in listing(admin, stack["base"], "dataset")}
    assert datasets == {rel.rsplit("/", 1)[1][:-5] for rel in assets if rel.startswith("datasets/")}
    # setup runs again on every `make up`: a second import changes nothing and duplicates nothing
    superset.apply(stack["profile"])
    assert len(listing(admin, stack["base"], "chart")) == len(charts)


def test_every_chart_of_every_dashboard_returns_data(stack):
    admin = login(stack, "admin")
    empty = []
    for slug in SLUGS:
        r = admin.get(f"{stack['base']}/api/v1/dashboard/{slug}/charts", timeout=60)
        r.raise_for_status()
        for chart in r.json()["result"]:
            if not chart_rows(admin, stack["base"], chart["id"]):
                empty.append(f"{slug}: {chart['slice_name']}")
    assert not empty, f"charts without rows: {empty}"


def test_a_high_court_sees_its_own_province_only(stack):
    courts = high_courts(stack)
    assert len(courts) >= 2
    admin = login(stack, "admin")
    charts = {c["slice_name"]: c["id"] for c in listing(admin, stack["base"], "chart")}
    ranking = charts["各省关键指标（本期累计）"]  # region_metrics, one row per province
    feed = charts["各法院报送情况"]  # ops.batches, one row per court and source
    everyone = {r["region_name"] for r in chart_rows(admin, stack["base"], ranking)}
    assert len(everyone) == len(courts)
    for court_id, province in courts.items():
        session = login(stack, court_id)
        seen = {r["region_name"] for r in chart_rows(session, stack["base"], ranking)}
        assert len(seen) == 1 and seen < everyone, (court_id, seen)
        # the court feed lists only courts of that province (court ids carry the province code)
        ids = _feed_court_ids(stack, session, feed)
        assert ids and all(i[1:3] == province for i in ids), (court_id, ids)
    guidance = login(stack, "guidance")
    assert {r["region_name"] for r in chart_rows(guidance, stack["base"], ranking)} == everyone


def _feed_court_ids(stack, session, chart_id) -> set[str]:
    """Ask the chart's dataset for court ids, through the chart data API (row-level security applies)."""
    r = session.get(f"{stack['base']}/api/v1/chart/{chart_id}", timeout=60)
    r.raise_for_status()
    qc = json.loads(r.json()["result"]["query_context"])
    qc["queries"][0].update(columns=["court_id"], metrics=[], orderby=[], extras={"where": "", "having": ""})
    qc["result_type"] = "full"
    data = session.post(f"{stack['base']}/api/v1/chart/data", json=qc, timeout=300)
    assert data.status_code == 200, data.text[:500]
    return {row["court_id"] for row in data.json()["result"][0]["data"]}


def test_headless_chromium_renders_every_dashboard(stack, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--window-size=1600,1400", f"--user-data-dir={tmp_path / 'chrome'}"):
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    assets = dashboard_assets.build()
    try:
        browser.get(f"{stack['base']}/login/")
        WebDriverWait(browser, 60).until(lambda b: b.find_elements(By.ID, "username"))
        browser.find_element(By.ID, "username").send_keys("guidance")
        browser.find_element(By.ID, "password").send_keys(stack["profile"].secret("COURTWATCH_USER_PASSWORD"))
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(browser, 60).until(lambda b: "/login" not in b.current_url)
        for slug in SLUGS:
            spec = assets[f"dashboards/{slug}.yaml"]
            n_charts = sum(1 for v in spec["position"].values() if isinstance(v, dict) and v.get("type") == "CHART")
            browser.get(f"{stack['base']}/superset/dashboard/{slug}/")
            # rendered: nothing is still loading and every chart holds its canvas, svg or table (a plain
            # number: its text). An upper bound, not a timing: late in the suite, on 2 cores, one dashboard's
            # queries through the SQL endpoint once took over 180 s.
            WebDriverWait(browser, 360).until(lambda b: b.execute_script(
                "const c = document.querySelectorAll('.chart-container');"
                "return c.length === arguments[0] && !document.querySelector('.loading') &&"
                " Array.from(c).every(e => e.querySelector('canvas, svg, table') || /\\d/.test(e.innerText));",
                n_charts), message=f"dashboard {slug} did not render all {n_charts} charts")
            shot = tmp_path / f"{slug}.png"
            browser.save_screenshot(str(shot))
            assert browser.title == spec["dashboard_title"], (slug, browser.title)
            errors = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".ant-alert-error, .alert-danger")]
            assert not errors, (slug, errors)
            png = shot.read_bytes()
            assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000, (slug, len(png))  # a page, not a blank
    finally:
        browser.quit()


def test_analysts_query_the_warehouse_in_sql_lab(stack):
    analyst = login(stack, "analyst")
    database = next(d for d in listing(analyst, stack["base"], "database") if d["database_name"] == "courtwatch")
    # the table picker lists Spark's table names (PyHive's reading of SHOW TABLES is fixed in superset_config.py)
    r = analyst.get(f"{stack['base']}/api/v1/database/{database['id']}/tables/",
                    params={"q": "(force:!t,schema_name:gold)"}, timeout=120)
    r.raise_for_status()
    assert {"alerts", "court_metrics", "region_metrics"} <= {t["value"] for t in r.json()["result"]}
    statement = {"database_id": database["id"], "sql": "SELECT count(*) AS n FROM gold.region_metrics",
                 "runAsync": False, "schema": "default", "tab": "courtwatch"}
    r = analyst.post(f"{stack['base']}/api/v1/sqllab/execute/", json=statement, timeout=300)
    assert r.status_code == 200, r.text[:500]
    assert r.json()["data"][0]["n"] > 0
    # a high court works through its dashboards, not raw SQL (row-level security does not reach SQL Lab)
    court = next(iter(high_courts(stack)))
    r = login(stack, court).post(f"{stack['base']}/api/v1/sqllab/execute/", json=statement, timeout=300)
    assert r.status_code in (401, 403), r.status_code
