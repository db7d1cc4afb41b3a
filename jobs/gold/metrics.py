"""Gold metrics: every catalog metric per court, per region, per day and month.

Built from work/daily_measures on a dense grid (every registry court, every
day from the first day of the first business date's month to the as-of date),
so a day without filings is a zero, not a missing row. Stocks are running sums
of their daily changes. Incremental: only courts whose daily measures changed
are recomputed, from the month of their earliest change; moving the as-of date
recomputes the new days and the current month for every court. Each gold table
records in its commit the input version it reflects.
"""
from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from jobs.gold import daily_measures
from schemas.metric_catalog import catalog
from schemas.warehouse import table

BATCHES = table("ops.batches")
COURTS = table("silver.courts")
COURT_METRICS = table("gold.court_metrics")
REGION_METRICS = table("gold.region_metrics")
GOLD_WATERMARK = "daily_measures_version"
REGION_WATERMARK = "court_metrics_version"


def _month_start(d: date) -> date:
    return d.replace(day=1)


def business_dates(spark: SparkSession, warehouse: str) -> tuple[date | None, date | None]:
    """First and latest business_date among accepted batches."""
    if not BATCHES.exists(spark, warehouse):
        return None, None
    row = BATCHES.read(spark, warehouse).where("status = 'accepted'").agg(
        F.min("business_date").alias("first"), F.max("business_date").alias("last")).collect()[0]
    return row["first"], row["last"]


def period_rows(daily: DataFrame, spans: DataFrame, first_day: date, as_of: date) -> DataFrame:
    """Wide rows (court_id, period, period_start, days, one column per measure) for
    the days and months of each court's span.

    `spans` has (court_id, window_start, emit_from): recompute from window_start, the
    first of a month, and give day rows from emit_from on (the days before it did
    not change; their month's row did). `daily` has the daily measures of those
    courts, all dates (stocks need their past).
    """
    cat = catalog()
    flows, stocks = cat.flow_names, cat.stock_names
    grid = spans.select("court_id", "emit_from", F.explode(F.sequence("window_start", F.lit(as_of))).alias("date"))
    in_window = daily.join(spans, "court_id").where(
        (F.col("date") >= F.col("window_start")) & (F.col("date") <= F.lit(as_of)))
    wide = in_window.groupBy("court_id", "date").pivot("measure", flows + stocks).agg(F.sum("value"))
    carry = (daily.join(spans, "court_id").where(F.col("date") < F.col("window_start"))
             .where(F.col("measure").isin(stocks))
             .groupBy("court_id").pivot("measure", stocks).agg(F.sum("value")))
    carry = carry.select("court_id", *[F.col(s).alias(f"_carry_{s}") for s in stocks])
    days = grid.join(wide, ["court_id", "date"], "left").join(carry, "court_id", "left").fillna(0.0)
    w = Window.partitionBy("court_id").orderBy("date").rowsBetween(Window.unboundedPreceding, 0)
    for s in stocks:
        days = days.withColumn(f"{s}_end", F.col(f"_carry_{s}") + F.sum(s).over(w))
        days = days.withColumn(f"{s}_start", F.col(f"{s}_end") - F.col(s))
    days = days.withColumn("month", F.trunc("date", "month"))

    day_rows = days.where((F.col("date") >= F.lit(first_day)) & (F.col("date") >= F.col("emit_from"))).select(
        "court_id", F.lit("day").alias("period"), F.col("date").alias("period_start"), F.lit(1).alias("days"),
        *flows, *[f"{s}_end" for s in stocks], *[f"{s}_start" for s in stocks])
    m = Window.partitionBy("court_id", "month")
    month_rows = (
        days.withColumn("_last", F.max("date").over(m)).withColumn("_first", F.min("date").over(m))
        .groupBy("court_id", "month")
        .agg(F.count("*").alias("days"), *[F.sum(f).alias(f) for f in flows],
             *[F.max(F.when(F.col("date") == F.col("_last"), F.col(f"{s}_end"))).alias(f"{s}_end") for s in stocks],
             *[F.max(F.when(F.col("date") == F.col("_first"), F.col(f"{s}_start"))).alias(f"{s}_start")
               for s in stocks])
        .select("court_id", F.lit("month").alias("period"), F.col("month").alias("period_start"), "days",
                *flows, *[f"{s}_end" for s in stocks], *[f"{s}_start" for s in stocks])
    )
    return day_rows.unionByName(month_rows)


def metric_rows(wide: DataFrame, key_cols: list[str]) -> DataFrame:
    """Wide period rows -> one row per metric, with value, numerator and denominator."""
    entries = []
    for m in catalog().metrics:
        num = F.expr(m.numerator).cast("double")
        den = F.expr(m.denominator).cast("double") if m.is_ratio else F.lit(None).cast("double")
        value = F.when(den != 0, num / den) if m.is_ratio else num
        entries.append(F.struct(F.lit(m.id).alias("metric_id"), value.alias("value"),
                                num.alias("numerator"), den.alias("denominator")))
    return wide.select(*key_cols, F.explode(F.array(*entries)).alias("m")).select(*key_cols, "m.*")


def _merge(spark, target, warehouse: str, rows: DataFrame, meta: dict, since: date | None = None) -> None:
    on = " AND ".join(f"t.{k} = s.{k}" for k in target.key)
    if since is not None:
        # Only rows from `since` can match: the target's older files are skipped by
        # their period_start statistics instead of scanned, however long the history.
        on += f" AND t.period_start >= DATE'{since.isoformat()}'"
    # A row recomputed to the value it had is left alone: no rewrite, and no change-feed row for the
    # region roll-up and the serving store to redo. A national day recomputes ~2M court rows (every
    # day since a court's earliest late record) of which ~150k change.
    values = [c.name for c in target.columns if c.name not in target.key]
    changed = (f"NOT (struct({', '.join('t.' + c for c in values)}) <=> "
               f"struct({', '.join('s.' + c for c in values)}))")
    (target.delta_table(spark, warehouse, meta).alias("t").merge(rows.alias("s"), on)
     .whenMatchedUpdateAll(condition=changed).whenNotMatchedInsertAll().execute())


def refresh(spark: SparkSession, warehouse: str, as_of: date | None = None, full_refresh: bool = False) -> date | None:
    """Bring gold/court_metrics and gold/region_metrics up to silver. Returns the as-of date."""
    daily_measures.update(spark, warehouse, full=full_refresh)
    first_bd, last_bd = business_dates(spark, warehouse)
    if first_bd is None:
        return None
    as_of = as_of or last_bd
    grid_start = _month_start(first_bd)
    daily_table = daily_measures.DAILY_MEASURES
    courts = COURTS.read(spark, warehouse)
    daily = daily_table.read(spark, warehouse)
    daily_version = daily_table.version(spark, warehouse) if daily_table.exists(spark, warehouse) else -1
    courts_version = COURTS.version(spark, warehouse)
    meta = {GOLD_WATERMARK: daily_version, "as_of": as_of.isoformat(), "first_business_date": first_bd.isoformat(),
            "courts_version": courts_version}
    done = COURT_METRICS.last_commit_metadata(spark, warehouse, GOLD_WATERMARK)
    full = (full_refresh or done is None or done["first_business_date"] != meta["first_business_date"]
            or done["courts_version"] != courts_version or date.fromisoformat(done["as_of"]) > as_of)
    if full:
        spans = courts.select("court_id", F.lit(grid_start).alias("window_start"), F.lit(grid_start).alias("emit_from"))
        rows = metric_rows(period_rows(daily, spans, first_bd, as_of), ["court_id", "period", "period_start"])
        COURT_METRICS.overwrite(rows, warehouse, meta)
    else:
        spans = _changed_spans(spark, courts, daily_table.location(warehouse), done, daily_version, as_of,
                               grid_start)
        if spans:
            since = min(r["window_start"] for r in spans)
            spans = spark.createDataFrame(spans, "court_id string, window_start date, emit_from date")
            rows = metric_rows(period_rows(daily.join(spans.select("court_id"), "court_id"), spans, first_bd, as_of),
                               ["court_id", "period", "period_start"])
            _merge(spark, COURT_METRICS, warehouse, rows, meta, since)
    _refresh_regions(spark, warehouse, courts, full)
    return as_of


def _changed_spans(spark, courts, daily_path, done, daily_version, as_of, grid_start) -> list:
    """(court_id, window_start, emit_from) of the courts whose gold rows are out of date:
    from the first of the month of their earliest change, and that change's day.
    A few thousand rows at most (one per court), so collected once."""
    parts = []
    if daily_version > done[GOLD_WATERMARK]:
        changed = (spark.read.format("delta").option("readChangeFeed", "true")
                   .option("startingVersion", done[GOLD_WATERMARK] + 1).option("endingVersion", daily_version)
                   .load(daily_path).groupBy("court_id").agg(F.min("date").alias("from")))
        parts.append(changed)
    old_as_of = date.fromisoformat(done["as_of"])
    if as_of > old_as_of:
        parts.append(courts.select("court_id", F.lit(old_as_of + timedelta(days=1)).alias("from")))
    if not parts:
        return []
    spans = parts[0]
    for p in parts[1:]:
        spans = spans.unionByName(p)
    spans = (spans.join(courts.select("court_id"), "court_id").where(F.col("from") <= F.lit(as_of))
             .groupBy("court_id").agg(F.min("from").alias("from"))
             .select("court_id", F.greatest(F.trunc("from", "month"), F.lit(grid_start)).alias("window_start"),
                     F.greatest("from", F.lit(grid_start)).alias("emit_from")))
    return spans.collect()


def region_rows(court_rows: DataFrame, courts: DataFrame) -> DataFrame:
    """Sum numerators and denominators over each high court's province and the nation."""
    joined = court_rows.join(courts.select("court_id", "high_court_id"), "court_id")
    high = joined.where("high_court_id IS NOT NULL").select(
        F.col("high_court_id").alias("region_id"), F.lit("HIGH").alias("region_level"), "*")
    nation = joined.select(F.lit("NATIONAL").alias("region_id"), F.lit("NATIONAL").alias("region_level"), "*")
    ratio = {m.id: m.is_ratio for m in catalog().metrics}
    summed = (high.unionByName(nation)
              .groupBy("region_id", "region_level", "period", "period_start", "metric_id")
              .agg(F.sum("numerator").alias("numerator"), F.sum("denominator").alias("denominator")))
    is_ratio = F.col("metric_id").isin([k for k, v in ratio.items() if v])
    value = F.when(is_ratio, F.when(F.col("denominator") != 0, F.col("numerator") / F.col("denominator"))) \
        .otherwise(F.col("numerator"))
    return summed.select("region_id", "region_level", "period", "period_start", "metric_id",
                         value.alias("value"), "numerator", "denominator")


def _refresh_regions(spark: SparkSession, warehouse: str, courts: DataFrame, full: bool) -> None:
    court_version = COURT_METRICS.version(spark, warehouse)
    done = REGION_METRICS.last_commit_metadata(spark, warehouse, REGION_WATERMARK)
    meta = {REGION_WATERMARK: court_version}
    court_rows = COURT_METRICS.read(spark, warehouse)
    if full or done is None:
        REGION_METRICS.overwrite(region_rows(court_rows, courts), warehouse, meta)
        return
    if done[REGION_WATERMARK] >= court_version:
        return
    touched = (spark.read.format("delta").option("readChangeFeed", "true")
               .option("startingVersion", done[REGION_WATERMARK] + 1).option("endingVersion", court_version)
               .load(COURT_METRICS.location(warehouse)).select("period", "period_start").distinct()).cache()
    since = touched.agg(F.min("period_start")).first()[0]
    if since is not None:
        court_rows = court_rows.where(F.col("period_start") >= F.lit(since))
    rows = region_rows(court_rows.join(F.broadcast(touched), ["period", "period_start"]), courts)
    _merge(spark, REGION_METRICS, warehouse, rows, meta, since)
    touched.unpersist()
