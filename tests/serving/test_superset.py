"""Superset on the serving store, as `make up` brings it: a real Superset, a real browser.

The stack (tests/serving/conftest.py): a small warehouse and its serving
store, the SQL endpoint, a fresh Superset set up from the repository
(`courtwatch superset up`). The last test serves the same dashboards from the
PostgreSQL option, on a real server the test starts. Who may see what, tried
as an attacker would: test_access.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from courtwatch import dashboard_assets
from courtwatch import superset_service as superset
from tests.serving.conftest import chart_results, chart_rows, high_courts, listing, login, password, person

pytestmark = [pytest.mark.system, pytest.mark.timeout(1200)]
SLUGS = dashboard_assets.slugs()


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
    ranking = charts["各省关键指标（统计期内，按省份代码排列）"]  # region_metrics, one row per province
    feed = charts["各法院报送情况（按法院代码排列）"]  # feed_daily, one row per court and source
    everyone = {r["region_name"] for r in chart_rows(admin, stack["base"], ranking)}
    assert len(everyone) == len(courts)
    for court_id, province in courts.items():
        session = login(stack, person(court_id))
        seen = {r["region_name"] for r in chart_rows(session, stack["base"], ranking)}
        assert len(seen) == 1 and seen < everyone, (court_id, seen)
        # the court feed lists only courts of that province (court ids carry the province code)
        ids = _feed_court_ids(stack, session, feed)
        assert ids and all(i[1:3] == province for i in ids), (court_id, ids)
    guidance = login(stack, "guidance-01")
    assert {r["region_name"] for r in chart_rows(guidance, stack["base"], ranking)} == everyone
    # the follow-up board: each high court its own province's figures and items, the guidance center all
    followup, items = charts["各省督办情况（按省份代码与月份排列）"], charts["待办与逾期的督办事项（逾期在前）"]
    provinces = {r["province_code"] for r in chart_rows(guidance, stack["base"], followup)}
    assert len(provinces) >= 2
    # the items list pages on the server: a page of at most 10 rows and the count of all, both
    # under row-level security (a count is a query of its own and must not tell other provinces' numbers)
    assert _page_and_count(stack, guidance, items)[1] == _open_items(stack)
    for court_id, province in courts.items():
        session = login(stack, person(court_id))
        assert {r["province_code"] for r in chart_rows(session, stack["base"], followup)} <= {province}
        page, count = _page_and_count(stack, session, items)
        assert len({r["province_name"] for r in page}) <= 1, (court_id, page)
        assert count == _open_items(stack, province), court_id


def _page_and_count(stack, session, chart_id) -> tuple[list[dict], int]:
    page, count = chart_results(session, stack["base"], chart_id)
    assert len(page["data"]) == min(10, count["data"][0]["rowcount"])
    return page["data"], count["data"][0]["rowcount"]


def _open_items(stack, province: str | None = None) -> int:
    import duckdb

    with duckdb.connect(stack["profile"].serving_store(), read_only=True) as con:
        return con.execute("SELECT count(*) FROM alerts WHERE followup_state IN ('new', 'acknowledged', 'assigned', "
                           "'replied') AND province_code = coalesce(?, province_code)", [province]).fetchone()[0]


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
    from selenium.webdriver.common.by import By

    from testbed import browser as chromium

    browser = chromium.open_browser(tmp_path / "chrome")
    assets = dashboard_assets.build()
    try:
        chromium.sign_in(browser, stack["base"], "guidance-01", password(stack, "guidance-01"))
        for slug in SLUGS:
            spec = assets[f"dashboards/{slug}.yaml"]
            # an upper bound, not a timing (benchmarks/dashboards.py measures): late in the suite, on 2 cores
            chromium.draw(browser, stack["base"], slug, chromium.chart_count(spec), timeout=180)
            shot = tmp_path / f"{slug}.png"
            browser.save_screenshot(str(shot))
            assert browser.title == spec["dashboard_title"], (slug, browser.title)
            errors = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".ant-alert-error, .alert-danger")]
            assert not errors, (slug, errors)
            png = shot.read_bytes()
            assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000, (slug, len(png))  # a page, not a blank
    finally:
        browser.quit()


SUPERSET_ENGINE_PROBE = """
import sys
from superset.app import create_app
with create_app().app_context():
    from superset import db
    from superset.models.core import Database
    database = db.session.query(Database).filter_by(database_name="courtwatch").one()
    with database.get_sqla_engine() as engine, engine.connect() as con:
        print(con.exec_driver_sql("SELECT count(*) FROM court_metrics").scalar())
        for statement in sys.argv[1:]:
            try:
                con.exec_driver_sql(statement).fetchall()
                print("READ:", statement)
            except Exception as e:
                print("REFUSED:", type(e).__name__)
"""


def test_no_chart_reads_a_file_or_the_warehouse(stack):
    """The serving database as Superset itself opens it (its engine, its connect arguments) reads the
    store and refuses every file, the warehouse's Delta tables and any other database."""
    import subprocess

    bronze = Path(stack["ctx"].warehouse) / "bronze" / "hotline"
    attempts = ["SELECT * FROM read_text('/etc/hostname')", "SELECT * FROM read_csv('/etc/passwd')",
                f"SELECT count(*) FROM read_parquet('{bronze}/*/*.parquet')",
                f"ATTACH '{stack['root']}/other.duckdb' AS other", "SET enable_external_access = true",
                "INSTALL httpfs", "CREATE TABLE leak AS SELECT 1 AS x"]
    done = subprocess.run([str(superset.SUPERSET_VENV / "bin" / "python"), "-c", SUPERSET_ENGINE_PROBE, *attempts],
                          env=superset.environment(stack["profile"]), cwd=superset.ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert int(lines[-len(attempts) - 1]) > 0, "the store itself answers"
    assert all(line.startswith("REFUSED") for line in lines[-len(attempts):]), lines
    # and the chart data API, as a user would try it, gets no rows of a file either
    admin = login(stack, "admin")
    chart = next(c for c in listing(admin, stack["base"], "chart") if c["slice_name"] == "本院预警")
    qc = json.loads(admin.get(f"{stack['base']}/api/v1/chart/{chart['id']}", timeout=60).json()["result"]["query_context"])
    qc["queries"][0].update(columns=[{"expressionType": "SQL", "label": "x",
                                      "sqlExpression": "(SELECT content FROM read_text('/etc/hostname'))"}],
                            metrics=[], orderby=[])
    r = admin.post(f"{stack['base']}/api/v1/chart/data", json={**qc, "force": True}, timeout=120)
    assert r.status_code != 200, r.text[:300]


def test_a_publish_empties_the_results_cache(stack, spark):
    from courtwatch import pipeline
    from tests.conftest import TEST_KEY

    admin = login(stack, "admin")
    chart = next(c for c in listing(admin, stack["base"], "chart") if c["slice_name"] == "全国本月与上月")

    def cached() -> bool:
        r = admin.get(f"{stack['base']}/api/v1/chart/{chart['id']}/data/", timeout=120)
        r.raise_for_status()
        return r.json()["result"][0]["is_cached"]

    cached()
    assert cached(), "a second request is answered from the results cache"
    ctx = pipeline.RunContext.of(spark, stack["profile"], hash_key=TEST_KEY)
    pipeline.run(ctx, (pipeline.step("publish"),))
    assert cached(), "a publish from the same inputs makes no new store, so the cached answers stand"
    # a new version of an input (a commit that changes no row, so the other tests' store is unchanged)
    spark.sql(f"ALTER TABLE delta.`{stack['ctx'].warehouse}/gold/court_metrics` "
              "SET TBLPROPERTIES ('test.touched' = 'yes')")
    pipeline.run(ctx, (pipeline.step("publish"),))
    assert not cached(), "after a publish the chart is computed again, from the new store"


def test_analysts_query_the_warehouse_in_sql_lab(stack):
    analyst = login(stack, "analyst-01")
    database = next(d for d in listing(analyst, stack["base"], "database")
                    if d["database_name"] == dashboard_assets.WAREHOUSE_DATABASE)
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
    r = login(stack, person(court)).post(f"{stack['base']}/api/v1/sqllab/execute/", json=statement, timeout=300)
    assert r.status_code in (401, 403), r.status_code


def test_the_postgresql_option_serves_the_same_dashboards(stack, postgres, monkeypatch):
    """The store copied into a real PostgreSQL (tables, indexes, one swap), and Superset on it:
    every chart answers as it does from DuckDB."""
    import threading

    import psycopg

    from jobs.serving import postgres_store

    store = stack["ctx"].serving_store
    rows = postgres_store.copy_store(store, postgres)
    with psycopg.connect(postgres) as pg:
        tables = {r[0] for r in pg.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'serving'")}
        indexes = {r[0] for r in pg.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'serving'")}
    assert tables == {name.split(".")[1] for name in rows} and rows["serving.court_metrics"] > 0
    assert {"court_metrics_0", "court_metrics_1", "alerts_0"} <= indexes
    # a reader during the next copy sees the whole of one store or the other, never an error
    errors, done = [], threading.Event()

    def read():
        with psycopg.connect(postgres, autocommit=True) as pg:
            while not done.is_set():
                try:
                    n = pg.execute("SELECT count(*) FROM serving.court_metrics").fetchone()[0]
                    assert n == rows["serving.court_metrics"], n
                except Exception as e:  # noqa: BLE001 - every failure of a reader is the finding
                    errors.append(repr(e))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        postgres_store.copy_store(store, postgres)
    finally:
        done.set()
        reader.join()
    assert not errors, errors[:3]

    admin = login(stack, "admin")
    before = {c["slice_name"]: len(chart_rows(admin, stack["base"], c["id"]))
              for c in listing(admin, stack["base"], "chart")}
    monkeypatch.setenv("COURTWATCH_SERVING_DSN", postgres)
    on_postgres = stack["profile"].model_copy(update={"serving": stack["profile"].serving.model_copy(
        update={"store": "postgres"})})
    superset.apply(on_postgres)
    try:
        database = next(d for d in listing(admin, stack["base"], "database")
                        if d["database_name"] == dashboard_assets.DATABASE_NAME)
        assert database["backend"] == "postgresql"
        after = {c["slice_name"]: len(chart_rows(admin, stack["base"], c["id"]))
                 for c in listing(admin, stack["base"], "chart")}
        assert after == before
    finally:
        superset.apply(stack["profile"])
