"""The CUSUM detector (jobs/alerts/cusum.py) on literal series: what must fire, how soon, and what must not."""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from courtwatch.settings import load_profile
from jobs.alerts import cusum
from schemas.metric_catalog import catalog
from schemas.workdays import day_frame

pytestmark = pytest.mark.unit
CFG = load_profile("test").alert_rules().anomaly.model_copy(update={"method": "nb_cusum"})
START = date(2026, 3, 2)  # a Monday; Qingming (Apr 4-6) and Labour Day (May 1-5) ahead, no festival
METRICS = ["case_filed", "hotline_calls", "hotline_answer_rate", "hotline_complaint_share",
           "mediation_success_rate", "efile_sync_rate"]
IS_RATIO = {m: catalog().metric(m).is_ratio for m in METRICS}
WORSE = {m: (catalog().metric(m).direction in ("higher", "neutral"), catalog().metric(m).direction in ("lower", "neutral"))
         for m in METRICS}


def _rows(metric, nums, dens=None, court="B1", start=START):
    return pd.DataFrame({"court_id": court, "metric_id": metric,
                         "period_start": [start + timedelta(days=i) for i in range(len(nums))],
                         "numerator": np.asarray(nums, float),
                         "denominator": np.nan if dens is None else np.asarray(dens, float)})


def _open_days(rows, start=START):
    cal = day_frame(start, rows["period_start"].max())
    held = cusum.conditions(rows, cal, CFG, IS_RATIO, WORSE)
    return held, sorted((d - start).days for d in held["period_start"])


def _held_at_courts(series, cal, start=START):
    """The conditions over several courts: series is (court, level, daily counts) each."""
    rows = pd.concat([_rows("case_filed", counts, court=court, start=start) for court, _, counts in series],
                     ignore_index=True)
    return cusum.conditions(rows, cal, CFG, IS_RATIO, WORSE, {court: level for court, level, _ in series})


def _filings(rng, days, per_working_day, start=START, factor=None):
    cal = day_frame(start, start + timedelta(days=days - 1))
    lam = np.where(cal["working_day"], per_working_day, per_working_day * 0.12)
    if factor is not None:
        lam = lam * factor
    return rng.poisson(lam)


def test_a_collapse_of_filings_opens_at_once_and_is_one_episode():
    rng = np.random.default_rng(1)
    factor = np.ones(140)
    factor[100:112] = 0.3  # days 100-111: the court files a third of its usual
    held, days = _open_days(_rows("case_filed", _filings(rng, 140, 40, factor=factor)))
    assert days and days[0] <= 102 and set(held["direction"]) == {"collapse"}
    assert days == list(range(days[0], days[-1] + 1))  # one episode, no flicker
    assert days[-1] <= 116  # back to normal: resolved within days, not weeks


def test_a_small_court_does_not_fire_on_a_handful_of_filings():
    for seed in range(5):
        rng = np.random.default_rng(seed)
        assert _open_days(_rows("case_filed", _filings(rng, 140, 2.5)))[1] == []  # ~2.5 filings a working day


def test_a_court_with_its_own_weekday_profile_is_not_an_anomaly():
    rng = np.random.default_rng(3)
    cal = day_frame(START, START + timedelta(days=139))
    monday_heavy = np.where(cal["weekday"] == 0, 2.2, np.where(cal["weekday"] == 4, 0.5, 1.0))
    assert _open_days(_rows("hotline_calls", _filings(rng, 140, 30, factor=monday_heavy)))[1] == []


def test_over_dispersed_counts_do_not_fire_where_poisson_would():
    rng = np.random.default_rng(4)
    cal = day_frame(START, START + timedelta(days=139))
    lam = np.where(cal["working_day"], 60, 7) * rng.gamma(8, 1 / 8, 140)  # day-to-day swings of ~35%
    assert _open_days(_rows("case_filed", rng.poisson(lam)))[1] == []


def test_a_slow_rate_is_caught_within_three_days():
    # a basic court closes ~6 mediations a day; success falls from 0.69 to 0.25 on day 100
    rng = np.random.default_rng(5)
    n = rng.poisson(6, 140)
    p = np.where(np.arange(140) >= 100, 0.25, 0.69)
    held, days = _open_days(_rows("mediation_success_rate", rng.binomial(n, p), n))
    assert days and 100 <= days[0] <= 103, days


def test_a_surge_of_complaints_is_bad_news_a_rise_in_answers_is_not():
    rng = np.random.default_rng(6)
    n = rng.poisson(80, 140)
    complaints = rng.binomial(n, np.where(np.arange(140) >= 100, 0.20, 0.05))
    held, days = _open_days(_rows("hotline_complaint_share", complaints, n))
    assert days and days[0] <= 102 and set(held["direction"]) == {"surge"}
    answered = rng.binomial(n, np.where(np.arange(140) >= 100, 0.99, 0.80))
    assert _open_days(_rows("hotline_answer_rate", answered, n))[1] == []


def test_the_spring_festival_gives_counts_no_evidence():
    start = date(2025, 12, 1)  # the 2026 festival fortnight in February
    rng = np.random.default_rng(7)
    cal = day_frame(start, start + timedelta(days=119))
    lam = np.where(cal["working_day"], 40, 5) * np.where(cal["festival"], 0.4, 1.0)
    assert _open_days(_rows("case_filed", rng.poisson(lam), start=start), start)[1] == []


def test_verdicts_are_causal():
    rng = np.random.default_rng(8)
    factor = np.ones(140)
    factor[110:] = 0.2
    rows = _rows("case_filed", _filings(rng, 140, 40, factor=factor))
    _, full = _open_days(rows)
    _, upto = _open_days(rows[rows["period_start"] <= START + timedelta(days=112)])
    assert [d for d in full if d <= 112] == upto


def test_a_day_every_court_shares_is_no_court_s_anomaly():
    # 12 basic courts; the week after a holiday every court files at 60% of normal (no alarm),
    # and one of them at 15% (an alarm)
    rng = np.random.default_rng(9)
    cal = day_frame(START, START + timedelta(days=119))
    quiet = np.where((np.arange(120) >= 90) & (np.arange(120) < 97), 0.6, 1.0)
    series = []
    for c in range(12):
        factor = quiet * np.where((c == 0) & (np.arange(120) >= 90) & (np.arange(120) < 97), 0.25, 1.0)
        lam = np.where(cal["working_day"], 30 + 3 * c, 4) * factor
        series.append((f"B{c}", "BASIC", rng.poisson(lam)))
    held = _held_at_courts(series, cal)
    assert set(held["court_id"]) == {"B0"}
    first = min((d - START).days for d in held["period_start"])
    assert 90 <= first <= 93


def test_an_episode_held_open_without_a_verdict_shows_its_last_judged_figures():
    # success falls on day 100; from day 104 the court closes no mediations for a week (no verdict)
    rng = np.random.default_rng(5)
    n = np.where((np.arange(140) >= 104) & (np.arange(140) < 111), 0, rng.poisson(6, 140))
    p = np.where(np.arange(140) >= 100, 0.25, 0.69)
    held, days = _open_days(_rows("mediation_success_rate", rng.binomial(n, p), n))
    assert {104, 105, 106} <= set(days)
    assert np.isfinite(held["observed"].astype(float)).all() and np.isfinite(held["expected"].astype(float)).all()


def test_a_small_move_of_a_court_s_level_for_good_is_not_an_anomaly():
    # a new boundary: from day 80 the court files 75% of what it did (inside its normal range)
    for seed in range(3):
        rng = np.random.default_rng(20 + seed)
        factor = np.where(np.arange(140) >= 80, 0.75, 1.0)
        assert _open_days(_rows("case_filed", _filings(rng, 140, 60, factor=factor)))[1] == [], seed


def test_a_level_with_too_few_courts_is_judged_in_the_festival_against_the_range_it_may_lie_in():
    # 12 basic courts file at 45% of normal in the festival fortnight, two intermediate courts (too
    # few to learn their level's day from) at 80%: neither is an anomaly (judged against all courts'
    # day, the intermediate courts would surge); one intermediate court's filings collapse to a fifth
    # from the Friday before the fortnight, and are caught within it (the day it is judged against
    # is the country's, so the evidence builds slower than a court of a level with its own day)
    start = date(2025, 11, 10)
    rng = np.random.default_rng(10)
    cal = day_frame(start, start + timedelta(days=119))
    festival = cal["festival"].to_numpy()
    day = np.array([(d - start).days for d in pd.to_datetime(cal["date"]).dt.date])
    began = (date(2026, 2, 6) - start).days
    series = []
    for c in range(12):
        lam = np.where(cal["working_day"], 30 + 3 * c, 4) * np.where(festival, 0.45, 1.0)
        series.append((f"B{c}", "BASIC", rng.poisson(lam)))
    for c in (1, 2):
        collapse = np.where((c == 1) & (day >= began) & (day < began + 14), 0.2, 1.0)
        lam = np.where(cal["working_day"], 25, 1) * np.where(festival, 0.8, 1.0) * collapse
        series.append((f"I{c}", "INTERMEDIATE", rng.poisson(lam)))
    held = _held_at_courts(series, cal, start)
    assert set(held["court_id"]) == {"I1"} and set(held["direction"]) == {"collapse"}
    assert began <= min((d - start).days for d in held["period_start"]) <= began + 7


def test_a_quiet_week_every_court_shared_is_not_a_court_s_own_noise():
    # two weeks in the baseline when all 12 courts filed half their usual (the day factor explains
    # them): they must not widen a court's over-dispersion, or its later collapse to 40% is caught
    # late (days 105-106 when they did, against 100-102 now)
    rng = np.random.default_rng(2)
    cal = day_frame(START, START + timedelta(days=119))
    t = np.arange(120)
    shared = np.where(((t >= 60) & (t < 67)) | ((t >= 74) & (t < 81)), 0.5, 1.0)
    series = []
    for c in range(12):
        own = np.where((c == 0) & (t >= 100) & (t < 110), 0.4, 1.0)
        lam = np.where(cal["working_day"], 40 + 2 * c, 5) * shared * own
        series.append((f"B{c}", "BASIC", rng.poisson(lam)))
    held = _held_at_courts(series, cal)
    assert set(held["court_id"]) == {"B0"}
    assert 100 <= min((d - START).days for d in held["period_start"]) <= 102
