"""Threshold alerts worth reading: a month's metric, to date, below its standard.

alerts.md's rule (the month-to-date value below `warning_below`, where the
month's denominator reaches `min_denominator`) with two refinements, so that a
court crossing 0.90 and back on a few early-month cases is one alert, not ten:

- maturity: an episode opens only when the month's data are evidence of a
  breach, not noise: the denominator reaches the rule's minimum (or the
  reference interval's, schemas/reference_intervals.yaml, where larger) and
  the upper confidence bound of the month's rate (Wilson, one-sided at
  `confidence`) is below the standard. A large court's bound is its value; a
  small court's first twenty cases are not enough to call it below 0.90.
- hysteresis: an open episode holds until the value to date is back at or
  above the standard plus `recover_margin` for `normal_days_to_resolve` days;
  a new month starts afresh (its value to date is a new measurement).

A pure function of pandas day rows, as jobs/alerts/cusum.py is.
"""
from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd

from jobs.alerts import rules
from schemas.metric_catalog import reference_intervals

COLUMNS = ["court_id", "metric_id", "period_start", "severity", "observed", "expected"]


def wilson_upper(x: np.ndarray, n: np.ndarray, confidence: float) -> np.ndarray:
    """One-sided upper confidence bound of a binomial rate x / n (Wilson's score interval)."""
    z = NormalDist().inv_cdf(confidence)
    n_ = np.maximum(n, 1e-9)
    p = x / n_
    centre = p + z * z / (2 * n_)
    spread = z * np.sqrt(p * (1 - p) / n_ + z * z / (4 * n_ * n_))
    return np.minimum(1.0, (centre + spread) / (1 + z * z / n_))


def conditions(day_rows: pd.DataFrame, cfg: rules.Threshold) -> pd.DataFrame:
    """One row per (court, metric, day) a threshold episode is open.

    day_rows: court_id, metric_id, period_start (date), numerator, denominator (days with no row
    add nothing to the month's value).
    """
    if day_rows.empty:
        return pd.DataFrame(columns=COLUMNS)
    intervals = {r.metric_id: r for r in reference_intervals()}
    out = []
    for rule in cfg.rules:
        rows = day_rows[day_rows["metric_id"] == rule.metric_id]
        if rows.empty:
            continue
        interval = intervals.get(rule.metric_id)
        least = max(cfg.min_denominator, interval.min_denominator if interval else 0)
        rows = rows.assign(month=pd.to_datetime(rows["period_start"]).dt.to_period("M")) \
            .sort_values(["court_id", "period_start"])
        month = rows.groupby(["court_id", "month"], sort=False)
        num, den = month["numerator"].cumsum().to_numpy(float), month["denominator"].cumsum().to_numpy(float)
        value = np.where(den > 0, num / np.maximum(den, 1e-9), np.nan)
        opens = (den >= least) & (wilson_upper(num, den, cfg.confidence) < rule.warning_below)
        recovered = (den > 0) & (value >= rule.warning_below + cfg.recover_margin)
        is_open = _hold(rows["court_id"].to_numpy(), rows["month"].to_numpy(), opens, recovered,
                        cfg.normal_days_to_resolve)
        critical = value < rule.critical_below
        held = rows[is_open]
        out.append(pd.DataFrame({
            "court_id": held["court_id"].to_numpy(), "metric_id": rule.metric_id,
            "period_start": held["period_start"].to_numpy(),
            "severity": np.where(critical[is_open], "critical", "warning"),
            "observed": value[is_open],
            "expected": np.where(critical[is_open], rule.critical_below, rule.warning_below)}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=COLUMNS)


def _hold(court: np.ndarray, month: np.ndarray, opens: np.ndarray, recovered: np.ndarray, days: int) -> np.ndarray:
    """Open from a day that `opens` until `days` days in a row have `recovered`, within one court-month
    (rows are in court, day order)."""
    out = np.zeros(len(court), bool)
    is_open, normal_run = False, 0
    for i in range(len(court)):
        if i == 0 or court[i] != court[i - 1] or month[i] != month[i - 1]:
            is_open, normal_run = False, 0
        if is_open:
            normal_run = normal_run + 1 if recovered[i] else 0
            if normal_run >= days:
                is_open, normal_run = False, 0
        elif opens[i]:
            is_open, normal_run = True, 0
        out[i] = is_open
    return out
