"""Ingestion: landing zone -> ledger, bronze, quarantine, silver.

Takes every complete delivery not seen before, in the contract's order. A
rejected batch is recorded with its reason and nothing of it goes further;
every other batch still lands.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from courtwatch import tables
from jobs import delta_io, landing, records, registry, runs, silver
from quality import suites
from schemas import SOURCES, contract

LEDGER = T.StructType([
    T.StructField("source", T.StringType()),
    T.StructField("court_id", T.StringType()),
    T.StructField("business_date", T.DateType()),
    T.StructField("batch_id", T.StringType()),
    T.StructField("path", T.StringType()),
    T.StructField("manifest_path", T.StringType()),
    T.StructField("manifest_mtime", T.LongType()),
    T.StructField("status", T.StringType()),
    T.StructField("reason", T.StringType()),
    T.StructField("detail", T.StringType()),
    T.StructField("record_count", T.LongType()),
    T.StructField("sha256", T.StringType()),
    T.StructField("ingested_at", T.TimestampType()),
    T.StructField("_run_id", T.StringType()),
])
REJECTED = T.StructType(LEDGER.fields + [T.StructField("manifest", T.StringType())])
BRONZE = T.StructType([
    T.StructField("source_file", T.StringType()),
    T.StructField("batch_id", T.StringType()),
    T.StructField("court_id", T.StringType()),
    T.StructField("business_date", T.DateType()),
    T.StructField("line_no", T.IntegerType()),
    T.StructField("record", T.StringType()),
    T.StructField("ingested_at", T.TimestampType()),
    T.StructField("_run_id", T.StringType()),
])
QUARANTINE = T.StructType([
    T.StructField("source", T.StringType()),
    T.StructField("court_id", T.StringType()),
    T.StructField("batch_id", T.StringType()),
    T.StructField("business_date", T.DateType()),
    T.StructField("line_no", T.IntegerType()),
    T.StructField("record", T.StringType()),
    T.StructField("rule", T.StringType()),
    T.StructField("rules", T.ArrayType(T.StringType())),
    T.StructField("quarantined_at", T.TimestampType()),
    T.StructField("_run_id", T.StringType()),
])


log = logging.getLogger("courtwatch.ingest")
# Business-date directories a daily run looks in: from this many days before the
# newest batch taken (conf: ingest.lookback_days). Older ones wait for a rescan.
LOOKBACK_DAYS = 31
CHINA = ZoneInfo("Asia/Shanghai")


@dataclass
class IngestResult:
    deliveries: list[landing.Delivery] = field(default_factory=list)
    accepted_records: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)

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
                lines.append(f"{s}: {self.accepted_records[s]} records, {self.quarantined.get(s, 0)} quarantined")
        return "\n".join(lines)


def update_registry(spark: SparkSession, landing_root: str, warehouse: str) -> DataFrame:
    path = tables.table_path(warehouse, tables.COURTS)
    current = registry.read_registry(spark, landing_root)
    stored = delta_io.read(spark, path, registry.SCHEMA)
    if registry.registry_changed(current, stored):
        current.write.format("delta").mode("overwrite").option("overwriteSchema", True).save(path)
    return delta_io.read(spark, path)


def _ledger_rows(deliveries, run_id: str, at: datetime, with_manifest: bool) -> list[tuple]:
    rows = []
    for d in deliveries:
        row = (d.source, d.court_id, d.business_date, d.batch_id, d.data_path, d.manifest_path,
               d.manifest_mtime, d.status, d.reason, d.detail, d.record_count, d.sha256, at, run_id)
        rows.append(row + (d.manifest_text,) if with_manifest else row)
    return rows


def _append(spark: SparkSession, rows_or_df, schema: T.StructType, path: str, partition_by=()) -> None:
    df = rows_or_df if isinstance(rows_or_df, DataFrame) else spark.createDataFrame(rows_or_df, schema)
    delta_io.create_if_missing(spark, path, schema, partition_by=partition_by)
    df.select(*schema.fieldNames()).write.format("delta").mode("append").save(path)


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


def waiting(spark: SparkSession, ledger: DataFrame, found: list[landing.Delivery]) -> list[landing.Delivery]:
    """Those of the listed deliveries the ledger has not judged: a new manifest
    path, or the same path written again (a newer modification time).

    The ledger is joined with what was listed, never collected whole: it grows
    by every court's every batch, the listing only by the days looked at.
    """
    if not found:
        return []
    listed = spark.createDataFrame([(d.manifest_path, d.manifest_mtime) for d in found],
                                   "manifest_path string, manifest_mtime long")
    seen = {(r["manifest_path"], r["manifest_mtime"]) for r in
            ledger.join(F.broadcast(listed), ["manifest_path", "manifest_mtime"], "left_semi")
            .select("manifest_path", "manifest_mtime").collect()}
    return [d for d in found if (d.manifest_path, d.manifest_mtime) not in seen]


def new_deliveries(spark: SparkSession, landing_root: str, ledger: DataFrame, lookback_days: int | None,
                   sources: list[str] | None = None, courts: list[str] | None = None) -> list[landing.Delivery]:
    """The deliveries waiting to be judged, within the lookback (what a run takes,
    and what the Airflow DAG maps ingestion over)."""
    dates = listing_dates(ledger, lookback_days)
    return waiting(spark, ledger, landing.find_deliveries(spark, landing_root, sources, courts, dates))


def accepted_before(spark: SparkSession, ledger: DataFrame, found: list[landing.Delivery]) -> dict[tuple, str]:
    """(source, court_id, batch_id) -> digest of the batches among `found` taken in an earlier run."""
    if not found:
        return {}
    keys = spark.createDataFrame(sorted({d.key for d in found}), "source string, court_id string, batch_id string")
    return {(r["source"], r["court_id"], r["batch_id"]): r["sha256"] for r in
            ledger.where("status = 'accepted'").join(F.broadcast(keys), ["source", "court_id", "batch_id"], "left_semi")
            .select("source", "court_id", "batch_id", "sha256").collect()}


def ingest(spark: SparkSession, landing_root: str, warehouse: str, hash_key: bytes, run_id: str,
           sources: list[str] | None = None, court_ids: list[str] | None = None,
           lookback_days: int | None = LOOKBACK_DAYS) -> IngestResult:
    """Land the waiting batches (of the given sources and courts: all by default)
    dated within the lookback (listing_dates; None: at any date)."""
    courts = update_registry(spark, landing_root, warehouse)
    ledger_path = tables.table_path(warehouse, tables.BATCHES)
    ledger = delta_io.read(spark, ledger_path, LEDGER)
    t = time.time()
    found = new_deliveries(spark, landing_root, ledger, lookback_days, sources, court_ids)
    log.info("found %d new deliveries in %.1fs", len(found), time.time() - t)
    judged, read = landing.judge(spark, found, accepted_before(spark, ledger, found))
    if found:
        # Not sooner: an import holds the GIL, and judging hands Spark 10k-path lists
        # one py4j call per path (a national day's judging took 6 s longer).
        suites.preload()
    result = IngestResult(judged)
    log.info("judged them in %.1fs", time.time() - t)
    at = runs.now()
    taken = [d for d in result.deliveries if d.status == "accepted"]
    try:
        if taken:
            batches = spark.createDataFrame(
                [(d.data_path, d.source, d.court_id, d.business_date, d.batch_id) for d in taken],
                "data_path string, source string, court_id string, business_date date, batch_id string",
            )
            lines = read.join(F.broadcast(batches), "data_path").withColumn("ingested_at", F.lit(at)) \
                .withColumn("_run_id", F.lit(run_id))
            _land_sources(spark, sources or SOURCES, lines, taken, courts, warehouse, hash_key, run_id, result)
    finally:
        if read is not None:
            read.unpersist()
    if result.deliveries:
        _append(spark, _ledger_rows(result.deliveries, run_id, at, False), LEDGER, ledger_path)
        rejected = [d for d in result.deliveries if d.status == "rejected"]
        if rejected:
            _append(spark, _ledger_rows(rejected, run_id, at, True), REJECTED,
                    tables.table_path(warehouse, tables.REJECTED))
    return result


def _land_sources(spark, sources, lines, taken, courts, warehouse, hash_key, run_id, result) -> None:
    """Land each source's lines, the sources side by side: each is a chain of small
    Spark jobs and Delta commits on tables of its own, which alone leave a core and
    the driver idle much of the time. The tables they share (quarantine, quality
    results) take concurrent blind appends; they are created first, once. A failed
    source fails the run, after the others have finished."""
    delta_io.create_if_missing(spark, tables.table_path(warehouse, tables.QUARANTINE), QUARANTINE)
    suites.create_results_table(spark, warehouse)

    def land(source: str) -> None:
        t = time.time()
        n_lines = sum(d.record_count for d in taken if d.source == source)  # judged: the file's lines
        _ingest_source(spark, source, lines.where(F.col("source") == source), n_lines, courts,
                       warehouse, hash_key, run_id, result)
        log.info("%s landed in bronze, quarantine and silver in %.1fs", source, time.time() - t)

    with ThreadPoolExecutor(max_workers=len(sources), thread_name_prefix="land") as pool:
        landed = [pool.submit(land, s) for s in sources]
    for f in landed:
        f.result()  # re-raises a source's failure


def _ingest_source(spark, source, lines, n_lines, courts, warehouse, hash_key, run_id, result) -> None:
    c = contract(source)
    bronze_path = tables.table_path(warehouse, tables.BRONZE, source=source)
    if n_lines == 0:
        delta_io.create_if_missing(spark, bronze_path, BRONZE, partition_by=("business_date",))
        return
    bronze = lines.select(F.col("data_path").alias("source_file"), "batch_id", "court_id", "business_date",
                          F.col("line_no").cast("int"), "record", "ingested_at", "_run_id")
    _append(spark, bronze, BRONZE, bronze_path, partition_by=("business_date",))
    checked = records.check_records(
        lines.withColumnRenamed("court_id", "batch_court_id"), c, courts
    ).withColumnRenamed("batch_court_id", "batch_court")
    # Only the valid rows are kept in memory (narrow: silver's columns); the few
    # invalid ones are checked again to quarantine them, should there be any.
    valid = silver.to_silver_rows(checked.where(F.size("rules") == 0), c, hash_key).cache()
    n_bad = n_lines - valid.count()
    quarantine_path = tables.table_path(warehouse, tables.QUARANTINE)
    if n_bad:  # the table exists (_land_sources); no commit for nothing
        bad = checked.where(F.size("rules") > 0).select(
            F.lit(source).alias("source"), F.col("batch_court").alias("court_id"), "batch_id", "business_date",
            F.col("line_no").cast("int"), "record", F.col("rules")[0].alias("rule"), "rules",
            F.col("ingested_at").alias("quarantined_at"), "_run_id")
        _append(spark, bad, QUARANTINE, quarantine_path)
    suites.validate_and_store(spark, valid, c, warehouse, run_id)
    silver.merge(spark, tables.table_path(warehouse, tables.SILVER, source=source), valid, c)
    result.accepted_records[source] = n_lines
    result.quarantined[source] = n_bad
    valid.unpersist()
