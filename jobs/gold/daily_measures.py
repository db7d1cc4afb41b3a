"""Daily measures: each catalog measure summed per court and day.

work/daily_measures holds, per (court_id, date, measure), the day's flow total
or the day's change of a stock; work/daily_breakdowns the same of the catalog's
breakdowns, per value of their column (court x day x category). Both are kept
current from silver's change data feed: a changed entity takes back its old
version's contributions and adds its new ones. The silver versions a table
reflects are written in the same commit, so a run killed half-way resumes
without counting anything twice.
"""
from __future__ import annotations

import hashlib

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.ops.side_by_side import side_by_side
from schemas import SOURCES
from schemas.metric_catalog import Measure, catalog
from schemas.warehouse import table

DAILY_MEASURES = table("work.daily_measures")
DAILY_BREAKDOWNS = table("work.daily_breakdowns")
WATERMARK = "silver_versions"


def _entry(measure: Measure, court: str, day: str, value: Column) -> Column:
    return F.struct(F.lit(measure.name).alias("measure"), F.expr(court).alias("court_id"),
                    F.expr(day).cast("date").alias("date"), value.cast("double").alias("value"))


def contributions(rows: DataFrame, source: str, sign: Column | None = None) -> DataFrame:
    """(court_id, date, measure, value) of each silver row, times `sign` (+1 or -1)."""
    sign = F.lit(1) if sign is None else sign
    entries = []
    for m in catalog().measures_of(source):
        where = F.expr(m.where) if m.where else F.lit(True)
        if m.stock:
            entries.append(F.when(where & F.expr(m.start).isNotNull(), _entry(m, m.court, m.start, sign)))
            entries.append(F.when(where & F.expr(m.end).isNotNull(), _entry(m, m.court, m.end, -sign)))
        else:
            entries.append(F.when(where & F.expr(m.date).isNotNull(), _entry(m, m.court, m.date, F.expr(m.value) * sign)))
    exploded = rows.select(F.explode(F.filter(F.array(*entries), lambda e: e.isNotNull())).alias("e"))
    return exploded.select("e.court_id", "e.date", "e.measure", "e.value").where("court_id IS NOT NULL AND value IS NOT NULL")


def breakdown_contributions(rows: DataFrame, source: str, sign: Column | None = None) -> DataFrame:
    """(court_id, date, breakdown, member, measure, value) of each silver row, times `sign`."""
    sign = F.lit(1) if sign is None else sign
    entries = []
    for b in catalog().breakdowns:
        if b.source != source:
            continue
        for m in b.measures:
            where = F.expr(m.where) if m.where else F.lit(True)
            entries.append(F.when(where & F.expr(m.date).isNotNull(), F.struct(
                F.lit(b.by).alias("breakdown"), F.col(b.by).cast("string").alias("member"),
                F.lit(m.name).alias("measure"), F.expr(m.court).alias("court_id"),
                F.expr(m.date).cast("date").alias("date"), (F.expr(m.value) * sign).cast("double").alias("value"))))
    if not entries:
        return None
    exploded = rows.select(F.explode(F.filter(F.array(*entries), lambda e: e.isNotNull())).alias("e"))
    return exploded.select("e.court_id", "e.date", "e.breakdown", "e.member", "e.measure", "e.value") \
        .where("court_id IS NOT NULL AND value IS NOT NULL")


def _total(parts: list[DataFrame], keys: tuple[str, ...]) -> DataFrame:
    df = parts[0]
    for p in parts[1:]:
        df = df.unionByName(p)
    return df.groupBy(*keys).agg(F.sum("value").alias("value"))


def _silver_versions(spark: SparkSession, warehouse: str) -> dict[str, int]:
    out = {}
    for s in SOURCES:
        silver = table(f"silver.{s}")
        if silver.exists(spark, warehouse):
            out[s] = silver.version(spark, warehouse)
    return out


def _breakdowns_declared() -> str:
    """The breakdowns as declared: a change (a new breakdown, a measure added to one) rebuilds the table."""
    return hashlib.sha256(repr(catalog().breakdowns).encode()).hexdigest()[:16]


def update(spark: SparkSession, warehouse: str, full: bool = False) -> bool:
    """Bring daily_measures and daily_breakdowns up to silver. True if the measures changed.

    The two read the same silver changes into tables of their own: side by side."""
    changed, _ = side_by_side(
        lambda: _maintain(spark, warehouse, full, DAILY_MEASURES, contributions),
        lambda: _maintain(spark, warehouse, full, DAILY_BREAKDOWNS, breakdown_contributions, _breakdowns_declared()),
        name="daily")
    return changed


def _maintain(spark: SparkSession, warehouse: str, full: bool, target, contribute, declared: str | None = None) -> bool:
    """Keep `target` (keyed by its declared key) the sum of `contribute` over silver."""
    current = _silver_versions(spark, warehouse)
    meta = target.last_commit_metadata(spark, warehouse, WATERMARK)
    keys = target.key
    stamp = {WATERMARK: current, **({"declared": declared} if declared else {})}
    if full or meta is None or meta.get("declared") != declared:
        parts = [p for s in current if (p := contribute(table(f"silver.{s}").read(spark, warehouse), s)) is not None]
        if not parts:
            return False
        target.overwrite(_total(parts, keys).where("value != 0"), warehouse, stamp)
        return True
    done = meta[WATERMARK]
    parts = []
    for s, v in current.items():
        start = done.get(s, -1) + 1
        if start > v:
            continue
        changes = (spark.read.format("delta").option("readChangeFeed", "true")
                   .option("startingVersion", start).option("endingVersion", v)
                   .load(table(f"silver.{s}").location(warehouse)))
        sign = F.when(F.col("_change_type").isin("update_preimage", "delete"), F.lit(-1)).otherwise(F.lit(1))
        part = contribute(changes, s, sign)
        if part is not None:
            parts.append(part)
    if not parts:
        return False
    delta = _total(parts, keys).where("value != 0")
    match = " AND ".join(f"t.{k} <=> s.{k}" for k in keys)
    target.ensure_properties(spark, warehouse)  # the change feed the serving store's publish reads
    (target.delta_table(spark, warehouse, stamp).alias("t")
     .merge(delta.alias("s"), match)
     .whenMatchedDelete(condition="t.value + s.value = 0")
     .whenMatchedUpdate(set={"value": "t.value + s.value"})
     .whenNotMatchedInsertAll()
     .execute())
    return True
