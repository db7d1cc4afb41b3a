"""Gold equals an independent computation from the contract, on generated data
with late, duplicate and out-of-order records and faults; and a run that
brings new batches (late updates to old cases included) ends where a full
recomputation does."""
from __future__ import annotations

from datetime import date

import pytest

from tests.conftest import run_pipeline as run
from tests.conftest import table
from tests.gold import oracle

pytestmark = pytest.mark.integration
GOLD = ("ingest", "quality", "metrics")  # what the oracle checks is gold: no alerts needed

START, DAYS, SPLIT = date(2026, 9, 1), 16, date(2026, 9, 9)


@pytest.fixture(scope="module")
def warehouses(spark, tmp_path_factory):
    from testbed.generate.landing_zone import generate

    root = tmp_path_factory.mktemp("oracle")
    land = str(root / "landing")
    # first the days before SPLIT, then the rest: the second run brings late updates
    generate("tiny", land, START, (SPLIT - START).days, seed=11, fault_share=0.03)
    inc = str(root / "incremental")
    run(spark, land, inc, steps=GOLD)
    generate("tiny", land, START, DAYS, seed=11, fault_share=0.03, write_from=SPLIT)
    run(spark, land, inc, steps=GOLD)
    full = str(root / "full")
    run(spark, land, full, steps=GOLD)
    return inc, full


def _expected(spark, wh):
    import pandas as pd

    courts = table(spark, wh, "silver/courts").toPandas()
    ledger = table(spark, wh, "ops/batches").where("status = 'accepted'").toPandas()
    first, as_of = ledger["business_date"].min(), ledger["business_date"].max()
    court_rows = oracle.court_metrics(
        table(spark, wh, "silver/cases").toPandas(), table(spark, wh, "silver/hotline").toPandas(),
        table(spark, wh, "silver/mediation").toPandas(), courts["court_id"].tolist(), first, as_of)
    court_rows["period_start"] = pd.to_datetime(court_rows["period_start"]).dt.date
    regions = oracle.region_metrics(court_rows, dict(zip(courts["court_id"], courts["high_court_id"])))
    return court_rows, regions


def _gold(spark, wh, name):
    df = table(spark, wh, name).toPandas()
    return df


def test_incremental_run_took_late_updates(spark, warehouses):
    inc, _ = warehouses
    late = table(spark, inc, "silver/cases").where("to_date(updated_at) < _business_date").count()
    assert late > 0, "the generated data should carry late records"


@pytest.mark.parametrize("which", ["incremental", "full"])
def test_court_and_region_metrics_match_the_contract(spark, warehouses, which):
    wh = warehouses[0] if which == "incremental" else warehouses[1]
    expected_courts, expected_regions = _expected(spark, wh)
    oracle.assert_frames_agree(_gold(spark, wh, "gold/court_metrics"), expected_courts,
                               ["court_id", "period", "period_start", "metric_id"])
    oracle.assert_frames_agree(_gold(spark, wh, "gold/region_metrics"), expected_regions,
                               ["region_id", "region_level", "period", "period_start", "metric_id"])


def test_incremental_equals_full(spark, warehouses):
    inc, full = warehouses
    for name in ("gold/court_metrics", "gold/region_metrics", "work/daily_measures", "work/daily_breakdowns"):
        a, b = table(spark, inc, name), table(spark, full, name)
        assert a.count() == b.count(), name
        assert a.exceptAll(b).count() == 0 and b.exceptAll(a).count() == 0, name


def test_full_refresh_changes_no_value(spark, warehouses, tmp_path):
    import shutil

    from jobs.gold import metrics

    inc = str(tmp_path / "incremental")  # a copy: the other tests see the warehouse as built
    shutil.copytree(warehouses[0], inc)
    before = table(spark, inc, "gold/court_metrics").toPandas()
    metrics.refresh(spark, inc, full_refresh=True)
    after = table(spark, inc, "gold/court_metrics").toPandas()
    oracle.assert_frames_agree(after, before, ["court_id", "period", "period_start", "metric_id"], rel=0)


def test_a_recomputed_row_that_did_not_change_is_not_rewritten(spark, warehouses):
    """The incremental run recomputes whole spans of days but updates only the rows whose values
    moved: its change feed (what the region roll-up and the serving store redo) has no update whose
    new values equal the old."""
    inc, _ = warehouses
    for name, key in (("gold/court_metrics", ["court_id"]), ("gold/region_metrics", ["region_id", "region_level"])):
        feed = (spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", 1)
                .load(f"{inc}/{name}"))
        row = [*key, "period", "period_start", "metric_id", "value", "numerator", "denominator", "_commit_version"]
        old = feed.where("_change_type = 'update_preimage'").select(*row)
        new = feed.where("_change_type = 'update_postimage'").select(*row)
        assert new.count() > 0, f"{name}: the late updates should change some values"
        assert new.intersect(old).count() == 0, f"{name}: rows rewritten with the values they had"
