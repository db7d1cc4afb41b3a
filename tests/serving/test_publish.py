"""The serving store as the pipeline's publish step writes it: what it holds, what it never holds,
and that a reader always finds one whole store.

The suite's generated warehouse (tiny profile, with personal fields in every source; tests/conftest.py
`generated`) run through the whole pipeline, publish included.
"""
from __future__ import annotations

import json
import threading
import duckdb
import pytest

from jobs.serving import publish
from schemas import SOURCES, contract
from schemas.warehouse import serving_tables
from tests.conftest import table

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def published(generated):
    return {"warehouse": generated.warehouse, "store": generated.serving_store, "as_of": generated.gold_as_of,
            "loop": generated.loop}


def _tables(con) -> dict[str, list[tuple[str, str]]]:
    rows = con.execute("SELECT table_name, column_name, data_type FROM duckdb_columns() "
                       "WHERE database_name = current_database() ORDER BY table_name, column_index").fetchall()
    out: dict[str, list] = {}
    for t, c, kind in rows:
        out.setdefault(t, []).append((c, kind))
    return out


def test_the_store_holds_the_declared_tables_and_nothing_else(published):
    con = duckdb.connect(published["store"], read_only=True)
    found = _tables(con)
    declared = {t.short_name: [c.name for c in t.columns] for t in serving_tables()}
    assert {t: [c for c, _ in cols] for t, cols in found.items()} == declared
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in found}
    assert all(counts[t] > 0 for t in ("court_metrics", "region_metrics", "breakdowns", "feed_daily", "courts"))
    publication = con.execute("SELECT gold_as_of, table_rows, run_id FROM publication").fetchall()
    assert len(publication) == 1 and publication[0][0] == published["as_of"]
    assert publication[0][1] == sum(n for t, n in counts.items() if t != "publication") and publication[0][2]


def test_no_personal_value_no_hash_and_no_record_reaches_the_store(spark, published):
    """Neither a personal field's value nor its keyed hash, nor any record's id, is anywhere in the store."""
    wh = published["warehouse"]
    secret: set[str] = set()
    ids: set[str] = set()
    def values(v) -> list:
        return list(v) if isinstance(v, (list, tuple)) or hasattr(v, "tolist") else [v]

    for source in SOURCES:
        c = contract(source)
        received = [json.loads(line) for line in table(spark, wh, f"bronze/{source}").toPandas()["record"]]
        silver = table(spark, wh, f"silver/{source}").toPandas()
        for f in c.personal:
            for record in received:
                if record.get(f.name) is not None:
                    secret.update(values(record[f.name]))
            for v in silver[f.silver_name].dropna():
                secret.update(values(v))
        ids.update(silver[c.key].dropna())
    secret = {str(s) for s in secret if str(s)}
    assert len(secret) > 100 and len(ids) > 100  # the generated data carries both
    con = duckdb.connect(published["store"], read_only=True)
    personal_names = {f.name for s in SOURCES for f in contract(s).personal}
    for t, cols in _tables(con).items():
        assert not {c for c, _ in cols} & (personal_names | {f"{n}_hash" for n in personal_names}), t
        for column, kind in cols:
            if kind != "VARCHAR":
                continue
            values = {v for (v,) in con.execute(f"SELECT DISTINCT {column} FROM {t}").fetchall() if v}
            assert not values & secret, f"{t}.{column} holds personal data"
            assert not values & ids, f"{t}.{column} holds record ids: the store is aggregates"


def test_every_code_is_shown_in_chinese(published):
    con = duckdb.connect(published["store"], read_only=True)
    for t, column in [("alerts", "kind_name"), ("alerts", "status_name"), ("alerts", "severity_name"),
                      ("feed_daily", "status_name"), ("feed_daily", "source_name"), ("courts", "court_level"),
                      ("breakdowns", "member"), ("breakdowns", "breakdown_name"), ("court_metrics", "metric_name"), ("indicator_status", "status")]:
        values = {v for (v,) in con.execute(f"SELECT DISTINCT {column} FROM {t}").fetchall() if v is not None}
        assert values, (t, column)
        assert all(any("\u4e00" <= ch <= "\u9fff" for ch in v) for v in values), (t, column, values)
    # reasons are named only where there is one
    assert con.execute("SELECT count(*) FROM feed_daily WHERE reason IS NOT NULL AND reason_name IS NULL").fetchone()[0] == 0


def test_the_alerts_carry_their_follow_up_and_the_provinces_figures(spark, published):
    """The loop's actions (tests/conftest.py take_up_two_alerts), copied by the next run, reach the
    alerts (state, overdue, a link to the alert's page) and the province's monthly figures."""
    con = duckdb.connect(published["store"], read_only=True)
    closed, overdue = published["loop"]["closed"], published["loop"]["overdue"]
    rows = {r[0]: r[1:] for r in con.execute(
        "SELECT alert_id, followup_state, followup_state_name, overdue, overdue_reason, label_name, page_link, "
        "high_court_id FROM alerts").fetchall()}
    assert rows[closed][:5] == ("closed", "已办结", False, None, "属实")
    assert rows[overdue][:4] == ("assigned", "督办中", True, "未按期反馈")
    assert f'href="http://127.0.0.1:8090/alerts/{closed}"' in rows[closed][5]
    others = [r for a, r in rows.items() if a not in (closed, overdue)]
    assert others and all(r[0] == "new" and r[1] == "待签收" for r in others)
    figures = con.execute("SELECT high_court_id, sum(alerts_received), sum(labelled), max(precision), sum(overdue) "
                          "FROM guidance_followup GROUP BY ALL").fetchall()
    assert sum(f[1] for f in figures) == len(rows)
    mine = {f[0]: f[2:] for f in figures}[rows[closed][6]]
    assert mine[:2] == (1, 1.0)
    assert sum(f[4] for f in figures) == 1  # the overdue one (the others arrived today)
    causes = con.execute("SELECT count(*), count(DISTINCT alert_id) FROM alert_causes").fetchone()
    assert causes == (table(spark, published["warehouse"], "gold/alert_causes").count(),
                      table(spark, published["warehouse"], "gold/alert_causes").select("alert_id").distinct().count())


def test_a_reader_never_sees_a_half_published_store(published, tmp_path):
    """Publish over and over while readers open the store as Superset does (a new read-only
    connection per query): each finds one whole store, never an error or a partial table."""
    store = str(tmp_path / "serving" / "courtwatch.duckdb")
    publish.publish(published["warehouse"], store)
    seen, errors, done = [], [], threading.Event()

    def read():
        while not done.is_set():
            try:
                con = duckdb.connect(store, read_only=True)
                try:
                    total = sum(con.execute(f"SELECT count(*) FROM {t.short_name}").fetchone()[0]
                                for t in serving_tables() if t.query is not None)
                    expected, at = con.execute("SELECT table_rows, published_at FROM publication").fetchone()
                finally:
                    con.close()
                assert total == expected, f"read {total} rows of a store that holds {expected}"
                seen.append(at)
            except Exception as e:  # noqa: BLE001 - every failure of a reader is the finding
                errors.append(repr(e))

    readers = [threading.Thread(target=read) for _ in range(2)]
    for r in readers:
        r.start()
    try:
        for _ in range(4):
            publish.publish(published["warehouse"], store)
    finally:
        done.set()
        for r in readers:
            r.join()
    assert not errors, errors[:3]
    assert len(set(seen)) >= 2, "the readers should have read more than one publication"
    assert not list((tmp_path / "serving").glob(".*building*")), "a finished publish leaves no partial file"


def test_a_failed_publish_leaves_the_store_as_it_was(published, tmp_path, monkeypatch):
    store = tmp_path / "serving" / "courtwatch.duckdb"
    publish.publish(published["warehouse"], str(store))
    before = store.read_bytes()

    def broken(con, t):
        raise RuntimeError("disk full")

    monkeypatch.setattr(publish, "_fill", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        publish.publish(published["warehouse"], str(store))
    assert store.read_bytes() == before
    assert not list(store.parent.glob(".*building*"))


def test_breakdowns_add_up_to_their_measures(spark, published):
    """Each breakdown splits its measures: summed over its values, it is the daily measure."""
    from pyspark.sql import functions as F

    wh = published["warehouse"]
    parts = table(spark, wh, "work/daily_breakdowns").groupBy("court_id", "date", "breakdown", "measure") \
        .agg(F.sum("value").alias("split"))
    whole = table(spark, wh, "work/daily_measures")
    joined = parts.join(whole, ["court_id", "date", "measure"], "left")
    assert parts.count() > 0
    assert joined.where("value IS NULL OR abs(split - value) > 1e-6").count() == 0
    # and one straight from silver: calls per court, day and category
    calls = spark.sql(f"SELECT court_id, to_date(call_start) AS date, category AS member, count(*) AS n "
                      f"FROM delta.`{wh}/silver/hotline` GROUP BY ALL")
    split = table(spark, wh, "work/daily_breakdowns").where("breakdown = 'category' AND measure = 'calls'")
    diff = calls.join(split, ["court_id", "date", "member"], "full").where("n IS NULL OR value IS NULL OR n != value")
    assert diff.count() == 0


def test_a_store_brought_up_to_date_equals_one_made_whole(spark, published, tmp_path):
    """A publish over an earlier store remakes only the court-days whose rows changed (a late correction
    of one day's filings and its breakdown here), sets a province's changed figures in place on its
    courts' rows, and holds exactly what a store made whole holds."""
    import shutil

    wh = str(tmp_path / "warehouse")
    shutil.copytree(published["warehouse"], wh)
    store, where = str(tmp_path / "serving" / "courtwatch.duckdb"), {"kind": "duckdb", "schema": None}
    before = publish.inputs(spark, wh, None, where)
    publish.publish(wh, store, spark)
    day = table(spark, wh, "gold/court_metrics").where("period = 'day'").agg({"period_start": "max"}).first()[0]
    filed = f"period = 'day' AND period_start = DATE'{day}' AND metric_id = 'case_filed'"
    spark.sql(f"UPDATE delta.`{wh}/gold/court_metrics` SET value = value + 1000 WHERE {filed}")
    filing_courts = sorted(r[0] for r in table(spark, wh, "gold/court_metrics").where(filed).select("court_id").collect())
    province = table(spark, wh, "silver/courts").where("level = 'HIGH'").agg({"court_id": "min"}).first()[0]
    spark.sql(f"UPDATE delta.`{wh}/gold/region_metrics` SET value = value + 1000 "
              f"WHERE region_id = '{province}' AND {filed}")
    corrected = f"date = DATE'{day}' AND breakdown = 'case_type' AND measure = 'filed'"
    spark.sql(f"UPDATE delta.`{wh}/work/daily_breakdowns` SET value = value + 1000 WHERE {corrected}")
    courts = sorted(r[0] for r in table(spark, wh, "work/daily_breakdowns").where(corrected)
                    .select("court_id").distinct().collect())
    now = publish.inputs(spark, wh, None, where)
    assert courts and publish.changed_values(spark, wh, before, now) == {
        "serving.court_metrics": publish.Changed([(c, "day", day) for c in filing_courts],
                                                 [(province, "day", day, "case_filed")]),
        "serving.breakdowns": publish.Changed([(c, day) for c in courts])}
    assert publish.publish(wh, store, spark, before=before, now=now).refreshed
    publish.publish(wh, str(tmp_path / "whole" / "courtwatch.duckdb"), spark)

    con = duckdb.connect(store, read_only=True)
    con.execute(f"ATTACH '{tmp_path / 'whole' / 'courtwatch.duckdb'}' AS whole (READ_ONLY)")
    for t in serving_tables():
        if t.query is None:
            continue  # the publication row: when, by which run
        for a, b in ((t.short_name, f"whole.{t.short_name}"), (f"whole.{t.short_name}", t.short_name)):
            assert con.execute(f"SELECT count(*) FROM (FROM {a} EXCEPT ALL FROM {b})").fetchone() == (0,), t.name
    assert con.execute(f"SELECT min(value) FROM court_metrics WHERE {filed}").fetchone()[0] >= 1000
    assert con.execute(f"SELECT min(region_value) FROM court_metrics c JOIN courts h ON h.province_code = c.province_code "
                       f"WHERE h.court_id = '{province}' AND {filed}").fetchone()[0] >= 1000
