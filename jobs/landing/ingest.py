"""Ingestion: landing zone -> ledger and bronze.

Takes every complete delivery not seen before, in the contract's order. A
rejected batch is recorded with its reason and nothing of it goes further;
every other batch still lands, line by line as received, in bronze. Silver's
intake (jobs/silver/intake.py, the quality step) then checks the records and
merges them into silver, once for every group that landed.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.landing import court_registry, deliveries
from jobs.ops import run_ledger
from jobs.ops.side_by_side import side_by_side
from jobs.silver import intake
from quality import suites
from schemas import SOURCES
from schemas.warehouse import table
from schemas.workdays import CHINA

LEDGER = table("ops.batches")
REJECTED = table("ops.rejected_batches")
COURTS = table("silver.courts")


log = logging.getLogger("courtwatch.ingest")


@dataclass
class IngestResult:
    deliveries: list[deliveries.Delivery] = field(default_factory=list)
    accepted_records: dict[str, int] = field(default_factory=dict)  # lines landed in bronze, per source

    def count(self, status: str) -> int:
        return sum(d.status == status for d in self.deliveries)

    def summary(self) -> str:
        rejected = [f"{d.source}/{d.court_id}/{d.date_dir}/{d.batch_id}: {d.reason}"
                    for d in self.deliveries if d.status == "rejected"]
        lines = [f"batches: {self.count('accepted')} accepted, {self.count('duplicate')} duplicate, "
                 f"{self.count('rejected')} rejected"]
        lines += [f"  rejected {r}" for r in rejected[:20]]
        for s in SOURCES:
            if s in self.accepted_records:
                lines.append(f"{s}: {self.accepted_records[s]} records into bronze")
        return "\n".join(lines)


def update_registry(spark: SparkSession, landing_root: str, warehouse: str) -> DataFrame:
    """silver.courts brought up to the landing zone's reference/courts.csv (rewritten only when it
    changed); the registry as it now stands."""
    current = court_registry.read_registry(spark, landing_root)
    if court_registry.registry_changed(current, COURTS.read(spark, warehouse)):
        COURTS.overwrite(current, warehouse)
    return COURTS.read(spark, warehouse)


def _ledger_rows(deliveries, run_id: str, at: datetime, with_manifest: bool) -> list[tuple]:
    rows = []
    for d in deliveries:
        row = (d.source, d.court_id, d.business_date, d.batch_id, d.data_path, d.manifest_path,
               d.manifest_mtime, d.status, d.reason, d.detail, d.record_count, d.sha256, at, run_id)
        rows.append(row + (d.manifest_text,) if with_manifest else row)
    return rows


def listing_dates(ledger: DataFrame, lookback_days: int | None, today: date | None = None) -> list[str] | None:
    """The business-date directories to look in: from `lookback_days` before the
    newest batch taken (or before today, should that be earlier) up to tomorrow.
    None, to look in every one: on the first run, or when asked to rescan.
    """
    if lookback_days is None:
        return None
    newest = ledger.where("status = 'accepted'").agg(F.max("business_date")).first()[0]
    if newest is None:
        return None
    today = today or datetime.now(CHINA).date()
    first = min(newest, today) - timedelta(days=lookback_days)
    last = max(newest, today) + timedelta(days=1)
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def judged_manifests(ledger: DataFrame, dates: list[str] | None, sources: list[str] | None = None,
                     courts: list[str] | None = None) -> set[tuple[str, int]]:
    """(manifest_path, manifest_mtime) of every delivery the ledger has judged in
    these business-date directories (any, when None), of these sources and courts.

    Only the days a run looks at are read (the ledger grows by every court's
    every batch), and through Arrow: a month of a national landing zone is 330k
    manifests, and matching them in Python costs less than handing them to Spark
    to join (7.7 s for that month).
    """
    rows = ledger
    if dates is not None:
        rows = rows.where(F.col("business_date").isin([date.fromisoformat(d) for d in dates]))
    if sources:
        rows = rows.where(F.col("source").isin(sources))
    if courts:
        rows = rows.where(F.col("court_id").isin(courts))
    table = rows.select("manifest_path", "manifest_mtime").toArrow()
    return set(zip(table.column("manifest_path").to_pylist(), table.column("manifest_mtime").to_pylist()))


def new_deliveries(spark: SparkSession, landing_root: str, ledger: DataFrame, lookback_days: int | None,
                   sources: list[str] | None = None, courts: list[str] | None = None) -> list[deliveries.Delivery]:
    """The deliveries waiting to be judged, within the lookback (what a run takes,
    and what the Airflow DAG maps ingestion over): a new manifest path, or the same
    path written again (a newer modification time)."""
    dates = listing_dates(ledger, lookback_days)
    return deliveries.find_deliveries(spark, landing_root, sources, courts, dates,
                                      judged=judged_manifests(ledger, dates, sources, courts))


def accepted_before(spark: SparkSession, ledger: DataFrame, found: list[deliveries.Delivery]) -> dict[tuple, str]:
    """(source, court_id, batch_id) -> digest of the batches among `found` taken in an earlier run."""
    if not found:
        return {}
    keys = spark.createDataFrame(sorted({d.key for d in found}), "source string, court_id string, batch_id string")
    return {(r["source"], r["court_id"], r["batch_id"]): r["sha256"] for r in
            ledger.where("status = 'accepted'").join(F.broadcast(keys), ["source", "court_id", "batch_id"], "left_semi")
            .select("source", "court_id", "batch_id", "sha256").collect()}


def ingest(spark: SparkSession, landing_root: str, warehouse: str, run_id: str,
           sources: list[str] | None = None, court_ids: list[str] | None = None,
           lookback_days: int | None = None) -> IngestResult:
    """Land the waiting batches (of the given sources and courts: all by default)
    dated within the lookback (listing_dates: business-date directories from
    `lookback_days` before the newest batch taken, the profile's ingest.lookback_days;
    None: at any date) in the ledger and bronze."""
    ledger = LEDGER.read(spark, warehouse)
    t = time.time()
    found = new_deliveries(spark, landing_root, ledger, lookback_days, sources, court_ids)
    log.info("found %d new deliveries in %.1fs", len(found), time.time() - t)
    judged, read = deliveries.judge(spark, found, accepted_before(spark, ledger, found))
    if found:
        # The quality step next needs Great Expectations (~8 s of imports in a new process).
        # Not sooner: an import holds the GIL, and judging hands Spark 10k-path lists one
        # py4j call per path (a national day's judging took 6 s longer).
        suites.preload()
    result = IngestResult(judged)
    log.info("judged them in %.1fs", time.time() - t)
    at = run_ledger.now()
    taken = [d for d in result.deliveries if d.status == "accepted"]
    if result.deliveries:
        run_ledger.writing(spark, warehouse, run_id)  # before the first row it appends
    try:
        if taken:
            batches = spark.createDataFrame(
                [(d.data_path, d.source, d.court_id, d.business_date, d.batch_id) for d in taken],
                "data_path string, source string, court_id string, business_date date, batch_id string",
            )
            lines = read.join(F.broadcast(batches), "data_path").withColumn("ingested_at", F.lit(at)) \
                .withColumn("_run_id", F.lit(run_id))
            result.accepted_records = _land_sources(spark, warehouse, sources or SOURCES, lines, taken)
    finally:
        if read is not None:
            read.unpersist()
    if result.deliveries:
        LEDGER.append_rows(spark, _ledger_rows(result.deliveries, run_id, at, False), warehouse)
        rejected = [d for d in result.deliveries if d.status == "rejected"]
        if rejected:
            REJECTED.append_rows(spark, _ledger_rows(rejected, run_id, at, True), warehouse)
    return result


def _land_sources(spark: SparkSession, warehouse: str, sources, lines: DataFrame, taken) -> dict[str, int]:
    """Append each source's lines to its bronze table, the sources side by side (each a
    Spark job and a Delta commit of its own). Returns the lines landed per source."""
    def land(source: str) -> int:
        n_lines = sum(d.record_count for d in taken if d.source == source)  # judged: the file's lines
        bronze = table(f"bronze.{source}")
        intake.prepare_bronze(spark, warehouse, source)
        if n_lines == 0:
            bronze.create_if_missing(spark, warehouse)
            return 0
        bronze.append(lines.where(F.col("source") == source).select(
            F.col("data_path").alias("source_file"), "batch_id", "court_id", "business_date",
            F.col("line_no").cast("int"), "record", "ingested_at", "_run_id"), warehouse)
        return n_lines

    landed = side_by_side(*[lambda s=s: land(s) for s in sources], name="land")  # re-raises a failure
    return {s: n for s, n in zip(sources, landed) if n}
