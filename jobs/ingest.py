"""Ingestion: landing zone -> ledger, bronze, quarantine, silver.

Takes every complete delivery not seen before, in the contract's order. A
rejected batch is recorded with its reason and nothing of it goes further;
every other batch still lands.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

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


def seen_manifests(ledger: DataFrame) -> set[tuple[str, int]]:
    """(manifest path, modification time) of every delivery the ledger has judged."""
    return {(r["manifest_path"], r["manifest_mtime"]) for r in
            ledger.select("manifest_path", "manifest_mtime").collect()}


def ingest(spark: SparkSession, landing_root: str, warehouse: str, hash_key: bytes, run_id: str,
           sources: list[str] | None = None, court_ids: list[str] | None = None) -> IngestResult:
    """Land the waiting batches (of the given sources and courts: all by default)."""
    courts = update_registry(spark, landing_root, warehouse)
    ledger_path = tables.table_path(warehouse, tables.BATCHES)
    ledger = delta_io.read(spark, ledger_path, LEDGER)
    seen = seen_manifests(ledger)
    accepted = {(r["source"], r["court_id"], r["batch_id"]): r["sha256"] for r in
                ledger.where("status = 'accepted'").select("source", "court_id", "batch_id", "sha256").collect()}

    t = time.time()
    found = landing.find_deliveries(spark, landing_root, seen, sources, court_ids)
    log.info("found %d new deliveries in %.1fs", len(found), time.time() - t)
    result = IngestResult(landing.judge(spark, found, accepted))
    log.info("judged them in %.1fs", time.time() - t)
    at = runs.now()
    taken = [d for d in result.deliveries if d.status == "accepted"]
    if taken:
        batches = spark.createDataFrame(
            [(d.data_path, d.source, d.court_id, d.business_date, d.batch_id) for d in taken],
            "data_path string, source string, court_id string, business_date date, batch_id string",
        )
        lines = landing.read_lines(spark, [d.data_path for d in taken]) \
            .join(F.broadcast(batches), "data_path").withColumn("ingested_at", F.lit(at)) \
            .withColumn("_run_id", F.lit(run_id)).cache()
        for source in sources or SOURCES:
            t = time.time()
            _ingest_source(spark, source, lines.where(F.col("source") == source), courts,
                           warehouse, hash_key, run_id, result)
            log.info("%s landed in bronze, quarantine and silver in %.1fs", source, time.time() - t)
        lines.unpersist()
    if result.deliveries:
        _append(spark, _ledger_rows(result.deliveries, run_id, at, False), LEDGER, ledger_path)
        rejected = [d for d in result.deliveries if d.status == "rejected"]
        if rejected:
            _append(spark, _ledger_rows(rejected, run_id, at, True), REJECTED,
                    tables.table_path(warehouse, tables.REJECTED))
    return result


def _ingest_source(spark, source, lines, courts, warehouse, hash_key, run_id, result) -> None:
    c = contract(source)
    bronze = lines.select(F.col("data_path").alias("source_file"), "batch_id", "court_id", "business_date",
                          F.col("line_no").cast("int"), "record", "ingested_at", "_run_id")
    _append(spark, bronze, BRONZE, tables.table_path(warehouse, tables.BRONZE, source=source),
            partition_by=("business_date",))
    checked = records.check_records(
        lines.withColumnRenamed("court_id", "batch_court_id"), c, courts
    ).withColumnRenamed("batch_court_id", "batch_court").cache()
    n_lines = checked.count()
    if n_lines == 0:
        checked.unpersist()
        return
    bad = checked.where(F.size("rules") > 0)
    quarantine = bad.select(F.lit(source).alias("source"), F.col("batch_court").alias("court_id"), "batch_id",
                            "business_date", F.col("line_no").cast("int"), "record",
                            F.col("rules")[0].alias("rule"), "rules",
                            F.col("ingested_at").alias("quarantined_at"), "_run_id")
    _append(spark, quarantine, QUARANTINE, tables.table_path(warehouse, tables.QUARANTINE))
    valid = silver.to_silver_rows(checked.where(F.size("rules") == 0), c, hash_key).cache()
    suites.validate_and_store(spark, valid, c, warehouse, run_id)
    silver.merge(spark, tables.table_path(warehouse, tables.SILVER, source=source), valid, c)
    result.accepted_records[source] = n_lines
    result.quarantined[source] = bad.count()
    valid.unpersist()
    checked.unpersist()
