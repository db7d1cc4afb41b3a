"""Who sees what, tried as a hostile user would: a high court's person with only the API a browser uses.

On the shared stack (tests/serving/conftest.py). Each probe is one way round a
province's wall (SECURITY.md lists them): it returns only the court's own
province's rows, or it is refused.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import requests

from tests.serving.conftest import chart_rows, courts, high_courts, listing, login, password, person

pytestmark = [pytest.mark.system, pytest.mark.timeout(900)]

UNION = "court_id FROM feed_daily UNION ALL SELECT court_id"


@pytest.fixture(scope="module")
def court(stack):
    """One high court (its id, province, account session) and the admin's chart ids by name."""
    court_id, province = sorted(high_courts(stack).items())[0]
    admin = login(stack, "admin")
    charts = {c["slice_name"]: c["id"] for c in listing(admin, stack["base"], "chart")}
    return {"id": court_id, "province": province, "session": login(stack, person(court_id)), "charts": charts,
            "admin": admin}


def saved_query(session, base, chart_id) -> dict:
    """The chart's saved query, naming the chart as a dashboard's request does."""
    r = session.get(f"{base}/api/v1/chart/{chart_id}", timeout=60)
    r.raise_for_status()
    qc = json.loads(r.json()["result"]["query_context"])
    qc["form_data"] = {**(qc.get("form_data") or {}), "slice_id": chart_id}
    return qc


def post_data(session, base, qc, **extra):
    return session.post(f"{base}/api/v1/chart/data", json={**qc, "force": True, **extra}, timeout=120)


def test_an_account_is_one_persons_password(stack):
    others = [person(c) for c in sorted(high_courts(stack))[:2]] + ["guidance-01", "analyst-01"]
    passwords = [password(stack, u) for u in others]
    assert len(set(passwords)) == len(passwords), "every account has its own password"
    for user in others[1:]:
        r = requests.post(f"{stack['base']}/api/v1/security/login", timeout=60,
                          json={"username": others[0], "password": password(stack, user), "provider": "db"})
        assert r.status_code == 401, (others[0], user, r.status_code)
    assert (os.stat(stack["profile"].superset.accounts_file).st_mode & 0o777) == 0o600


def test_ad_hoc_sql_is_refused_to_a_high_court(stack, court):
    base, session = stack["base"], court["session"]
    chart = court["charts"]["各法院报送情况（按法院代码排列）"]  # feed_daily
    qc = saved_query(session, base, chart)
    attempts = {
        "a custom SQL column": {"columns": [{"expressionType": "SQL", "label": "x", "sqlExpression": UNION}]},
        "a name that is SQL": {"columns": [UNION], "metrics": [], "orderby": []},
        "a custom SQL metric": {"metrics": [{"expressionType": "SQL", "label": "n",
                                             "sqlExpression": "COUNT(*) FILTER (WHERE province_code <> '')"}]},
        "a where clause": {"extras": {"where": "1 = 1 OR province_code IS NOT NULL"}},
        "a having clause": {"extras": {"having": "COUNT(*) > 0 OR TRUE"}},
        "an SQL filter column": {"filters": [{"col": {"sqlExpression": UNION, "label": "x"}, "op": "IS NOT NULL"}]},
        "an order by": {"orderby": [[{"expressionType": "SQL", "label": "o", "sqlExpression": "random()"}, True]]},
    }
    for what, change in attempts.items():
        asked = json.loads(json.dumps(qc))
        asked["queries"][0].update(change)
        r = post_data(session, base, asked)
        assert r.status_code == 403, (what, r.status_code, r.text[:300])
    # the same SQL sent with no chart named
    asked = json.loads(json.dumps(qc))
    asked["queries"][0].update(attempts["a custom SQL column"])
    asked["form_data"] = {**(asked.get("form_data") or {}), "slice_id": None}
    assert post_data(session, base, asked).status_code == 403
    # the saved chart itself answers, and only with the court's province
    answer = post_data(session, base, qc)
    assert answer.status_code == 200, answer.text[:500]
    rows = answer.json()["result"][0]["data"]
    assert rows and all(r.get("court_id", court["province"])[1:3] == court["province"] for r in rows)
    # an analyst may write SQL in a chart (and sees every province anyway)
    analyst = login(stack, "analyst-01")
    asked = json.loads(json.dumps(qc))
    asked["queries"][0].update(metrics=[], orderby=[], columns=[
        {"expressionType": "SQL", "label": "x", "sqlExpression": "upper(court_id)"}])
    answer = post_data(analyst, base, asked)
    assert answer.status_code == 200, answer.text[:300]


def test_the_legacy_chart_api_is_guarded_too(stack, court):
    """The map charts draw through /superset/explore_json/ (a cookie session, as the browser has)."""
    base, user = stack["base"], person(court["id"])
    web = requests.Session()  # a CSRF token bound to this cookie session, then the sign-in form
    api = requests.post(f"{base}/api/v1/security/login", timeout=60, json={
        "username": user, "password": password(stack, user), "provider": "db"}).json()["access_token"]
    token = web.get(f"{base}/api/v1/security/csrf_token/", headers={"Authorization": f"Bearer {api}"},
                    timeout=60).json()["result"]
    r = web.post(f"{base}/login/", timeout=60, allow_redirects=False, data={
        "username": user, "password": password(stack, user), "csrf_token": token})
    assert r.status_code in (302, 303) and "/login" not in r.headers.get("Location", ""), r.status_code
    chart = court["charts"]["各省结收比（统计期内）"]  # region_metrics, country_map
    form_data = json.loads(court["admin"].get(f"{base}/api/v1/chart/{chart}", timeout=60).json()["result"]["params"])
    form_data["slice_id"] = chart
    web.headers["X-CSRFToken"] = token
    ok = web.post(f"{base}/superset/explore_json/", data={"form_data": json.dumps(form_data)}, timeout=120)
    assert ok.status_code == 200, ok.text[:300]
    provinces = {row.get("country_id") or row.get("province_iso") for row in ok.json()["data"]}
    assert len(provinces) <= 1, provinces  # its own province (the national row has no province to draw)
    bad = {**form_data, "adhoc_filters": [{"expressionType": "SQL", "clause": "WHERE",
                                           "sqlExpression": "1 = 1 OR region_level <> ''"}]}
    refused = web.post(f"{base}/superset/explore_json/", data={"form_data": json.dumps(bad)}, timeout=120)
    assert refused.status_code == 403, (refused.status_code, refused.text[:300])


def test_no_database_no_sql_lab_no_samples_for_a_high_court(stack, court):
    base, session = stack["base"], court["session"]
    # the serving store is listed (a high court reads datasets in it), never SQL Lab's warehouse
    databases = listing(session, base, "database")
    assert [d["database_name"] for d in databases] == ["courtwatch"], databases
    assert not databases[0]["expose_in_sqllab"] and not databases[0]["allow_dml"]
    assert session.get(f"{base}/api/v1/saved_query/", timeout=60).status_code in (200, 403)
    if session.get(f"{base}/api/v1/saved_query/", timeout=60).status_code == 200:
        assert session.get(f"{base}/api/v1/saved_query/", timeout=60).json()["count"] == 0
    datasets = {d["table_name"]: d["id"] for d in listing(session, base, "dataset")}
    assert "feed_daily" in datasets and set(datasets) <= {"courts", "court_metrics", "region_metrics",
                                                          "indicator_status", "alerts", "breakdowns", "feed_daily",
                                                          "rejected_batches", "quarantine_daily", "publication",
                                                          "alert_causes", "guidance_followup"}
    samples = session.post(f"{base}/datasource/samples", params={"datasource_id": datasets["feed_daily"],
                                                                 "datasource_type": "table"}, json={}, timeout=120)
    if samples.status_code == 200:  # samples, if a role may take them, are of its province only
        assert all(r["province_code"] == court["province"] for r in samples.json()["result"]["data"])
    else:
        assert samples.status_code in (401, 403), samples.status_code
    # a column's values: refused, or with the row-level security (the filter bar asks the chart data API)
    r = session.get(f"{base}/api/v1/datasource/table/{datasets['courts']}/column/province_code/values/", timeout=60)
    assert r.status_code == 403 or r.json()["result"] == [court["province"]], r.text[:300]
    native = {"datasource": {"id": datasets["courts"], "type": "table"}, "force": True, "result_type": "full",
              "form_data": {"type": "NATIVE_FILTER"},
              "queries": [{"columns": ["province_code"], "metrics": [], "row_limit": 1000}]}
    r = session.post(f"{base}/api/v1/chart/data", json=native, timeout=120)
    assert r.status_code == 200, r.text[:300]
    assert {row["province_code"] for row in r.json()["result"][0]["data"]} == {court["province"]}
    # the warehouse's (SQL Lab's) tables and their metadata: not this role's
    warehouse = next(d["id"] for d in listing(court["admin"], base, "database")
                     if d["database_name"] == "courtwatch_warehouse")
    for path, params in [("tables/", {"q": "(schema_name:silver)"}), ("table_metadata/", {"name": "hotline"}),
                         ("schemas/", {})]:
        r = session.get(f"{base}/api/v1/database/{warehouse}/{path}", params=params, timeout=60)
        assert r.status_code in (401, 403, 404), (path, r.status_code, r.text[:200])


def test_another_provinces_court_and_exports_show_nothing_of_it(stack, court):
    base, session = stack["base"], court["session"]
    other = next(c for c in courts(stack) if c["province_code"] not in (court["province"], ""))
    chart = court["charts"]["各法院报送情况（按法院代码排列）"]
    qc = saved_query(session, base, chart)
    qc["queries"][0]["filters"] = [*qc["queries"][0].get("filters", []),
                                   {"col": "court_id", "op": "IN", "val": [other["court_id"]]}]
    r = post_data(session, base, qc)
    assert r.status_code == 200 and r.json()["result"][0]["data"] == [], r.text[:300]
    export = post_data(session, base, saved_query(session, base, chart), result_format="csv")
    assert export.status_code == 200
    ids = {line.split(",")[0] for line in export.text.splitlines()[1:] if line}
    assert ids and all(i[1:3] == court["province"] for i in ids), ids


def test_a_lower_court_sees_its_own_court_only(stack, court):
    lower = next(c for c in courts(stack) if c["level"] == "BASIC")
    session = login(stack, person(lower["court_id"]))
    rows = chart_rows(session, stack["base"], court["charts"]["各法院报送情况（按法院代码排列）"])
    assert {r["court_id"] for r in rows} <= {lower["court_id"]}


def test_pages_come_with_a_content_security_policy(stack):
    r = requests.get(f"{stack['base']}/login/", timeout=60)
    policy = r.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'self'" in policy and "default-src 'self'" in policy, policy
    assert "http" not in policy.replace("'self'", ""), "nothing is loaded from another site"
    assert r.headers.get("X-Frame-Options") == "SAMEORIGIN"


def _descendants(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        p, parent = map(int, line.split())
        children.setdefault(parent, []).append(p)
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        found.add(p)
        todo.extend(children.get(p, []))
    return found


def test_nothing_of_the_stack_listens_beyond_loopback(stack):
    home = Path(stack["profile"].superset.home)
    pids = set().union(*(_descendants(int((home / f"{name}.pid").read_text())) for name in ("superset", "sql-server")))
    listening = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout.splitlines()
    ours = [line for line in listening if any(f"pid={p}," in line for p in pids)]
    assert ours, "the stack's listeners are found"
    local = [line.split()[3] for line in ours]
    assert all(a.startswith(("127.0.0.1:", "[::1]:", "[::ffff:127.0.0.1]:")) for a in local), local


def test_the_stacks_files_are_its_owners(stack):
    home = Path(stack["profile"].superset.home)
    for path in [home, home / "superset.db", Path(stack["ctx"].serving_store)]:
        assert path.stat().st_mode & 0o007 == 0, (path, oct(path.stat().st_mode))
