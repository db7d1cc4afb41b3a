"""The detectors on hand-made series: what must fire, and what must not."""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from courtwatch.settings import load_profile
from jobs.alerts import detectors

pytestmark = pytest.mark.unit
CFG = load_profile("test").alert_rules()
START = date(2026, 4, 1)  # no festival in April-June but Qingming, Labour Day and Dragon Boat


def _ledger(spark, days_by_source):
    rows = [("B1", s, START + timedelta(days=d), "accepted") for s, days in days_by_source.items() for d in days]
    return spark.createDataFrame(rows, "court_id string, source string, business_date date, status string")


def _held(df):
    return sorted((r["source"] or r["metric_id"], r["date"]) for r in df.collect())


def test_feed_silence_after_a_week_of_deliveries(spark):
    days = [d for d in range(0, 20) if d not in (10, 11, 12)]
    held = _held(detectors.feed(_ledger(spark, {"cases": days}), START + timedelta(days=19), CFG.feed))
    # silent on 10, 11, 12: the condition holds from the second silent date
    assert held == [("cases", START + timedelta(days=11)), ("cases", START + timedelta(days=12))]


def test_feed_no_alert_without_a_full_week_before_or_for_one_missing_day(spark):
    sparse = [0, 1, 2, 3, 4, 8, 9]  # only 5 days before the gap
    one_gap = [d for d in range(0, 20) if d != 10]
    assert _held(detectors.feed(_ledger(spark, {"hotline": sparse}), START + timedelta(days=9), CFG.feed)) == []
    assert _held(detectors.feed(_ledger(spark, {"hotline": one_gap}), START + timedelta(days=19), CFG.feed)) == []


def test_feed_still_silent_at_the_as_of_date(spark):
    held = _held(detectors.feed(_ledger(spark, {"mediation": range(0, 10)}), START + timedelta(days=13), CFG.feed))
    assert held[0] == ("mediation", START + timedelta(days=11)) and held[-1][1] == START + timedelta(days=13)


def _days(spark, metric, nums, dens=None, court="B1"):
    def value(i, n):  # as gold holds it: the count, or the ratio (null on a zero denominator)
        return float(n) if dens is None else (n / dens[i] if dens[i] else None)

    rows = [(court, "day", START + timedelta(days=i), metric, value(i, n), float(n),
             None if dens is None else float(dens[i])) for i, n in enumerate(nums)]
    return spark.createDataFrame(rows, "court_id string, period string, period_start date, metric_id string, "
                                       "value double, numerator double, denominator double")


def test_threshold_month_to_date_once_the_month_shows_it(spark):
    # 20 calls a day, 80% answered: below the 0.85 warning, above 0.70 critical
    df = _days(spark, "hotline_answer_rate", [16] * 10, [20] * 10)
    held = detectors.threshold(spark, df, CFG.threshold).orderBy("date").collect()
    # the denominator reaches 30 on the second day, but 32 of 40 is not yet evidence of a rate
    # below 0.85: the one-sided 90% upper bound falls below it on the fifth day (100 calls)
    assert held[0]["date"] == START + timedelta(days=4) and len(held) == 6
    assert held[0]["kind"] == "threshold" and held[0]["rule_id"] == "threshold:hotline_answer_rate"
    assert held[0]["severity"] == "warning" and held[0]["expected"] == 0.85


def _weekly_counts(rng, n_days, working_level, weekend_level):
    from schemas.workdays import is_working_day

    return [rng.poisson(working_level if is_working_day(START + timedelta(days=i)) else weekend_level)
            for i in range(n_days)]


@pytest.mark.parametrize("method", ["pooled_gtest", "robust_z", "nb_cusum"])
def test_collapse_of_filings_is_caught_within_three_days(spark, method):
    rng = np.random.default_rng(1)
    counts = _weekly_counts(rng, 90, 40, 5)
    collapse_from = 70
    counts[collapse_from:] = [int(c * 0.15) for c in counts[collapse_from:]]
    cfg = CFG.anomaly.model_copy(update={"method": method})
    held = detectors.anomaly(spark, _days(spark, "case_filed", counts), START, START + timedelta(days=89), cfg)
    days = sorted(r["date"] for r in held.collect())
    assert days, "the collapse must be caught"
    assert START + timedelta(days=collapse_from) <= days[0] <= START + timedelta(days=collapse_from + 3)


def test_weekday_weekend_swing_and_small_counts_stay_quiet(spark):
    rng = np.random.default_rng(2)
    big = _weekly_counts(rng, 90, 60, 4)  # a sharp but ordinary weekly pattern
    small = _weekly_counts(rng, 90, 2, 0)  # a small court's noisy trickle
    df = _days(spark, "case_filed", big).unionByName(_days(spark, "case_filed", small, court="B2"))
    held = detectors.anomaly(spark, df, START, START + timedelta(days=89), CFG.anomaly)
    assert held.count() == 0


def test_rate_drop_is_caught_and_is_causal(spark):
    rng = np.random.default_rng(3)
    n = [40] * 80
    x = [rng.binomial(40, 0.92) for _ in range(60)] + [rng.binomial(40, 0.5) for _ in range(20)]
    df = _days(spark, "hotline_answer_rate", x, n)
    as_of = START + timedelta(days=79)
    held = sorted(r["date"] for r in detectors.anomaly(spark, df, START, as_of, CFG.anomaly).collect())
    assert START + timedelta(days=60) <= held[0] <= START + timedelta(days=62)
    # causal: cutting the series after day 61 leaves the verdicts up to day 61 as they were
    cut = df.where(df.period_start <= START + timedelta(days=61))
    early = sorted(r["date"] for r in detectors.anomaly(spark, cut, START, START + timedelta(days=61),
                                                        CFG.anomaly).collect())
    assert early == [d for d in held if d <= START + timedelta(days=61)]


def test_zero_denominators_hold_no_condition_and_raise_nothing(spark):
    """Days without calls, and courts with no baseline, divide by zero. Spark's ANSI
    mode raises on x / 0 wherever the division is evaluated, and whether generated
    code skips it behind a filter is an optimisation, not a contract: with code
    generation off (Spark's fallback for oversized generated code) every
    projection is evaluated."""
    quiet = _days(spark, "hotline_answer_rate", [0] * 40 + [5] * 40, [0] * 40 + [40] * 40)
    empty_counts = _days(spark, "case_filed", [0] * 80, court="B2")
    as_of = START + timedelta(days=79)
    spark.conf.set("spark.sql.codegen.wholeStage", "false")
    try:
        assert _held(detectors.threshold(spark, quiet, CFG.threshold)) == [
            ("hotline_answer_rate", d) for d in (START + timedelta(days=i) for i in range(40, 80))
            if d.month > START.month]
        assert detectors.anomaly(spark, quiet.unionByName(empty_counts), START, as_of, CFG.anomaly).count() == 0
    finally:
        spark.conf.unset("spark.sql.codegen.wholeStage")
