"""`courtwatch run`: the whole batch pipeline, one step after another.

The same steps run one at a time under Airflow (dags/courtwatch_daily.py,
`courtwatch step ...`): ingestion mapped over high court groups of waiting
batches, then quality, metrics, alerts and notification. Each step is
a recorded run (jobs/runs.py), so a step that dies is undone by the next one.
"""
from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from pyspark.sql import SparkSession

from courtwatch import tables
from jobs import alerts, delta_io, metrics, notify, registry, runs
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
        as_of: date | None = None, full_refresh: bool = False, alerts_config: dict | None = None,
        lookback_days: int | None = ingest_job.LOOKBACK_DAYS) -> RunResult:
    t = time.time()
    run_id = runs.start(spark, warehouse)
    try:
        landed = ingest_job.ingest(spark, landing, warehouse, hash_key, run_id, lookback_days=lookback_days)
        result = RunResult(run_id, landed)
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


# --- the same pipeline, step by step (what the Airflow DAG submits) ----------

def recorded(spark: SparkSession, warehouse: str, name: str, work) -> str:
    """Run `work(run_id)` as a recorded run; returns its summary line."""
    run_id = runs.start(spark, warehouse)
    try:
        summary, as_of = work(run_id)
    except BaseException:
        runs.finish(spark, warehouse, run_id, "failed", summary=f"step {name} failed")
        raise
    runs.finish(spark, warehouse, run_id, "succeeded", as_of, f"step {name}: {summary}")
    return summary


def waiting_groups(spark: SparkSession, landing_root: str, warehouse: str,
                   lookback_days: int | None = ingest_job.LOOKBACK_DAYS) -> list[dict]:
    """The batches waiting in the landing zone, grouped by high court.

    These are the units ingestion is mapped over, so that one court's broken or
    slow delivery holds up only its own province's group. A group takes all
    three sources: each Spark task costs ~20 s of start-up on its own, and 31
    provinces x 3 sources would spend the daily run on start-ups. Courts missing
    from the registry form a group of their own (their records are quarantined
    as court_unknown).
    """
    ledger = delta_io.read(spark, tables.table_path(warehouse, tables.BATCHES), ingest_job.LEDGER)
    high_court = {r["court_id"]: r["high_court_id"] for r in
                  registry.read_registry(spark, landing_root).select("court_id", "high_court_id").collect()}
    groups: dict[str, dict] = defaultdict(lambda: {"courts": set(), "sources": set(), "batches": 0})
    for d in ingest_job.new_deliveries(spark, landing_root, ledger, lookback_days):
        # the Supreme People's Court answers to no high court: it is a group of its own
        g = groups[high_court.get(d.court_id) or d.court_id if d.court_id in high_court else "unregistered"]
        g["courts"].add(d.court_id)
        g["sources"].add(d.source)
        g["batches"] += 1
    return [{"high_court_id": h, "courts": sorted(g["courts"]), "sources": sorted(g["sources"]),
             "batches": g["batches"]} for h, g in sorted(groups.items())]


def ingest_step(spark: SparkSession, landing_root: str, warehouse: str, hash_key: bytes,
                sources: list[str] | None = None, courts: list[str] | None = None,
                lookback_days: int | None = ingest_job.LOOKBACK_DAYS) -> str:
    def work(run_id):
        return ingest_job.ingest(spark, landing_root, warehouse, hash_key, run_id, sources, courts,
                                 lookback_days).summary(), None

    return recorded(spark, warehouse, "ingest", work)


def metrics_step(spark: SparkSession, warehouse: str, until: date | None = None, full_refresh: bool = False) -> str:
    """Gold as of `until`, or as of the newest accepted business date if that is earlier:
    a run never reports days no court has delivered yet."""
    def work(run_id):
        _, last = metrics.business_dates(spark, warehouse)
        as_of = min(until, last) if (until and last) else None
        as_of = metrics.refresh(spark, warehouse, as_of=as_of, full_refresh=full_refresh)
        return f"gold as of {as_of}", as_of

    return recorded(spark, warehouse, "metrics", work)


def gold_as_of(spark: SparkSession, warehouse: str) -> date | None:
    done = delta_io.last_commit_metadata(spark, tables.table_path(warehouse, tables.COURT_METRICS),
                                         metrics.GOLD_WATERMARK)
    return date.fromisoformat(done["as_of"]) if done else None


def alerts_step(spark: SparkSession, warehouse: str, cfg: dict | None = None) -> str:
    def work(run_id):
        as_of = gold_as_of(spark, warehouse)
        if as_of is None:
            return "no gold yet", None
        changed = alerts.evaluate(spark, warehouse, as_of, cfg or alerts.load_config())
        return f"{len(changed)} alerts new or changed as of {as_of}", as_of

    return recorded(spark, warehouse, "alerts", work)


def notify_step(spark: SparkSession, warehouse: str, cfg: dict | None = None) -> str:
    def work(run_id):
        as_of = gold_as_of(spark, warehouse)
        if as_of is None:
            return "no gold yet", None
        sent = notify.notify(spark, warehouse, as_of, (cfg or alerts.load_config())["notify"])
        return f"digests sent to {len(sent)} high court(s)", as_of

    return recorded(spark, warehouse, "notify", work)
