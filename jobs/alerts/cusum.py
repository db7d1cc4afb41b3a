"""Anomalies by accumulated evidence: a CUSUM of log-likelihood ratios per court and metric.

The surveillance method of public health (Fricker 2008: CUSUM detects ahead of
CDC's EARS C1-C3): each day adds the evidence that the day's data give for a
shifted level against the court's expected one, and an alarm sounds when the
evidence since the last quiet moment reaches `cusum_threshold`. A strong day
alarms at once; a slow rate (a basic court closes a few mediations a day)
alarms when enough days have spoken, and a handful of events never does.

- Counts (filings, calls): negative binomial. The expected count of a day is
  the court's mean for its day type (working day, rest day) over the baseline,
  times its own weekday profile (shrunk towards flat), and the over-dispersion
  is the court's own, from the same baseline. The Spring Festival weeks give
  no evidence for counts (they are their own effect, which one season of
  history cannot learn).
- Rates (answer rate, complaints, mediation success, e-file): binomial against
  the baseline rate, with the court's day-to-day excess variation (quasi-
  likelihood: the evidence divided by the Pearson dispersion).

The baseline ends `guard_days` before the day judged, so an incident does not
teach the baseline its new level while it is still being judged.

An open episode is held open (Grafana's "recovering") until the data are back
in their normal range for `normal_days_to_resolve` days in a row (the day's
evidence favours the expected level), then the CUSUM starts from zero.

Everything runs on dense (series x day) numpy arrays: a pure function of a
pandas frame of day rows, which a test calls with literal rows and the Spark
job (jobs/alerts/detectors.py) with gold's.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from jobs.alerts import rules

EPS = 1e-9


def conditions(day_rows: pd.DataFrame, calendar: pd.DataFrame, cfg: rules.Anomaly,
               is_ratio: dict[str, bool], worse: dict[str, tuple[bool, bool]]) -> pd.DataFrame:
    """One row per (court, metric, day) an episode is open: severity, observed and expected.

    day_rows: court_id, metric_id, period_start (date), numerator, denominator.
    calendar: date, weekday, working_day, festival, one row per day from the first day row's.
    worse: metric -> (a fall is bad news, a rise is bad news).
    """
    columns = ["court_id", "metric_id", "period_start", "severity", "observed", "expected", "direction"]
    if day_rows.empty:
        return pd.DataFrame(columns=columns)
    cal = calendar.sort_values("date").reset_index(drop=True)
    days = pd.to_datetime(cal["date"]).dt.date.tolist()
    index = {d: i for i, d in enumerate(days)}
    out = []
    for metric, rows in day_rows.groupby("metric_id"):
        rows = rows[rows["period_start"].isin(index)]
        series = sorted(rows["court_id"].unique())
        g = {c: i for i, c in enumerate(series)}
        shape = (len(series), len(days))
        x, n = np.full(shape, np.nan), np.full(shape, np.nan)
        gi, di = rows["court_id"].map(g).to_numpy(), rows["period_start"].map(index).to_numpy()
        x[gi, di] = rows["numerator"].to_numpy(float)
        n[gi, di] = rows["denominator"].to_numpy(float)
        if is_ratio[metric]:
            llr, observed, expected = _rate_evidence(x, n, cfg)
        else:
            llr, observed, expected = _count_evidence(x, cal, cfg)
        fall_bad, rise_bad = worse[metric]
        for direction, bad in (("collapse", fall_bad), ("surge", rise_bad)):
            if not bad:
                continue
            open_ = _episodes(llr[direction], cfg)
            severity = _severity(observed, expected, direction, is_ratio[metric], cfg)
            s, d = np.nonzero(open_)
            out.append(pd.DataFrame({
                "court_id": np.array(series, dtype=object)[s], "metric_id": metric,
                "period_start": np.array(days, dtype=object)[d], "severity": severity[s, d],
                "observed": observed[s, d], "expected": expected[s, d], "direction": direction}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=columns)


def _lagged_sum(a: np.ndarray, width: int, lag: int) -> np.ndarray:
    """For each day t: the sum of a over days [t - lag - width, t - lag) (nan treated as 0)."""
    c = np.concatenate([np.zeros((a.shape[0], 1)), np.cumsum(np.nan_to_num(a), axis=1)], axis=1)
    t = np.arange(a.shape[1])
    hi, lo = np.clip(t - lag, 0, a.shape[1]), np.clip(t - lag - width, 0, a.shape[1])
    return c[:, hi] - c[:, lo]


def _recent(a: np.ndarray, w: np.ndarray, days: int) -> np.ndarray:
    """Weighted mean of the last `days` days (what a message shows as "recent")."""
    return _lagged_sum(a * w, days, -1) / np.maximum(_lagged_sum(w, days, -1), EPS)


def _count_evidence(x: np.ndarray, cal: pd.DataFrame, cfg: rules.Anomaly):
    base, lag = cfg.baseline_days, cfg.guard_days
    present = ~np.isnan(x)
    working = cal["working_day"].to_numpy(bool)[None, :]
    festival = cal["festival"].to_numpy(bool)[None, :] if cfg.skip_counts_in_festivals else np.zeros_like(working)
    usable = present & ~festival  # the festival weeks teach the baseline nothing either
    mu = np.zeros_like(x)
    enough = np.zeros(x.shape, bool)
    for day_type in (working, ~working):
        mask = usable & day_type
        days_seen = _lagged_sum(mask.astype(float), base, lag)
        mean = _lagged_sum(np.where(mask, x, 0), base, lag) / np.maximum(days_seen, EPS)
        # the court's weekday profile within the day type, shrunk towards flat by a prior of
        # weekday_prior_days days at the type's mean
        profile = np.ones_like(x)
        weekday = cal["weekday"].to_numpy()
        for wd in range(7):
            on = (weekday == wd)[None, :] & mask
            seen = _lagged_sum(on.astype(float), base, lag)
            total = _lagged_sum(np.where(on, x, 0), base, lag)
            k = cfg.weekday_prior_days
            wd_profile = (total + k * mean) / np.maximum((seen + k) * mean, EPS)
            profile = np.where((weekday == wd)[None, :], wd_profile, profile)
        this_type = np.broadcast_to(day_type, x.shape)
        mu = np.where(this_type, mean * profile, mu)
        enough = np.where(this_type, days_seen >= cfg.min_baseline_days / 2, enough)
    # over-dispersion alpha (variance mu + alpha mu^2), by moments over the baseline's residuals
    resid = np.where(usable & (mu > 0), (x - mu) ** 2 - mu, 0)
    alpha = _lagged_sum(resid, base, lag) / np.maximum(_lagged_sum(np.where(usable, mu ** 2, 0), base, lag), EPS)
    alpha = np.clip(alpha, 0.0, 2.0)
    judged = usable & enough & (mu > 0)
    llr = {direction: [np.where(judged, _nb_llr(np.nan_to_num(x), mu, ratio * mu, alpha), np.nan)
                       for ratio in ratios]
           for direction, ratios in (("collapse", (cfg.count_ratio, cfg.critical_count_ratio)),
                                     ("surge", (1 / cfg.count_ratio, 1 / cfg.critical_count_ratio)))}
    weight = judged.astype(float)
    return llr, _recent(np.nan_to_num(x), weight, cfg.window_days), _recent(mu, weight, cfg.window_days)


def _nb_llr(x, mu0, mu1, alpha):
    """log NB(x; mu1) - log NB(x; mu0) at dispersion alpha; Poisson's as alpha -> 0."""
    k = 1 / np.maximum(alpha, 1e-8)
    with np.errstate(divide="ignore", invalid="ignore"):
        return x * np.log(np.maximum(mu1, EPS) / np.maximum(mu0, EPS)) + \
            (x + k) * (np.log1p(mu0 / k) - np.log1p(mu1 / k))


def _rate_evidence(x: np.ndarray, n: np.ndarray, cfg: rules.Anomaly):
    base, lag = cfg.baseline_days, cfg.guard_days
    present = ~np.isnan(n) & (np.nan_to_num(n) > 0)
    bx = _lagged_sum(np.where(present, x, 0), base, lag)
    bn = _lagged_sum(np.where(present, n, 0), base, lag)
    days_seen = _lagged_sum(present.astype(float), base, lag)
    p0 = bx / np.maximum(bn, EPS)
    # the court's excess day-to-day variation (Pearson dispersion, at least binomial)
    var = np.maximum(n * p0 * (1 - p0), EPS)
    pearson = np.where(present, (np.nan_to_num(x) - n * p0) ** 2 / var, 0)
    phi = np.maximum(1.0, _lagged_sum(pearson, base, lag) / np.maximum(days_seen, EPS))
    judged = present & (days_seen >= cfg.min_baseline_days) & (p0 > 0) & (p0 < 1) & (bn >= cfg.min_trials)
    # the shifts worth an alert (the rules' rate_change, or rate_ratio for small base rates such as
    # complaints), and twice as large: the larger is detected sooner, the smaller at all
    small_base = p0 < cfg.rate_change
    alternatives = {"collapse": [np.clip(p0 - k * cfg.rate_change, 0.005, None) for k in (1, 2)],
                    "surge": [np.clip(np.where(small_base, np.maximum(k * cfg.rate_ratio * p0, p0 + k * cfg.rate_change / 3),
                                               p0 + k * cfg.rate_change), None, 0.995) for k in (1, 2)]}
    xs, ns = np.nan_to_num(x), np.nan_to_num(n)
    llr = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for direction, p1s in alternatives.items():
            llr[direction] = [np.where(judged & (p1 > 0) & (p1 < 1) & (p1 != p0),
                                       (xs * np.log(p1 / p0) + (ns - xs) * np.log((1 - p1) / (1 - p0))) / phi, np.nan)
                              for p1 in p1s]
    weight = np.where(judged, ns, 0.0)
    observed = _lagged_sum(xs * judged, cfg.window_days, -1) / np.maximum(_lagged_sum(weight, cfg.window_days, -1), EPS)
    return llr, observed, np.where(judged, p0, np.nan)


def _episodes(llrs: list[np.ndarray], cfg: rules.Anomaly) -> np.ndarray:
    """Which (series, day) an episode is open on: opened when the CUSUM of any alternative reaches
    the threshold, held until `normal_days_to_resolve` days in a row give evidence against every
    alternative. No single day adds more than half the threshold (one odd day is not an incident)."""
    g, d = llrs[0].shape
    cap = cfg.cusum_threshold / 2
    s = [np.zeros(g) for _ in llrs]
    is_open = np.zeros(g, bool)
    normal_run = np.zeros(g, int)
    out = np.zeros((g, d), bool)
    for t in range(d):
        days = [llr[:, t] for llr in llrs]
        known = ~np.isnan(days[0])
        s = [np.where(known, np.maximum(0.0, si + np.minimum(np.nan_to_num(day), cap)), si) for si, day in zip(s, days)]
        normal = known & np.all([np.nan_to_num(day) <= 0 for day in days], axis=0)
        normal_run = np.where(normal, normal_run + 1, np.where(known, 0, normal_run))
        closing = is_open & (normal_run >= cfg.normal_days_to_resolve)
        breach = np.any([si >= cfg.cusum_threshold for si in s], axis=0)
        is_open = (is_open & ~closing) | (~is_open & breach)
        s = [np.where(closing, 0.0, si) for si in s]
        normal_run = np.where(is_open, normal_run, 0)
        out[:, t] = is_open
    return out


def _severity(observed, expected, direction, ratio: bool, cfg: rules.Anomaly) -> np.ndarray:
    if ratio:
        critical = np.abs(observed - expected) >= cfg.critical_rate_change
    else:
        r = observed / np.maximum(expected, EPS)
        critical = r <= cfg.critical_count_ratio if direction == "collapse" else r >= 1 / cfg.critical_count_ratio
    return np.where(critical, "critical", "warning")
