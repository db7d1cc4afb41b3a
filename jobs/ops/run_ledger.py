"""Runs: each pipeline run is recorded, and a run that died half-way is undone.

Every row a run appends to an append-only table (bronze, quarantine, the
ledger) carries its `_run_id`. A run that did not finish is rolled back at the
start of the next one, which then takes the same batches again. Silver and gold
are idempotent by construction (MERGE on keys, version watermarks), so they
need no undoing.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from schemas.warehouse import Table, table, tables

RUNS = table("ops.runs")


def append_only_tables() -> list[Table]:
    """The tables declared append-only: their rows carry the `_run_id` that wrote them."""
    return [t for t in tables().values() if t.append_only]


def now() -> datetime:
    return datetime.now(timezone.utc)


def start(spark: SparkSession, warehouse: str) -> str:
    RUNS.create_if_missing(spark, warehouse)
    runs = RUNS.read(spark, warehouse)
    unfinished = [r["run_id"] for r in runs.where("status in ('running', 'failed')").select("run_id").collect()]
    if unfinished:
        for t in append_only_tables():
            if t.exists(spark, warehouse):
                t.delta_table(spark, warehouse).delete(F.col("_run_id").isin(unfinished))
        RUNS.delta_table(spark, warehouse).update(F.col("run_id").isin(unfinished), {"status": F.lit("rolled_back")})
    run_id = now().strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    RUNS.append_rows(spark, [(run_id, "running", now(), None, None, None)], warehouse)
    return run_id


def fail_since(spark: SparkSession, warehouse: str, since: datetime) -> None:
    """Mark the runs that succeeded since `since` as failed, so that the next run rolls them back
    and takes their batches again (a quality gate that failed after they landed)."""
    RUNS.delta_table(spark, warehouse).update(
        (F.col("started_at") >= F.lit(since)) & (F.col("status") == "succeeded"), {"status": F.lit("failed")})


def finish(spark: SparkSession, warehouse: str, run_id: str, status: str, as_of=None, summary: str = "") -> None:
    RUNS.delta_table(spark, warehouse).update(
        F.col("run_id") == run_id,
        {"status": F.lit(status), "finished_at": F.current_timestamp(),
         "as_of": F.lit(as_of).cast("date"), "summary": F.lit(summary)},
    )
