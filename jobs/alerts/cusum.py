"""Anomalies by accumulated evidence: a CUSUM of log-likelihood ratios per court and metric.

The surveillance method of public health (Fricker 2008: CUSUM detects ahead of
CDC's EARS C1-C3): each day adds the evidence that the day's data give for a
shifted level against the court's expected one, and an alarm sounds when the
evidence since the last quiet moment reaches `cusum_threshold`. A strong day
alarms at once; a slow rate (a basic court closes a few mediations a day)
alarms when enough days have spoken, and a handful of events never does.

- Counts (filings, calls): negative binomial. The expected count of a day is
  the court's mean for its day type (working day, rest day) over the baseline,
  times its own weekday profile (shrunk towards flat), times the day's common
  factor across courts (the weighted median of observed over expected: the
  quiet week after a holiday, the Spring Festival's fraction of normal, which
  one season of history cannot teach a court); the over-dispersion is the
  court's own, from the same baseline. The Spring Festival weeks never teach
  the baseline, and give evidence only where enough courts show the day's
  factor. A court whose level has too few courts to learn its own day from
  (an intermediate court of a small province set, the Corps) is judged
  against a range, between its ordinary level and the whole country's day.
- Rates (answer rate, complaints, mediation success, e-file): binomial against
  the baseline rate, with the court's day-to-day excess variation (quasi-
  likelihood: the evidence divided by the Pearson dispersion).
- A handful of events is no evidence: counts are judged where the last
  `window_days` expect `min_expected_count` events, rates where the last week
  holds `min_trials` trials. Over-dispersion starts from a prior
  (`prior_dispersion`, worth `dispersion_prior_days` days) so that a court's
  first weeks, its weekly pattern not yet learnt, are not taken for a court
  without noise.

The evidence weighs the shift worth an alert against the edge of the court's
normal range (`count_normal_share`, `rate_normal_share` of the way to that
shift), not against the expected level itself: a court whose level moved a
little for good (a trend, a boundary change) gives no evidence day after day,
as it would against its old level (the indifference zone of a sequential
test).

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
RECENT_TRIALS_DAYS = 7


def conditions(day_rows: pd.DataFrame, calendar: pd.DataFrame, cfg: rules.Anomaly,
               is_ratio: dict[str, bool], worse: dict[str, tuple[bool, bool]],
               peer_group: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per (court, metric, day) an episode is open: severity, observed and expected.

    day_rows: court_id, metric_id, period_start (date), numerator, denominator.
    calendar: date, weekday, working_day, festival, one row per day from the first day row's.
    worse: metric -> (a fall is bad news, a rise is bad news).
    peer_group: court -> the courts it shares a day's common factor with (its level: an intermediate
    court's filings are appeals, which follow the basic courts' judgments, not the calendar).
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
            groups = np.array([(peer_group or {}).get(c, "") for c in series], dtype=object)
            llr, observed, expected = _count_evidence(x, cal, cfg, groups)
        fall_bad, rise_bad = worse[metric]
        for direction, bad in (("collapse", fall_bad), ("surge", rise_bad)):
            if not bad:
                continue
            open_ = _episodes(llr[direction], cfg)
            # a day an episode is held open without a verdict (too few trials, the festival) shows
            # the last judged day's figures
            judged = ~np.isnan(llr[direction][0])
            seen = _carried(observed, judged)
            wanted = _carried(expected[direction], judged)
            severity = _severity(seen, wanted, direction, is_ratio[metric], cfg)
            s, d = np.nonzero(open_)
            out.append(pd.DataFrame({
                "court_id": np.array(series, dtype=object)[s], "metric_id": metric,
                "period_start": np.array(days, dtype=object)[d], "severity": severity[s, d],
                "observed": seen[s, d], "expected": wanted[s, d], "direction": direction}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=columns)


def _carried(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """values where known, else the last known value of the series (an episode opens on a known day)."""
    t = np.where(known, np.arange(values.shape[1])[None, :], 0)
    last = np.maximum.accumulate(t, axis=1)
    return np.take_along_axis(values, last, axis=1)


def _lagged_sum(a: np.ndarray, width: int, lag: int) -> np.ndarray:
    """For each day t: the sum of a over days [t - lag - width, t - lag) (nan treated as 0)."""
    c = np.concatenate([np.zeros((a.shape[0], 1)), np.cumsum(np.nan_to_num(a), axis=1)], axis=1)
    t = np.arange(a.shape[1])
    hi, lo = np.clip(t - lag, 0, a.shape[1]), np.clip(t - lag - width, 0, a.shape[1])
    return c[:, hi] - c[:, lo]


def _recent(a: np.ndarray, w: np.ndarray, days: int) -> np.ndarray:
    """Weighted mean of the last `days` days (what a message shows as "recent")."""
    return _lagged_sum(a * w, days, -1) / np.maximum(_lagged_sum(w, days, -1), EPS)


def _count_evidence(x: np.ndarray, cal: pd.DataFrame, cfg: rules.Anomaly, groups: np.ndarray):
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
    # the day's common factor across courts: a national quiet week after a holiday, the Spring
    # Festival's fraction of normal, is every court's, and no court's incident
    # (within the court's level: the intermediate courts' filings are appeals, which the Spring
    # Festival moves otherwise). A level with too few courts to learn from takes the day as lying
    # between unmoved (1) and moved as much as all courts together, and each direction is judged
    # against the end of that range that favours it least: a collapse below what the whole
    # country's day explains, a surge above the court's ordinary level.
    learnt = present & enough & (mu > 0)
    counts = np.nan_to_num(x)
    factor, own = np.ones_like(x), np.zeros(x.shape, bool)
    levels = np.unique(groups)
    for group in levels:
        rows = groups == group
        factor[rows], own[rows] = _peer_factor(counts[rows], mu[rows], learnt[rows], cfg.peer_min_courts)
    low, high, peers = factor, factor, own
    # all courts' day is needed only where a level has no day of its own, and differs from the
    # level's only when there are several levels
    if len(levels) > 1 and not own.all():
        everyone, everyone_peers = _peer_factor(counts, mu, learnt, cfg.peer_min_courts)
        low = np.where(own, factor, np.minimum(1.0, everyone))
        high = np.where(own, factor, np.maximum(1.0, everyone))
        peers = own | everyone_peers
    # over-dispersion alpha (variance e + alpha e^2), by moments over the baseline's residuals from
    # what the day was expected to bring (e: the court's level times its level's day factor, so that
    # a quiet week every court shared is not taken for the court's own noise; a level without a
    # factor of its own against its ordinary level), of days that had a baseline of their own (a
    # court's first days' means are no expectation)
    e = mu * np.where(own, factor, 1.0)
    fitted = usable & enough & (mu > 0)
    resid = _lagged_sum(np.where(fitted, (x - e) ** 2 - e, 0), base, lag)
    square = _lagged_sum(np.where(fitted, e ** 2, 0), base, lag)
    days_fitted = _lagged_sum(fitted.astype(float), base, lag)
    # shrunk towards a prior of dispersion_prior_days days at prior_dispersion: a court's first weeks
    # (its weekly pattern not yet learnt) are not mistaken for a court without noise
    per_day = np.where(days_fitted > 0, square / np.maximum(days_fitted, EPS), mu ** 2)
    k = cfg.dispersion_prior_days
    alpha = (resid + k * cfg.prior_dispersion * per_day) / np.maximum(square + k * per_day, EPS)
    alpha = np.clip(alpha, 0.0, 2.0)
    # a handful of events says nothing: judged where the last window_days expect min_expected_count
    expected_recent = _lagged_sum(np.where(present, mu * low, 0), cfg.window_days, -1)
    judged = present & enough & (mu > 0) & (~festival | peers) & (expected_recent >= cfg.min_expected_count)
    # evidence for the shift worth an alert against the edge of the court's normal range, not against
    # its expected level itself: a level that moved a little for good gives no evidence day after
    # day (the indifference zone of a sequential test), and "back to normal" means back within it
    # (the edge: count_normal_share of the way to the smaller shift worth an alert)
    share = cfg.count_normal_share
    llr, expected = {}, {}
    weight = judged.astype(float)
    for direction, ratios, day in (("collapse", (cfg.count_ratio, cfg.critical_count_ratio), low),
                                   ("surge", (1 / cfg.count_ratio, 1 / cfg.critical_count_ratio), high)):
        edge = 1 + share * (ratios[0] - 1)
        llr[direction] = [np.where(judged, _nb_llr(counts, edge * mu * day, ratio * mu * day, alpha), np.nan)
                          for ratio in ratios]
        expected[direction] = _recent(mu * day, weight, cfg.window_days)
    return llr, _recent(counts, weight, cfg.window_days), expected


def _peer_factor(x: np.ndarray, mu: np.ndarray, fitted: np.ndarray, least: int) -> tuple[np.ndarray, np.ndarray]:
    """Per day, the weighted median over courts (weights: their expected counts) of observed over
    expected: what the day did to everyone. 1 on days with fewer than `least` courts to learn from.
    Causal: the same day's data of other courts. A court's own incident moves the median by little
    (at most its weight); a province-wide one, against the country's courts, by less than half."""
    factor = np.ones(x.shape[1])
    peers = fitted.sum(axis=0) >= least
    for t in np.nonzero(peers)[0]:
        on = fitted[:, t]
        ratio, weight = x[on, t] / mu[on, t], mu[on, t]
        order = np.argsort(ratio, kind="stable")
        cum = np.cumsum(weight[order])
        factor[t] = ratio[order][np.searchsorted(cum, cum[-1] / 2)]
    return np.clip(factor, 0.05, 20.0)[None, :], peers[None, :]


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
    # the court's excess day-to-day variation: the Pearson dispersion of the baseline days around
    # the baseline rate p0 of the day judged (at least binomial), from lagged sums, since
    # sum_s (x_s - n_s p0)^2 / n_s = sum x^2/n - 2 p0 sum x + p0^2 sum n
    x2n = _lagged_sum(np.where(present, np.nan_to_num(x) ** 2 / np.maximum(np.nan_to_num(n), EPS), 0), base, lag)
    pearson = (x2n - 2 * p0 * bx + p0 ** 2 * bn) / np.maximum(p0 * (1 - p0), EPS)
    phi = np.maximum(1.0, pearson / np.maximum(days_seen, EPS))
    # nor a rate on a handful of trials: the last week must hold min_trials (a week, not the 3-day
    # window: a basic court closing six mediations a day is judged, one filing two cases is not)
    recent_trials = _lagged_sum(np.where(present, n, 0), RECENT_TRIALS_DAYS, -1)
    judged = present & (days_seen >= cfg.min_baseline_days) & (p0 > 0) & (p0 < 1) & (bn >= cfg.min_trials) & \
        (recent_trials >= cfg.min_trials)
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
            edge = p0 + cfg.rate_normal_share * (p1s[0] - p0)  # against the edge of the normal range, as for counts
            llr[direction] = [np.where(judged & (p1 > 0) & (p1 < 1) & (p1 != p0),
                                       (xs * np.log(p1 / edge) + (ns - xs) * np.log((1 - p1) / (1 - edge))) / phi,
                                       np.nan)
                              for p1 in p1s]
    weight = np.where(judged, ns, 0.0)
    observed = _lagged_sum(xs * judged, cfg.window_days, -1) / np.maximum(_lagged_sum(weight, cfg.window_days, -1), EPS)
    baseline = np.where(judged, p0, np.nan)
    return llr, observed, {"collapse": baseline, "surge": baseline}


def _episodes(llrs: list[np.ndarray], cfg: rules.Anomaly) -> np.ndarray:
    """Which (series, day) an episode is open on: opened when the CUSUM of any alternative reaches
    the threshold, held until `normal_days_to_resolve` days in a row give evidence against every
    alternative. No single day adds more than `max_day_share` of the threshold (one odd day is not
    an incident)."""
    g, d = llrs[0].shape
    cap = cfg.cusum_threshold * cfg.max_day_share
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
