"""`courtwatch run`: the whole batch pipeline, one step after another."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from pyspark.sql import SparkSession

from jobs import ingest as ingest_job
from jobs import runs

log = logging.getLogger("courtwatch")


@dataclass
class RunResult:
    run_id: str
    ingest: ingest_job.IngestResult
    as_of: date | None = None

    def summary(self) -> str:
        return f"run {self.run_id} as of {self.as_of}\n{self.ingest.summary()}"


def run(spark: SparkSession, landing: str, warehouse: str, hash_key: bytes,
        as_of: date | None = None, full_refresh: bool = False) -> RunResult:
    run_id = runs.start(spark, warehouse)
    try:
        result = RunResult(run_id, ingest_job.ingest(spark, landing, warehouse, hash_key, run_id))
        from jobs import metrics  # noqa: PLC0415 (the gold step, after ingestion)

        result.as_of = metrics.refresh(spark, warehouse, as_of=as_of, full_refresh=full_refresh)
    except BaseException:
        runs.finish(spark, warehouse, run_id, "failed")
        raise
    runs.finish(spark, warehouse, run_id, "succeeded", result.as_of, result.summary())
    return result
