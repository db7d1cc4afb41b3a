"""Runs: each pipeline run is recorded, and a run that died half-way is undone.

Every row a run appends to an append-only table (bronze, quarantine, the
ledger) carries its `_run_id`. A run that did not finish is rolled back at the
start of the next one, which then takes the same batches again. Silver and gold
are idempotent by construction (MERGE on keys, version watermarks), so they
need no undoing.
"""
from __future__ import annotations

import threading
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


_STARTED: dict[str, datetime] = {}  # the runs of this process: when each started ...
_RECORDED: set[str] = set()  # ... and those whose "running" row is in ops/runs
_RECORDING = threading.Lock()


def start(spark: SparkSession, warehouse: str) -> str:
    """Undo the runs that did not finish; a new run's id. Its row goes into ops/runs when it first
    writes to an append-only table (`writing`), else once, when it finishes: a run with nothing
    new commits only its record."""
    RUNS.create_if_missing(spark, warehouse)
    runs = RUNS.read(spark, warehouse)
    unfinished = [r["run_id"] for r in runs.where("status in ('running', 'failed')").select("run_id").collect()]
    if unfinished:
        for t in append_only_tables():
            if t.exists(spark, warehouse):
                t.delta_table(spark, warehouse).delete(F.col("_run_id").isin(unfinished))
        RUNS.delta_table(spark, warehouse).update(F.col("run_id").isin(unfinished), {"status": F.lit("rolled_back")})
    run_id = now().strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    _STARTED[run_id] = now()
    return run_id


def writing(spark: SparkSession, warehouse: str, run_id: str) -> None:
    """Record the run as running before its first append-only row: if it dies, the next run
    finds it and deletes the rows it appended."""
    with _RECORDING:  # the sources of a step write side by side: one row, by the first of them
        if run_id not in _RECORDED:
            RUNS.append_rows(spark, [(run_id, "running", _STARTED.get(run_id, now()), None, None, None)], warehouse)
            _RECORDED.add(run_id)


def fail(spark: SparkSession, warehouse: str, run_ids: list[str]) -> None:
    """Mark these runs failed where they succeeded, so that the next run rolls them back and takes
    their batches again (the quality gate failed on rows they landed)."""
    if run_ids:
        RUNS.delta_table(spark, warehouse).update(
            F.col("run_id").isin(run_ids) & (F.col("status") == "succeeded"), {"status": F.lit("failed")})


def finish(spark: SparkSession, warehouse: str, run_id: str, status: str, as_of=None, summary: str = "") -> None:
    started = _STARTED.pop(run_id, None)
    if run_id not in _RECORDED:
        RUNS.append_rows(spark, [(run_id, status, started or now(), now(), as_of, summary)], warehouse)
        return
    _RECORDED.discard(run_id)
    RUNS.delta_table(spark, warehouse).update(
        F.col("run_id") == run_id,
        {"status": F.lit(status), "finished_at": F.current_timestamp(),
         "as_of": F.lit(as_of).cast("date"), "summary": F.lit(summary)},
    )
