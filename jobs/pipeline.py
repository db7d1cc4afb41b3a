"""`courtwatch run`: the whole batch pipeline, one step after another."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date

from pyspark.sql import SparkSession

from jobs import alerts, metrics, notify, runs
from jobs import ingest as ingest_job

log = logging.getLogger("courtwatch")


@dataclass
class RunResult:
    run_id: str
    ingest: ingest_job.IngestResult
    as_of: date | None = None
    alerts_changed: list = field(default_factory=list)
    notified: dict = field(default_factory=dict)

    def summary(self) -> str:
        firing = sum(a["status"] == "firing" for a in self.alerts_changed)
        return (f"run {self.run_id} as of {self.as_of}\n{self.ingest.summary()}\n"
                f"alerts: {len(self.alerts_changed)} new or changed ({firing} firing); "
                f"digests sent to {len(self.notified)} high court(s)")


def run(spark: SparkSession, landing: str, warehouse: str, hash_key: bytes,
        as_of: date | None = None, full_refresh: bool = False, alerts_config: dict | None = None) -> RunResult:
    t = time.time()
    run_id = runs.start(spark, warehouse)
    try:
        result = RunResult(run_id, ingest_job.ingest(spark, landing, warehouse, hash_key, run_id))
        log.info("ingestion done in %.1fs", time.time() - t)
        result.as_of = metrics.refresh(spark, warehouse, as_of=as_of, full_refresh=full_refresh)
        log.info("metrics done in %.1fs", time.time() - t)
        if result.as_of is not None:
            cfg = alerts_config or alerts.load_config()
            result.alerts_changed = alerts.evaluate(spark, warehouse, result.as_of, cfg)
            result.notified = notify.notify(spark, warehouse, result.as_of, cfg["notify"])
            log.info("alerts done in %.1fs", time.time() - t)
    except BaseException:
        runs.finish(spark, warehouse, run_id, "failed")
        raise
    runs.finish(spark, warehouse, run_id, "succeeded", result.as_of, result.summary())
    return result
