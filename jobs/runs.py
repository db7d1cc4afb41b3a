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

from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from courtwatch import tables
from jobs import delta_io
from schemas import SOURCES

SCHEMA = T.StructType([
    T.StructField("run_id", T.StringType()),
    T.StructField("status", T.StringType()),  # running | succeeded | failed | rolled_back
    T.StructField("started_at", T.TimestampType()),
    T.StructField("finished_at", T.TimestampType()),
    T.StructField("as_of", T.DateType()),
    T.StructField("summary", T.StringType()),
])


def append_only_tables(warehouse: str) -> list[str]:
    paths = [tables.table_path(warehouse, tables.BRONZE, source=s) for s in SOURCES]
    paths += [tables.table_path(warehouse, t) for t in
              (tables.QUARANTINE, tables.BATCHES, tables.REJECTED, tables.QUALITY)]
    return paths


def now() -> datetime:
    return datetime.now(timezone.utc)


def start(spark: SparkSession, warehouse: str) -> str:
    runs_path = tables.table_path(warehouse, tables.RUNS)
    delta_io.create_if_missing(spark, runs_path, SCHEMA)
    runs = delta_io.read(spark, runs_path)
    unfinished = [r["run_id"] for r in runs.where("status in ('running', 'failed')").select("run_id").collect()]
    if unfinished:
        for path in append_only_tables(warehouse):
            if delta_io.exists(spark, path):
                spark.sql(f"DELETE FROM delta.`{path}` WHERE _run_id IN ({', '.join(repr(r) for r in unfinished)})")
        DeltaTable.forPath(spark, runs_path).update(F.col("run_id").isin(unfinished), {"status": F.lit("rolled_back")})
    run_id = now().strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    spark.createDataFrame([(run_id, "running", now(), None, None, None)], SCHEMA) \
        .write.format("delta").mode("append").save(runs_path)
    return run_id


def finish(spark: SparkSession, warehouse: str, run_id: str, status: str, as_of=None, summary: str = "") -> None:
    DeltaTable.forPath(spark, tables.table_path(warehouse, tables.RUNS)).update(
        F.col("run_id") == run_id,
        {"status": F.lit(status), "finished_at": F.current_timestamp(),
         "as_of": F.lit(as_of).cast("date"), "summary": F.lit(summary)},
    )
