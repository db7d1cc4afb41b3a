"""The Great Expectations suites: silver as landed passes them; a row the record
rules should have stopped fails its expectation, with its count and examples,
and the run's results are stored for the feed-health dashboard."""
from __future__ import annotations

from pyspark.sql import functions as F

from quality import suites
from schemas import contract
from tests import landing as L
from tests.conftest import table


def _by_check(rows):
    return {(r["expectation"], r["column"]): r for r in rows}


def test_silver_passes_and_a_slipped_row_fails_with_examples(spark, landing, warehouse, run):
    landing.batch("cases", "B110001", "2026-03-02", [L.case(f"Q{i}") for i in range(5)])
    run(landing, warehouse)
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
