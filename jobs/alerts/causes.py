"""Root cause of an anomaly or threshold alert: which values of which dimension moved it most
(ThirdEye's "top contributors").

For every breakdown of schemas/metrics.yaml that splits the metric's numerator
(and its denominator, for a rate), each member's part of the change against
the baseline:

- a count (filings, calls): the member's count over the recent days against
  its share of the baseline times the expected total, so the parts add up to
  observed minus expected ("民事 −28" of a fall of 33);
- a rate (answer rate, e-file rate, mediation success): the member's excess
  over what its own baseline rate would have given on its recent
  denominator, as points of the whole rate ((x_i − n_i p0_i) / N); the parts
  add up to the change the members' own rates explain (a shift of mix between
  members is not a member's).

Causal: only days up to the episode's last day; the baseline is the one the
detector used, ending before the episode began. A pure function of pandas
frames (work/daily_breakdowns rows), which a test calls with literal rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from schemas.display import labels
from schemas.metric_catalog import catalog

TOP_PER_BREAKDOWN = 3
SEPARATOR = "；"  # between an alert's message and its causes
UNIT_ZH = {"cases": "件", "calls": "通", "mediations": "件"}


@dataclass(frozen=True)
class Cause:
    breakdown: str
    member: str
    observed: float  # the member's count or rate over the recent days
    expected: float  # what the baseline expected of it
    change: float  # its part of the change (count, or points of the whole rate)
    share: float  # that part over the whole change
    weight: float = 0.0  # its share of the baseline (of the count, or of the rate's denominator)

    @property
    def surprise(self) -> float:
        """How much more of the change it carries than of the whole: a breakdown with one member, or
        a fall spread evenly over members, explains nothing (ThirdEye ranks the same way)."""
        return self.share - self.weight

    @property
    def name(self) -> str:
        return labels().get(self.breakdown, {}).get(self.member, self.member)

    def text(self, is_ratio: bool, unit: str) -> str:
        if is_ratio:
            return f"{self.name} {self.change * 100:+.1f}个百分点".replace("-", "−")
        return f"{self.name} {self.change:+.0f}{UNIT_ZH.get(unit, '')}".replace("-", "−")


def windows(kind: str, window_start: date, window_end: date, recent_days: int, baseline_days: int,
            guard_days: int) -> tuple[tuple[date, date], tuple[date, date]]:
    """(recent, baseline) date ranges, inclusive: an anomaly's last `recent_days` against the
    detector's baseline; a threshold's month to date against the `baseline_days` before the month."""
    if kind == "threshold":
        month = window_end.replace(day=1)
        return (month, window_end), (month - timedelta(days=baseline_days), month - timedelta(days=1))
    recent = (max(window_start, window_end - timedelta(days=recent_days - 1)), window_end)
    base_end = window_start - timedelta(days=guard_days + 1)
    return recent, (base_end - timedelta(days=baseline_days - 1), base_end)


def contributors(rows: pd.DataFrame, metric_id: str, recent: tuple[date, date], baseline: tuple[date, date],
                 expected_total: float | None = None) -> list[Cause]:
    """The top members of each breakdown (up to TOP_PER_BREAKDOWN, those that moved the way the whole
    did, largest part first), the most telling first (Cause.surprise).

    rows: one court's work/daily_breakdowns rows (date, breakdown, member, measure, value).
    expected_total: for a count, what the detector expected over the recent days (else the
    baseline's daily mean times the recent days).
    """
    metric = catalog().metric(metric_id)
    num, den = metric.numerator, metric.denominator
    in_recent = rows["date"].between(*recent)
    in_base = rows["date"].between(*baseline)
    recent_days = (recent[1] - recent[0]).days + 1
    base_days = max(1, (baseline[1] - baseline[0]).days + 1)
    out: list[Cause] = []
    for b in catalog().breakdowns:
        names = {m.name for m in b.measures}
        if num not in names or (den is not None and den not in names):
            continue
        part = rows[rows["breakdown"] == b.by]
        if part.empty:
            continue

        def total(mask, measure):
            chosen = part[mask[part.index] & (part["measure"] == measure)]
            return chosen.groupby("member")["value"].sum()

        x, bx = total(in_recent, num), total(in_base, num)
        members = sorted(set(x.index) | set(bx.index))
        x, bx = x.reindex(members, fill_value=0.0), bx.reindex(members, fill_value=0.0)
        if den is None:
            expected = expected_total if expected_total is not None else bx.sum() / base_days * recent_days
            share = bx / bx.sum() if bx.sum() > 0 else pd.Series(1 / len(members), index=members)
            e = share * expected
            change, observed, expect = x - e, x, e
            weight = share
        else:
            n, bn = total(in_recent, den).reindex(members, fill_value=0.0), \
                total(in_base, den).reindex(members, fill_value=0.0)
            if n.sum() <= 0:
                continue
            p0_all = bx.sum() / bn.sum() if bn.sum() > 0 else np.nan
            p0 = (bx / bn.where(bn > 0)).fillna(p0_all)
            change = (x - n * p0) / n.sum()
            observed, expect = (x / n.where(n > 0)).fillna(0.0), p0
            weight = bn / bn.sum() if bn.sum() > 0 else n / n.sum()
        whole = change.sum()
        if not np.isfinite(whole) or whole == 0:
            continue
        same_way = change[np.sign(change) == np.sign(whole)].sort_values(key=np.abs, ascending=False)
        for member in same_way.index[:TOP_PER_BREAKDOWN]:
            out.append(Cause(b.by, str(member), float(observed[member]), float(expect[member]),
                             float(change[member]), float(change[member] / whole), float(weight[member])))
    return sorted(out, key=lambda c: -c.surprise)


def summary(causes: list[Cause], metric_id: str, most: int = 2) -> str:
    """"主要来自 民事 −28、网上立案 −20": the most telling member of each of the leading breakdowns."""
    metric = catalog().metric(metric_id)
    telling = [c for c in causes if c.surprise > 0.05]
    # a change spread evenly over every member still names where most of it is
    telling = telling or sorted(causes, key=lambda c: -abs(c.change))
    seen, named, chosen = set(), set(), []
    for c in telling:  # one member per breakdown: they split the same total different ways
        # and not one name twice: enforcement as a case type and as a procedure are the same cases
        if c.breakdown not in seen and c.name not in named:
            seen.add(c.breakdown)
            named.add(c.name)
            chosen.append(c)
        if len(chosen) == most:
            break
    if not chosen:
        return ""
    return "主要来自 " + "、".join(c.text(metric.is_ratio, metric.unit) for c in chosen)
