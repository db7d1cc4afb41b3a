"""Records are upserts: per key the greatest updated_at wins, whatever the arrival order."""
from __future__ import annotations

import pytest

from tests import handmade as L
from tests.conftest import table

pytestmark = pytest.mark.integration


SILVER_ONLY = ("ingest", "quality")  # what these tests read is silver and quarantine


def _silver(spark, wh, source="cases", key="case_id"):
    return {r[key]: r for r in table(spark, wh, f"silver/{source}").collect()}


def test_upsert_ordering_across_runs(spark, landing, warehouse, run):
    at = lambda h: f"2026-03-02T{h}:00:00+08:00"  # noqa: E731
    landing.batch("cases", "B110001", "2026-03-02", [
        L.case("K1", updated_at=at("09")),
        # two versions in one batch: the later updated_at wins, wherever it stands
        L.case("K2", updated_at=at("11"), filing_channel="online"),
        L.case("K2", updated_at=at("10"), filing_channel="mobile"),
    ])
    run(landing, warehouse, steps=SILVER_ONLY)
    s = _silver(spark, warehouse)
    assert s["K2"]["filing_channel"] == "online"

    landing.batch("cases", "B110001", "2026-03-03", [
        L.case("K1", updated_at=at("12"), closed_date="2026-03-03", closing_method="judgment"),
        L.case("K2", updated_at=at("08"), filing_channel="counter"),  # older, arriving late
    ])
    run(landing, warehouse, steps=SILVER_ONLY)
    s = _silver(spark, warehouse)
    assert str(s["K1"]["closed_date"]) == "2026-03-03"
    assert s["K2"]["filing_channel"] == "online"

    landing.batch("cases", "B110001", "2026-03-04", [
        L.case("K1", updated_at=at("09")),  # the first version again: older, changes nothing
        L.case("K1", updated_at=at("12"), closed_date="2026-03-03", closing_method="judgment"),  # exact duplicate
        L.case("K2", updated_at=at("11"), filing_channel="cross_region"),  # a tie: the later batch wins
        # a newer version that is invalid: quarantined, silver keeps the valid one
        L.case("K1", updated_at=at("23"), closed_date="2026-02-01", closing_method="judgment"),
    ])
    run(landing, warehouse, steps=SILVER_ONLY)
    s = _silver(spark, warehouse)
    assert str(s["K1"]["closed_date"]) == "2026-03-03" and s["K1"]["_batch_id"] == "C20260303"
    assert s["K2"]["filing_channel"] == "cross_region"
    assert table(spark, warehouse, "ops/quarantine").where("rule = 'not_before:closed_date:filed_date'").count() == 1
    assert table(spark, warehouse, "silver/cases").count() == 2


def test_defaults_and_late_entities(spark, landing, warehouse, run):
    # a batch of a later business date carrying a case filed months earlier
    landing.batch("cases", "B110001", "2026-03-02", [L.case("E1")])
    landing.batch("cases", "B110001", "2026-03-03", [L.case("OLD", filed_date="2025-10-01",
                                                            updated_at="2025-10-01T09:00:00+08:00")])
    run(landing, warehouse, steps=SILVER_ONLY)
    s = _silver(spark, warehouse)
    assert s["E1"]["extension_days"] == 0 and s["E1"]["suspended_days"] == 0
    assert str(s["OLD"]["filed_date"]) == "2025-10-01"


def test_crash_then_rerun(spark, tmp_path, run, monkeypatch):
    """A run killed half-way leaves consistent tables; the next run completes the work."""
    from jobs.silver import upsert

    def make(root):
        land = L.Landing(root)
        land.batch("cases", "B110001", "2026-03-02", [L.case("C1"), L.case("C2", case_type="bogus")])
        land.batch("hotline", "B110001", "2026-03-02", [L.call("H1")])
        land.batch("mediation", "B110001", "2026-03-02", [L.mediation("M1")])
        return land

    crashed, clean = make(tmp_path / "a"), make(tmp_path / "b")
    wh_crashed, wh_clean = str(tmp_path / "wa"), str(tmp_path / "wb")
    real_merge = upsert.merge

    def dying_merge(spark_, warehouse_, rows, contract, **kw):
        if contract.source == "hotline":
            raise RuntimeError("killed")
        return real_merge(spark_, warehouse_, rows, contract, **kw)

    monkeypatch.setattr(upsert, "merge", dying_merge)
    with pytest.raises(RuntimeError, match="killed"):
        run(crashed, wh_crashed)
    monkeypatch.setattr(upsert, "merge", real_merge)
    run(crashed, wh_crashed)
    run(clean, wh_clean)
    for name in ("bronze/cases", "bronze/hotline", "silver/cases", "silver/hotline", "silver/mediation",
                 "ops/quarantine", "gold/court_metrics", "gold/region_metrics"):
        a = table(spark, wh_crashed, name)
        b = table(spark, wh_clean, name)
        drop = [c for c in a.columns if c in ("_run_id", "_ingested_at", "ingested_at", "quarantined_at",
                                                "source_file")]
        a, b = a.drop(*drop), b.drop(*drop)
        assert a.count() == b.count(), name
        assert a.exceptAll(b).count() == 0, name
    statuses = [r["status"] for r in table(spark, wh_crashed, "ops/batches").collect()]
    assert sorted(statuses) == ["accepted"] * 3


def test_bronze_from_before_the_change_feed_is_taken_as_merged(spark, landing, warehouse, run, monkeypatch):
    """A warehouse an earlier courtwatch wrote (its ingestion merged into silver itself): bronze
    has no change data feed, silver no bronze version. The intake takes what lands from then on,
    also when the first run lands nothing (the national benchmark's bring-forward run failed so)."""
    from jobs.silver import intake

    landing.batch("cases", "B110001", "2026-03-02", [L.case("OLD")])
    run(landing, warehouse, steps=("ingest",))  # bronze as the old ingestion left it: its rows in silver
    spark.sql(f"ALTER TABLE delta.`{warehouse}/bronze/cases` SET TBLPROPERTIES ('delta.enableChangeDataFeed' = 'false')")
    monkeypatch.setattr(intake, "_READY", set())  # a new process: the old bronze not seen yet

    run(landing, warehouse, steps=("quality",))  # nothing landed since: nothing taken, no failure
    assert not table(spark, warehouse, "silver/cases").count()
    landing.batch("cases", "B110001", "2026-03-04", [L.case("NEW")])
    run(landing, warehouse, steps=SILVER_ONLY)
    assert set(_silver(spark, warehouse)) == {"NEW"}
