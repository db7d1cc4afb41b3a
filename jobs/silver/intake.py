"""Silver's intake: the records landed in bronze since silver last took them, checked and merged.

Ingestion (jobs/landing/ingest.py) lands batches in bronze, under Airflow one run per
province group. This step then takes, once for all of them, every bronze row landed
since its last intake (bronze's change data feed after the version silver's last merge
recorded): each record is checked against the contract's rules (an invalid one goes to
quarantine), the valid ones are checked by the contract's Great Expectations suite and
merged into silver, with bronze's version recorded in the same commit. So a day costs one
suite and one MERGE per source however many groups landed it, and a run that dies before
the merge takes the same rows again (its quarantine rows carry its run id, and go with it).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.ops import run_ledger
from jobs.ops.side_by_side import side_by_side
from jobs.silver import record_rules, upsert
from quality import suites
from schemas import SOURCES, contract
from schemas.warehouse import table

log = logging.getLogger("courtwatch.intake")

WATERMARK = "bronze_version"  # silver's commit metadata: the bronze version its rows reflect
CHANGE_FEED = "delta.enableChangeDataFeed"
QUARANTINE = table("ops.quarantine")
# a bronze row: appended once by one run (a run that is rolled back takes its rows away again)
ROW_IDENTITY = ["_run_id", "source_file", "line_no"]


@dataclass
class SourceIntake:
    source: str
    records: int  # bronze rows taken
    quarantined: int
    checks: list[dict] = field(default_factory=list)  # the suite's results on the valid ones
    landed_by: list[str] = field(default_factory=list)  # a failed suite: the runs that landed the rows

    @property
    def passed(self) -> bool:
        return all(r["success"] for r in self.checks)


@dataclass
class Intake:
    sources: list[SourceIntake] = field(default_factory=list)

    def failed_checks(self) -> list[tuple[str, dict]]:
        return [(s.source, r) for s in self.sources for r in s.checks if not r["success"]]

    def rejected_runs(self) -> list[str]:
        """The runs that landed what a failed suite rejected."""
        return sorted({run for s in self.sources for run in s.landed_by})

    def summary(self) -> str:
        if not self.sources:
            return "nothing new in bronze"
        return "; ".join(f"{s.source}: {s.records} records, {s.quarantined} quarantined, "
                         f"{'merged into silver' if s.passed else 'NOT merged: the suite failed'}"
                         for s in self.sources)


def take_landed(spark: SparkSession, warehouse: str, hash_key: bytes, run_id: str, courts: DataFrame,
                sources: list[str] | None = None) -> Intake:
    """Check and merge what each source landed since its last intake against the court registry
    `courts`, the sources side by side (each a chain of small jobs and commits on tables of its own)."""
    QUARANTINE.create_if_missing(spark, warehouse)  # shared by the sources: created once, first
    suites.create_results_table(spark, warehouse)
    taken = side_by_side(*[lambda s=s: _take(spark, warehouse, hash_key, run_id, courts, s)
                           for s in sources or SOURCES], name="intake")
    return Intake([t for t in taken if t is not None])


def watermark(spark: SparkSession, warehouse: str, source: str) -> int:
    """The bronze version silver's rows of `source` reflect (-1: none taken yet)."""
    meta = table(f"silver.{source}").last_commit_metadata(spark, warehouse, WATERMARK)
    return int(meta[WATERMARK]) if meta else -1


def landed_since(spark: SparkSession, warehouse: str, source: str, after: int) -> tuple[DataFrame | None, int, int]:
    """Bronze's rows appended after version `after` and still there (a rolled-back run's
    are not); with the newest version and how many rows that is."""
    bronze = table(f"bronze.{source}")
    if not bronze.exists(spark, warehouse):
        return None, after, 0
    latest = bronze.version(spark, warehouse)
    if latest <= after:
        return None, after, 0
    # the commits since: their count grows with the runs between two intakes, not with the history
    commits = [r for r in bronze.delta_table(spark, warehouse).history(latest - after)
               .select("version", "operation", "operationMetrics").collect() if r["version"] > after]
    appended = sum(int((r["operationMetrics"] or {}).get("numOutputRows", 0))
                   for r in commits if r["operation"] == "WRITE")
    if not appended:
        return None, latest, 0
    changes = (spark.read.format("delta").option("readChangeFeed", "true")
               .option("startingVersion", after + 1).option("endingVersion", latest)
               .load(bronze.location(warehouse)))
    rows = changes.where("_change_type = 'insert'")
    if any(r["operation"] == "DELETE" for r in commits):
        # the run ledger rolled a run back: its rows are gone, and the count is one job's
        gone = changes.where("_change_type = 'delete'").select(*ROW_IDENTITY)
        rows = rows.join(gone, ROW_IDENTITY, "left_anti")
        appended = None
    rows = rows.drop("_change_type", "_commit_version", "_commit_timestamp")
    return rows, latest, appended if appended is not None else rows.count()


def _take(spark: SparkSession, warehouse: str, hash_key: bytes, run_id: str, courts: DataFrame,
          source: str) -> SourceIntake | None:
    t = time.time()
    c = contract(source)
    prepare_bronze(spark, warehouse, source)  # a warehouse from before the intake, with nothing landed since
    rows, latest, n_lines = landed_since(spark, warehouse, source, watermark(spark, warehouse, source))
    if rows is None or n_lines == 0:
        return None
    run_ledger.writing(spark, warehouse, run_id)  # before the first row it appends (results, quarantine)
    lines = rows.select(F.col("source_file").alias("data_path"), "batch_id", F.col("court_id").alias("batch_court_id"),
                        "business_date", "line_no", "record", "ingested_at")
    checked = record_rules.check_records(lines, c, courts)
    # Only the valid rows are kept in memory (narrow: silver's columns); the few
    # invalid ones are checked again to quarantine them, should there be any.
    valid = upsert.to_silver_rows(checked.where(F.size("rules") == 0), c, hash_key).cache()
    try:
        checks = suites.validate_and_store(spark, valid, c, warehouse, run_id)
        # the suite reports how many valid rows it checked (every expectation's element count)
        counted = {r["element_count"] for r in checks} - {None}
        n_bad = n_lines - (counted.pop() if len(counted) == 1 else valid.count())
        if n_bad:  # no commit for nothing
            QUARANTINE.append(checked.where(F.size("rules") > 0).select(
                F.lit(source).alias("source"), F.col("batch_court_id").alias("court_id"), "batch_id",
                "business_date", F.col("line_no").cast("int"), "record", F.col("rules")[0].alias("rule"), "rules",
                F.current_timestamp().alias("quarantined_at"), F.lit(run_id).alias("_run_id")), warehouse)
        taken = SourceIntake(source, n_lines, n_bad, checks)
        if taken.passed:
            upsert.merge(spark, warehouse, valid, c, commit_metadata={WATERMARK: latest})
        else:  # silver stays clean; the quality step fails the runs that landed them (and the next takes them again)
            log.error("%s: the silver suite rejects rows the record rules passed; not merged", source)
            taken.landed_by = [r["_run_id"] for r in rows.select("_run_id").distinct().collect()]
    finally:
        valid.unpersist()
    log.info("%s: %d bronze rows checked and taken into silver in %.1fs", source, n_lines, time.time() - t)
    return taken


_READY: set[str] = set()  # bronze tables this process found with their change data feed on


def prepare_bronze(spark: SparkSession, warehouse: str, source: str) -> None:
    """Before ingestion appends to bronze, and before the intake reads it (a run may land nothing):
    bronze written by an earlier courtwatch, whose ingestion merged into silver itself, has no
    change data feed. Turn it on, and note in silver that every row bronze held until then is in
    silver already, so that the intake takes only what follows."""
    bronze = table(f"bronze.{source}")
    where = bronze.location(warehouse)
    if where in _READY or not bronze.exists(spark, warehouse):
        return  # a new bronze table is created with it
    properties = bronze.delta_table(spark, warehouse).detail().first()["properties"] or {}
    if properties.get(CHANGE_FEED) != "true":
        spark.sql(f"ALTER TABLE delta.`{where}` SET TBLPROPERTIES ('{CHANGE_FEED}' = 'true')")
        silver = table(f"silver.{source}")
        silver.create_if_missing(spark, warehouse)
        silver.note(spark, warehouse, {WATERMARK: bronze.version(spark, warehouse)})
        log.info("bronze.%s: change data feed turned on; silver takes what lands from now on", source)
    _READY.add(where)
