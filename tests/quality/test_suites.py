"""The Great Expectations suites: silver as landed passes them; a row the record
rules should have stopped fails its expectation, with its count and examples,
and the run's results are stored for the feed-health dashboard."""
from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from quality import suites
from schemas import contract
from courtwatch.settings import load_profile
from tests import handmade as L
from tests.conftest import TEST_KEY, table

pytestmark = pytest.mark.integration


def _by_check(rows):
    return {(r["expectation"], r["column"]): r for r in rows}


def test_silver_passes_and_a_slipped_row_fails_with_examples(spark, landing, warehouse, run):
    landing.batch("cases", "B110001", "2026-03-02", [L.case(f"Q{i}") for i in range(5)])
    run(landing, warehouse, steps=("ingest", "quality"))
    silver = table(spark, warehouse, "silver/cases")

    passed = suites.validate(silver, contract("cases"))
    assert passed and all(r["success"] for r in passed)
    assert {r["element_count"] for r in passed} == {5}
    assert {r["unexpected_count"] for r in passed} == {0}

    slipped = silver.withColumn("filing_channel",
                                F.when(F.col("case_id") == "Q3", F.lit("fax")).otherwise(F.col("filing_channel")))
    checks = _by_check(suites.validate(slipped, contract("cases")))
    failed = [k for k, r in checks.items() if not r["success"]]
    assert failed == [("expect_column_values_to_be_in_set", "filing_channel")]
    bad = checks[failed[0]]
    assert bad["unexpected_count"] == 1
    assert '"fax"' in bad["details"]  # examples are fetched for a failing suite

    stored = table(spark, warehouse, "ops/quality_results").where("source = 'cases'").collect()
    assert stored and all(r["success"] and r["element_count"] == 5 for r in stored)


@pytest.mark.parametrize("how", ["one run", "step by step"])
def test_the_gate_stops_the_run_before_gold(spark, landing, warehouse, monkeypatch, how):
    """A row the record rules let through that the contract rejects (a record-rule bug,
    injected here) stops the run at the quality step, as `courtwatch run` runs it and
    as the DAG does (each step a run of its own): no gold, nothing of it in silver, and
    the runs that landed the rows recorded as failed, so the next run takes the batch again."""
    from courtwatch import pipeline
    from jobs.silver import upsert
    from schemas.warehouse import table as declared
    from tests.conftest import run_pipeline

    real = upsert.to_silver_rows

    def slipping(valid, contract, hash_key):
        rows = real(valid, contract, hash_key)
        return rows.withColumn("filing_channel", F.lit("fax")) if contract.source == "cases" else rows

    def run():
        if how == "one run":
            return run_pipeline(spark, landing, warehouse)
        ctx = pipeline.RunContext.of(spark, load_profile("test"), landing=str(landing.root), warehouse=warehouse,
                                     hash_key=TEST_KEY)
        for name in pipeline.STEP_NAMES:
            pipeline.run(ctx, (pipeline.step(name),))
        return ctx

    monkeypatch.setattr(upsert, "to_silver_rows", slipping)
    landing.batch("cases", "B110001", "2026-03-02", [L.case("Q1"), L.case("Q2")])
    with pytest.raises(suites.QualityGateFailed, match=r"cases\.filing_channel expect_column_values_to_be_in_set"):
        run()
    assert not declared("gold.court_metrics").exists(spark, warehouse)
    assert declared("silver.cases").read(spark, warehouse).count() == 0  # nothing the suite rejects
    runs = {r["summary"].split(":")[0]: r["status"] for r in declared("ops.runs").read(spark, warehouse).collect()}
    assert runs.pop("step quality failed") == "failed", runs
    if how == "step by step":  # the run that landed the rows fails too; pull's, which landed none, stands
        assert runs == {"step ingest": "failed", "step pull": "succeeded"}, runs

    monkeypatch.setattr(upsert, "to_silver_rows", real)  # the rule mended: the batch is taken again
    again = run()
    assert again.landed.count("accepted") == 1 and again.gold_as_of is not None
    assert {r["filing_channel"] for r in declared("silver.cases").read(spark, warehouse).collect()} == {"counter"}
