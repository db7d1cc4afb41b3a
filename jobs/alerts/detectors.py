"""Alert conditions: for each rule, the (court, day) on which it holds.

Every detector returns rows of CONDITION: one per day a condition holds, with
its severity and the observed and expected values of that day. Episodes,
identity and lifecycle are jobs/alerts/episodes.py's business.
"""
from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.window import Window

from jobs.alerts import cusum, rules
from jobs.alerts import threshold as threshold_rule
from schemas.metric_catalog import catalog
from schemas.workdays import day_frame

CONDITION = T.StructType([
    T.StructField("kind", T.StringType()),
    T.StructField("rule_id", T.StringType()),
    T.StructField("court_id", T.StringType()),
    T.StructField("metric_id", T.StringType()),
    T.StructField("source", T.StringType()),
    T.StructField("date", T.DateType()),
    T.StructField("severity", T.StringType()),
    T.StructField("observed", T.DoubleType()),
    T.StructField("expected", T.DoubleType()),
])


def _conform(df: DataFrame) -> DataFrame:
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in CONDITION.fields])


def feed(ledger: DataFrame, as_of: date, cfg: rules.FeedRule) -> DataFrame:
    """A court that delivered a batch of a source on each of `history_days` days
    has none for `silent_days` consecutive business dates (up to the as-of date)."""
    delivered = ledger.where(F.col("business_date") <= F.lit(as_of)).select(
        "court_id", "source", F.col("business_date").alias("date")).distinct()
    # islands of consecutive delivery days, and how long each has run
    by_pair = Window.partitionBy("court_id", "source").orderBy("date")
    islands = (delivered.withColumn("island", F.date_sub("date", F.row_number().over(by_pair).cast("int")))
               .groupBy("court_id", "source", "island")
               .agg(F.min("date").alias("first"), F.max("date").alias("last")))
    # the silence after each island, up to the next delivery or the as-of date
    after = Window.partitionBy("court_id", "source").orderBy("first")
    silences = (islands.withColumn("next", F.lead("first").over(after))
                .where(F.datediff("last", "first") + 1 >= cfg.history_days)
                .select("court_id", "source", F.date_add("last", 1).alias("silent_from"),
                        F.coalesce(F.date_sub("next", 1), F.lit(as_of)).alias("silent_to")))
    days = silences.select("*", F.explode(F.sequence("silent_from", "silent_to")).alias("date")) \
        .where(F.col("silent_to") >= F.col("silent_from"))
    silent_for = F.datediff("date", "silent_from") + 1
    held = days.where(silent_for >= cfg.silent_days)
    return _conform(held.select(
        F.lit("feed").alias("kind"), F.lit(cfg.rule_id).alias("rule_id"), "court_id",
        F.lit(None).alias("metric_id"), "source", "date",
        F.when(silent_for >= cfg.critical_after_days, "critical").otherwise("warning").alias("severity"),
        silent_for.alias("observed"), F.lit(0).alias("expected")))


def threshold(spark: SparkSession, day_rows: DataFrame, cfg: rules.Threshold) -> DataFrame:
    """A month's metric, to date, below its standard once the month's data show it (jobs/alerts/threshold.py),
    on the driver: a few rule metrics' day rows."""
    metrics = [r.metric_id for r in cfg.rules]
    if not metrics:
        return spark.createDataFrame([], CONDITION)
    rows = (day_rows.where(F.col("metric_id").isin(metrics))
            .select("court_id", "metric_id", "period_start", "numerator", "denominator").toPandas())
    held = threshold_rule.conditions(rows, cfg)
    schema = "court_id string, metric_id string, period_start date, severity string, observed double, expected double"
    df = spark.createDataFrame(held if len(held) else [], schema)
    return _conform(df.select(
        F.lit("threshold").alias("kind"), F.concat(F.lit("threshold:"), F.col("metric_id")).alias("rule_id"),
        "court_id", "metric_id", F.lit(None).alias("source"), F.col("period_start").alias("date"),
        "severity", "observed", "expected"))


def _union(frames: list[DataFrame]) -> DataFrame:
    df = frames[0]
    for f in frames[1:]:
        df = df.unionByName(f)
    return df


def calendar_frame(spark: SparkSession, start: date, end: date) -> DataFrame:
    cal = day_frame(start, end)[["date", "working_day", "festival"]]
    return spark.createDataFrame(cal)


def _with_calendar(spark: SparkSession, day_rows: DataFrame, start: date, as_of: date, metrics: list[str]) -> DataFrame:
    """The day rows of `metrics`, with each day's type and a day number for range windows."""
    cal = F.broadcast(calendar_frame(spark, start, as_of))
    return (day_rows.where(F.col("metric_id").isin(metrics))
            .join(cal, F.col("period_start") == cal["date"]).drop("date")
            .withColumn("day", F.datediff("period_start", F.lit(date(2000, 1, 1)))))


def _worse(metric_ids: list[str]) -> tuple[Column, Column]:
    """Where a fall, and where a rise, is the bad news (the catalog's direction)."""
    direction = {m: catalog().metric(m).direction for m in metric_ids}
    worse_low = F.col("metric_id").isin([m for m, d in direction.items() if d in ("higher", "neutral")])
    worse_high = F.col("metric_id").isin([m for m, d in direction.items() if d in ("lower", "neutral")])
    return worse_low, worse_high


def _g_poisson(o: Column, e: Column) -> Column:
    """Likelihood-ratio statistic of o events where e were expected (Poisson)."""
    return 2 * (F.when(o > 0, o * F.log(o / e)).otherwise(0) - (o - e))


def _g_binomial(x: Column, n: Column, p: Column) -> Column:
    """Likelihood-ratio statistic of x successes in n trials against rate p."""
    def term(k, q):
        return F.when(k > 0, k * F.log(k / (n * q))).otherwise(0)

    return 2 * (term(x, p) + term(n - x, 1 - p))


def anomaly(spark: SparkSession, day_rows: DataFrame, start: date, as_of: date, cfg: rules.Anomaly,
            courts: DataFrame | None = None) -> DataFrame:
    """Daily metrics that depart sharply from the court's own expected level (`courts`: the
    registry, whose levels nb_cusum's common day factors are learnt within).

    Causal: the verdict for day d reads days <= d only. The expected level is
    learnt from the `baseline_days` before the evaluation window, per day type
    (working day or not, from China's holiday calendar) for counts.
    """
    method = cfg.method
    if method == "nb_cusum":
        return nb_cusum(spark, day_rows, start, as_of, cfg, courts)
    if method == "robust_z":
        return robust_z(spark, day_rows, start, as_of, cfg)
    if method != "pooled_gtest":
        raise ValueError(f"unknown anomaly method {method!r}")
    cat = catalog()
    w, base = cfg.window_days, cfg.baseline_days
    rows = _with_calendar(spark, day_rows, start, as_of, cfg.metrics)
    ratio_ids = [m for m in cfg.metrics if cat.metric(m).is_ratio]
    count_ids = [m for m in cfg.metrics if not cat.metric(m).is_ratio]
    pooled = Window.partitionBy("court_id", "metric_id").orderBy("day").rangeBetween(-(w - 1), 0)
    out = []

    if count_ids:
        # expected count of a day: the mean of the same day type over the baseline
        same_type = Window.partitionBy("court_id", "metric_id", "working_day").orderBy("day") \
            .rangeBetween(-(base + w - 1), -w)
        counts = (rows.where(F.col("metric_id").isin(count_ids))
                  .withColumn("base_n", F.count("numerator").over(same_type))
                  .withColumn("mean", F.avg("numerator").over(same_type))
                  .withColumn("O", F.sum("numerator").over(pooled))
                  .withColumn("E", F.sum("mean").over(pooled))
                  .withColumn("base_days", F.min("base_n").over(pooled))
                  .withColumn("festive", F.max(F.col("festival").cast("int")).over(pooled)))
        ok = (F.col("base_days") >= cfg.min_baseline_days / 2) & (F.col("E") >= cfg.min_expected_count)
        if cfg.skip_counts_in_festivals:
            ok = ok & (F.col("festive") == 0)
        r = F.try_divide("O", "E")
        low, high = r <= cfg.count_ratio, r >= 1 / cfg.count_ratio
        fired = counts.where(ok & (low | high) & (_g_poisson(F.col("O"), F.col("E")) >= cfg.g_threshold))
        crit = (r <= cfg.critical_count_ratio) | (r >= 1 / cfg.critical_count_ratio)
        out.append(fired.select(
            "court_id", "metric_id", "period_start", F.when(crit, "critical").otherwise("warning").alias("severity"),
            (F.col("O") / w).alias("observed"), (F.col("E") / w).alias("expected"),
            F.when(low, "collapse").otherwise("surge").alias("direction")))

    if ratio_ids:
        baseline = Window.partitionBy("court_id", "metric_id").orderBy("day").rangeBetween(-(base + w - 1), -w)
        rates = (rows.where(F.col("metric_id").isin(ratio_ids))
                 .withColumn("base_x", F.sum("numerator").over(baseline))
                 .withColumn("base_n", F.sum("denominator").over(baseline))
                 .withColumn("base_days", F.count("numerator").over(baseline))
                 .withColumn("x", F.sum("numerator").over(pooled))
                 .withColumn("n", F.sum("denominator").over(pooled))
                 .withColumn("p0", F.try_divide("base_x", "base_n"))
                 .withColumn("p", F.try_divide("x", "n")))
        worse_low, worse_high = _worse(ratio_ids)
        change = F.col("p") - F.col("p0")
        big = (F.abs(change) >= cfg.rate_change) | \
              ((F.col("p") >= cfg.rate_ratio * F.col("p0")) & (change >= cfg.rate_change / 3))
        ok = (F.col("base_days") >= cfg.min_baseline_days) & (F.col("n") >= cfg.min_trials) & \
             (F.col("p0") > 0) & (F.col("p0") < 1)
        fired = rates.where(ok & big & (((change < 0) & worse_low) | ((change > 0) & worse_high))
                            & (_g_binomial(F.col("x"), F.col("n"), F.col("p0")) >= cfg.g_threshold))
        out.append(fired.select(
            "court_id", "metric_id", "period_start",
            F.when(F.abs(change) >= cfg.critical_rate_change, "critical").otherwise("warning").alias("severity"),
            F.col("p").alias("observed"), F.col("p0").alias("expected"),
            F.when(change < 0, "collapse").otherwise("surge").alias("direction")))

    return _anomaly_conditions(_union(out))


def _anomaly_conditions(fired: DataFrame) -> DataFrame:
    return _conform(fired.select(
        F.lit("anomaly").alias("kind"), F.concat(F.lit("anomaly:"), F.col("direction")).alias("rule_id"),
        "court_id", "metric_id", F.lit(None).alias("source"), F.col("period_start").alias("date"),
        "severity", "observed", "expected"))


def nb_cusum(spark: SparkSession, day_rows: DataFrame, start: date, as_of: date, cfg: rules.Anomaly,
             courts: DataFrame | None = None) -> DataFrame:
    """Accumulated evidence against each court's own baseline (jobs/alerts/cusum.py), on the driver:
    the day rows of the judged metrics are a few columns per court-day (~4M rows nationally)."""
    cat = catalog()
    rows = (day_rows.where(F.col("metric_id").isin(cfg.metrics) & F.col("period_start").between(start, as_of))
            .select("court_id", "metric_id", "period_start", "numerator", "denominator").toPandas())
    cal = day_frame(start, as_of)
    worse = {m: (cat.metric(m).direction in ("higher", "neutral"), cat.metric(m).direction in ("lower", "neutral"))
             for m in cfg.metrics}
    levels = {} if courts is None else {r["court_id"]: r["level"] for r in courts.select("court_id", "level").collect()}
    held = cusum.conditions(rows, cal, cfg, {m: cat.metric(m).is_ratio for m in cfg.metrics}, worse, levels)
    schema = "court_id string, metric_id string, period_start date, severity string, observed double, " \
             "expected double, direction string"
    return _anomaly_conditions(spark.createDataFrame(held if len(held) else [], schema))


def robust_z(spark: SparkSession, day_rows: DataFrame, start: date, as_of: date, cfg: rules.Anomaly) -> DataFrame:
    """The alternative measured against pooled_gtest: each day's value against the
    median and MAD of the same day type over the baseline, firing when it is
    beyond `z_threshold` on at least 2 of the last `window_days` days."""
    w, base = cfg.window_days, cfg.baseline_days
    rows = _with_calendar(spark, day_rows, start, as_of, cfg.metrics)
    same_type = Window.partitionBy("court_id", "metric_id", "working_day").orderBy("day").rangeBetween(-base, -1)
    scored = (rows.where(F.col("value").isNotNull())
              .withColumn("med", F.percentile_approx("value", 0.5, 1000).over(same_type))
              .withColumn("n_base", F.count("value").over(same_type)))
    dev = Window.partitionBy("court_id", "metric_id", "working_day").orderBy("day").rangeBetween(-base, -1)
    scored = scored.withColumn("absdev", F.abs(F.col("value") - F.col("med")))
    scored = scored.withColumn("mad", F.percentile_approx("absdev", 0.5, 1000).over(dev))
    scale = F.greatest(1.4826 * F.col("mad"), F.lit(0.05) * F.abs(F.col("med")), F.lit(1e-3))
    scored = scored.withColumn("z", (F.col("value") - F.col("med")) / scale)
    worse_low, worse_high = _worse(cfg.metrics)
    bad = (F.col("n_base") >= cfg.min_baseline_days / 2) & (
        ((F.col("z") <= -cfg.z_threshold) & worse_low) | ((F.col("z") >= cfg.z_threshold) & worse_high))
    recent = Window.partitionBy("court_id", "metric_id").orderBy("day").rangeBetween(-(w - 1), 0)
    scored = scored.withColumn("bad_days", F.sum(bad.cast("int")).over(recent))
    fired = scored.where(bad & (F.col("bad_days") >= 2))
    return _anomaly_conditions(fired.select(
        "court_id", "metric_id", "period_start",
        F.when(F.abs(F.col("z")) >= 2 * cfg.z_threshold, "critical").otherwise("warning").alias("severity"),
        F.col("value").alias("observed"), F.col("med").alias("expected"),
        F.when(F.col("z") < 0, "collapse").otherwise("surge").alias("direction")))


def lookback_start(as_of: date, days: int) -> date:
    return as_of - timedelta(days=days)
