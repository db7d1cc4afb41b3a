"""The guidance loop's service, served for real (uvicorn on a free port) over a real serving store
(DuckDB with literal alerts) and a real SQLite action log: the API's answers to each actor, the
pages in headless Chromium, CSRF, and sign-in with the dashboards' accounts."""
from __future__ import annotations

import json
import os
import threading
import time
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import httpx
import pytest
import uvicorn
import yaml

from courtwatch import accounts
from courtwatch.guidance import web
from courtwatch.guidance.alerts import COLUMNS
from courtwatch.settings import GuidanceSettings, ServingSettings, SupersetSettings, load_profile
from tests.conftest import free_port

pytestmark = [pytest.mark.system, pytest.mark.timeout(300)]
COURTS = [("H31", "上海市高级人民法院", "HIGH", "31"), ("B310101", "上海市第1基层人民法院", "BASIC", "31"),
          ("B310102", "上海市第2基层人民法院", "BASIC", "31"), ("H11", "北京市高级人民法院", "HIGH", "11"),
          ("B110101", "北京市第1基层人民法院", "BASIC", "11")]
FIRST_SEEN = datetime(2026, 3, 2, 9, 0)  # China time, as the serving store keeps it


def _alert(alert_id, court_id, high_court_id):
    values = {c: None for c in COLUMNS}
    values.update(alert_id=alert_id, kind="anomaly", kind_name="异常波动", rule_id="anomaly:collapse",
                  court_id=court_id, court_name=dict((c[0], c[1]) for c in COURTS)[court_id],
                  high_court_id=high_court_id, high_court_name="高级人民法院", province_name="上海市",
                  metric_id="case_filed", metric_name="收案数", window_start=FIRST_SEEN.date(),
                  window_end=FIRST_SEEN.date(), status="firing", status_name="触发中", severity="critical",
                  severity_name="严重", observed=12.0, expected=45.0,
                  message="收案数骤降：近3日12件，通常45件；主要来自 民事 −28", first_detected_at=FIRST_SEEN)
    return values


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    root = tmp_path_factory.mktemp("guidance")
    store = root / "serving" / "courtwatch.duckdb"
    store.parent.mkdir()
    with duckdb.connect(str(store)) as con:
        con.execute("CREATE TABLE courts (court_id VARCHAR, court_name VARCHAR, level VARCHAR, province_code VARCHAR)")
        con.executemany("INSERT INTO courts VALUES (?, ?, ?, ?)", COURTS)
        types = {"window_start": "DATE", "window_end": "DATE", "observed": "DOUBLE", "expected": "DOUBLE",
                 "first_detected_at": "TIMESTAMP"}
        declared = ", ".join(f"{c} {types.get(c, 'VARCHAR')}" for c in COLUMNS)
        con.execute(f"CREATE TABLE alerts ({declared})")
        for a in (_alert("a-sh-1", "B310101", "H31"), _alert("a-sh-2", "B310102", "H31"),
                  _alert("a-bj-1", "B110101", "H11")):
            con.execute(f"INSERT INTO alerts VALUES ({', '.join('?' * len(COLUMNS))})", [a[c] for c in COLUMNS])
        # what the alert page shows of a-bj-1 beside it: its metric's recent days and its root cause
        con.execute("CREATE TABLE court_metrics (court_id VARCHAR, period VARCHAR, period_start DATE, "
                    "metric_id VARCHAR, value DOUBLE, region_value DOUBLE)")
        con.executemany("INSERT INTO court_metrics VALUES ('B110101', 'day', ?, 'case_filed', ?, ?)",
                        [(date(2026, 2, 27), 44.0, 610.0), (FIRST_SEEN.date(), 12.0, 598.0),
                         (date(2026, 1, 2), 40.0, 600.0)])  # the last: long before, not shown
        con.execute("CREATE TABLE alert_causes (alert_id VARCHAR, rank INTEGER, breakdown_name VARCHAR, "
                    "member VARCHAR, observed DOUBLE, expected DOUBLE, change DOUBLE, share DOUBLE)")
        con.execute("INSERT INTO alert_causes VALUES ('a-bj-1', 1, '案件类型', '民事', 5, 33, -28, 0.85)")
    port = free_port()
    rules = yaml.safe_load(Path("conf/alerts.yaml").read_text())
    rules["notify"]["outbox_dir"] = str(root / "outbox")  # assignments and replies are told here
    (root / "alerts.yaml").write_text(yaml.safe_dump(rules, allow_unicode=True))
    base = load_profile("test")
    profile = base.model_copy(update={
        "alerts_file": str(root / "alerts.yaml"),
        "serving": ServingSettings(duckdb_path=str(store)),
        "superset": SupersetSettings(home=str(root / "superset"), accounts_file=str(root / "accounts.env")),
        "guidance": GuidanceSettings(home=str(root / "guidance"), port=port)})
    people = [p.username for p in accounts.demo_people(accounts.registry_courts(profile))]
    passwords = accounts.PasswordFile(profile.superset.accounts_file).ensure(people)
    clock = {"now": datetime(2026, 3, 3, 2, 0, tzinfo=timezone.utc)}  # Tuesday 10:00 in China
    os.environ.setdefault("COURTWATCH_GUIDANCE_SECRET", "a-test-only-session-secret-of-enough-length")
    server = uvicorn.Server(uvicorn.Config(web.create_app(profile, clock=lambda: clock["now"]), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    yield {"base": f"http://127.0.0.1:{port}", "passwords": passwords, "clock": clock, "root": root}
    server.should_exit = True
    thread.join(10)


def _as(service, user):
    return httpx.Client(base_url=service["base"], auth=(user, service["passwords"][user]), timeout=30)


def _act(client, alert_id, action, **fields):
    return client.post(f"/api/alerts/{alert_id}/actions", json={"action": action, **fields})


def test_the_loop_through_the_api_and_every_refusal(service):
    high, court, guidance = _as(service, "h31-01"), _as(service, "b310101-01"), _as(service, "guidance-01")
    neighbour, elsewhere = _as(service, "b310102-01"), _as(service, "h11-01")
    # who sees what: a high court its province, a court its own, the guidance center all
    assert {a["alert_id"] for a in high.get("/api/alerts").json()["alerts"]} == {"a-sh-1", "a-sh-2"}
    assert {a["alert_id"] for a in court.get("/api/alerts").json()["alerts"]} == {"a-sh-1"}
    assert len(guidance.get("/api/alerts").json()["alerts"]) == 3
    assert high.get("/api/alerts", params={"court_id": "B110101"}).json()["alerts"] == []  # a filter widens nothing
    for outsider in (neighbour, elsewhere):
        assert outsider.get("/api/alerts/a-sh-1").status_code == 404
        assert _act(outsider, "a-sh-1", "comment", note="?").status_code == 404
    # refusals: another role's action, the wrong state, a missing field
    assert _act(court, "a-sh-1", "acknowledge").status_code == 403
    r = _act(high, "a-sh-1", "assign", due_date="2026-03-10", note="x")
    assert r.status_code == 409 and r.json()["state"] == "new"
    assert _act(high, "a-sh-1", "acknowledge").status_code == 201
    r = _act(high, "a-sh-1", "assign", note="请核查")
    assert r.status_code == 422 and r.json()["field"] == "due_date"
    r = _act(high, "a-sh-1", "assign", due_date="2026-03-10", note="请核查收案骤降原因")
    assert r.status_code == 201 and r.json()["state"] == "assigned"
    assert _act(court, "a-sh-1", "reply", note="系统迁移中断了网上立案，已恢复").json()["state"] == "replied"
    # the assignment was told to the court, the reply to its high court, each with the alert's link
    told = {}
    for f in (service["root"] / "outbox" / "notices").rglob("*.json"):
        n = json.loads(f.read_text())
        told[n["recipient"]] = n
    assert told["B310101"]["title"].startswith("督办通知") and "反馈期限：2026-03-10" in told["B310101"]["text"]
    assert told["H31"]["title"].startswith("整改反馈") and told["H31"]["url"].endswith("/alerts/a-sh-1")
    r = _act(high, "a-sh-1", "close", label="true_alarm")
    assert r.status_code == 201 and r.json()["state"] == "closed" and r.json()["label"] == "true_alarm"
    one = guidance.get("/api/alerts/a-sh-1").json()
    assert [h["action"] for h in one["history"]] == ["acknowledge", "assign", "reply", "close"]
    assert one["history"][1]["account"] == "h31-01" and one["url"].endswith("/alerts/a-sh-1")
    assert _act(guidance, "a-sh-1", "reopen", note="再次出现").json()["state"] == "acknowledged"
    # a dismissal needs a label other than true_alarm
    assert _act(high, "a-sh-2", "dismiss", note="法院合并", label="true_alarm").status_code == 422
    assert _act(high, "a-sh-2", "dismiss", note="法院合并", label="expected").json()["state"] == "dismissed"
    # a wrong password, or none, is 401
    assert httpx.get(f"{service['base']}/api/alerts", auth=("h31-01", "wrong")).status_code == 401
    assert httpx.get(f"{service['base']}/api/alerts").status_code == 401
    assert "/api/alerts/{alert_id}/actions" in httpx.get(f"{service['base']}/openapi.json").json()["paths"]


def test_overdue_counts_working_days(service):
    guidance, high = _as(service, "guidance-01"), _as(service, "h31-01")
    service["clock"]["now"] = datetime(2026, 3, 4, 2, 0, tzinfo=timezone.utc)  # Wednesday: a-bj-1 is a day late
    late = guidance.get("/api/alerts", params={"overdue": "true"}).json()["alerts"]
    assert [a["alert_id"] for a in late] == ["a-bj-1"] and late[0]["overdue_reason"] == "未按时签收"
    assert high.get("/api/alerts", params={"overdue": "true"}).json()["alerts"] == []  # not the Shanghai court's
    service["clock"]["now"] = datetime(2026, 3, 3, 2, 0, tzinfo=timezone.utc)


def test_a_cookie_without_the_csrf_token_takes_no_action(service):
    s = httpx.Client(base_url=service["base"], timeout=30)
    page = s.get("/login")
    token = page.text.split('name="csrf" value="')[1].split('"')[0]
    assert s.post("/login", data={"csrf": "forged", "username": "h11-01",
                                  "password": service["passwords"]["h11-01"]}).status_code == 403
    r = s.post("/login", data={"csrf": token, "username": "h11-01", "password": service["passwords"]["h11-01"]})
    assert r.status_code == 303
    # signed in by cookie: an API write without the session's token is refused, even for one's own alert
    assert s.post("/api/alerts/a-bj-1/actions", json={"action": "acknowledge"}).status_code == 403
    assert s.post("/alerts/a-bj-1/actions", data={"action": "acknowledge"}).status_code == 403
    assert s.get("/api/alerts/a-bj-1").json()["state"] == "new"


def test_the_pages_in_a_browser_take_an_alert_from_new_to_replied(service, tmp_path):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from testbed import browser as chromium

    base, pw = service["base"], service["passwords"]
    browser = chromium.open_browser(tmp_path / "chrome", 1200, 900)

    def sign_in(user):
        browser.delete_all_cookies()
        browser.get(f"{base}/login")
        browser.find_element(By.NAME, "username").send_keys(user)
        browser.find_element(By.NAME, "password").send_keys(pw[user])
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.ID, "inbox"))

    def submit(action, **fields):
        form = browser.find_element(By.ID, f"form-{action}")
        for name, value in fields.items():
            field = form.find_element(By.NAME, name)
            if field.tag_name == "select":
                field.find_element(By.CSS_SELECTOR, f"option[value={value}]").click()
            else:
                browser.execute_script("arguments[0].value = arguments[1]", field, value)
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    def state_becomes(text):  # the form posts, the page reloads: wait for the new one
        WebDriverWait(browser, 30, ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda b: text in b.find_element(By.ID, "state").text)

    try:
        sign_in("h11-01")
        inbox = browser.find_element(By.ID, "inbox").text
        assert "北京市第1基层人民法院" in inbox and "上海" not in inbox
        browser.find_element(By.LINK_TEXT, "异常波动：收案数").click()
        assert "主要来自 民事" in browser.page_source  # the alert's message
        causes = browser.find_element(By.ID, "causes").text  # its top contributor, its metric's recent days
        assert "案件类型 民事" in causes and "85%" in causes
        recent = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#recent tr")]
        assert recent[1:] == ["2026-02-27 44 610", "2026-03-02 12 598"]
        submit("acknowledge")
        state_becomes("已签收")
        submit("assign", due_date=(datetime(2026, 3, 10)).date().isoformat(), note="请三日内反馈整改情况")
        state_becomes("督办中")
        sign_in("b110101-01")
        browser.get(f"{base}/alerts/a-bj-1")
        assert [f.get_attribute("id") for f in browser.find_elements(By.CSS_SELECTOR, "form.action")] == \
            ["form-reply", "form-comment"]
        submit("reply", note="已排查，立案系统故障已修复")
        state_becomes("已反馈")
        history = browser.find_element(By.ID, "history").text
        assert "签收" in history and "督办" in history and "整改反馈" in history
        browser.get(f"{base}/alerts/a-sh-1")  # another court's alert: as if it did not exist
        assert "404" in browser.page_source
    finally:
        browser.quit()
