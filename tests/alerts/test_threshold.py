"""Threshold alerts (jobs/alerts/threshold.py) on literal rows: maturity and hysteresis."""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from courtwatch.settings import load_profile
from jobs.alerts import threshold

pytestmark = pytest.mark.unit
CFG = load_profile("test").alert_rules().threshold  # efile_sync_rate: warning below 0.90, critical below 0.75
START = date(2026, 3, 1)


def _rows(nums, dens, metric="efile_sync_rate", court="B1"):
    return pd.DataFrame({"court_id": court, "metric_id": metric,
                         "period_start": [START + timedelta(days=i) for i in range(len(nums))],
                         "numerator": np.asarray(nums, float), "denominator": np.asarray(dens, float)})


def _open_days(held):
    return [(d - START).days for d in held["period_start"]]


def test_a_value_hovering_at_the_standard_is_one_episode_not_ten():
    # 40 filings a day at a court whose e-file rate sits at 0.90, its value to date dipping just under
    # it every other day: the old rule (value to date below 0.90) flickered on and off; nothing here
    # is evidence of a breach
    x = [35, 37] * 15 + [35]
    held = threshold.conditions(_rows(x, [40] * 31), CFG)
    assert held.empty
    rng = np.random.default_rng(4)
    # a real breach (0.80 for the month) opens once, then stays open
    x = rng.binomial(40, 0.80, 31)
    days = _open_days(threshold.conditions(_rows(x, [40] * 31), CFG))
    assert days and days == list(range(days[0], 31)) and days[0] <= 5


def test_small_early_month_counts_are_not_judged():
    # 6 filings a day, 4 with an e-file (0.67): the month's 30 filings arrive on day 5, but
    # it takes more than that to be sure of a rate below 0.90
    held = threshold.conditions(_rows([4] * 10, [6] * 10), CFG)
    assert _open_days(held)[0] >= 4
    assert (held["severity"] == "critical").all() and (held["expected"] == 0.75).all()


def test_an_episode_holds_until_the_value_is_back_above_the_standard_with_margin():
    # 0.80 for 10 days, then 0.99 a day: the month's value climbs back above 0.90 + 0.02
    x = [32] * 10 + [99] * 21
    n = [40] * 10 + [100] * 21
    held = threshold.conditions(_rows(x, n), CFG)
    num, den = np.cumsum(x), np.cumsum(n)
    back = [i for i in range(31) if num[i] / den[i] >= 0.92]
    assert back[1] == back[0] + 1
    # open from the breach through the first recovered day; closed on the second
    days = _open_days(held)
    assert days == list(range(days[0], back[0] + 1)) and days[0] <= 5


def test_each_month_starts_afresh():
    # 0.75 through March, 0.95 from April 1: April's value to date is a new measurement, and no
    # recovery period carries over from March
    x, n = [30] * 31 + [38] * 9, [40] * 40
    days = _open_days(threshold.conditions(_rows(x, n), CFG))
    assert days and days[-1] == 30


def test_wilson_bound():
    assert threshold.wilson_upper(np.array([90.0]), np.array([100.0]), 0.9)[0] == pytest.approx(0.9322, abs=1e-3)
    assert threshold.wilson_upper(np.array([0.0]), np.array([10.0]), 0.9)[0] == pytest.approx(0.1411, abs=1e-3)
