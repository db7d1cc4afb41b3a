"""An independent reading of metrics.md in plain pandas, written from the spec's
text, not from schemas/metrics.yaml: the gold tables are checked against it."""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd


def _periods(first: date, as_of: date):
    d = first
    while d <= as_of:
        yield "day", d, d, d
        d += timedelta(days=1)
    m = first.replace(day=1)
    while m <= as_of:
        nxt = (m.replace(day=28) + timedelta(days=4)).replace(day=1)
        yield "month", m, m, min(nxt - timedelta(days=1), as_of)
        m = nxt


def _local_date(s: pd.Series) -> pd.Series:
    # Spark hands timestamps to pandas as naive wall-clock times of the session
    # zone (Asia/Shanghai), so the date part is already the local date.
    return pd.to_datetime(s).dt.date


def court_metrics(cases: pd.DataFrame, calls: pd.DataFrame, meds: pd.DataFrame, courts: list[str],
                  first: date, as_of: date) -> pd.DataFrame:
    c = cases.copy()
    c["filed"] = pd.to_datetime(c["filed_date"]).dt.date
    c["closed"] = pd.to_datetime(c["closed_date"]).dt.date.where(c["closed_date"].notna(), None)
    c["trial_days"] = [max(0, (cl - f).days - s) if cl else np.nan
                       for f, cl, s in zip(c["filed"], c["closed"], c["suspended_days"])]
    h = calls.copy()
    h["day"] = _local_date(h["call_start"])
    h["due_day"] = _local_date(h["ticket_due_at"]).where(h["ticket_due_at"].notna(), None)
    m = meds.copy()
    m["applied_day"] = _local_date(m["applied_at"])
    m["closed_day"] = _local_date(m["closed_at"]).where(m["closed_at"].notna(), None)
    m["days"] = (pd.to_datetime(m["closed_at"]) - pd.to_datetime(m["applied_at"])).dt.total_seconds() / 86400

    rows = []
    for period, start, _, end in _periods(first, as_of):
        n_days = (end - start).days + 1

        def between(col):
            return col.map(lambda d: d is not None and not pd.isna(d) and start <= d <= end)

        filed_in = c[between(c["filed"])]
        closed_in = c[between(c["closed"])]
        open_at = lambda t: c[(c["filed"] <= t) & c["closed"].map(lambda x: x is None or x > t)]  # noqa: E731
        pending_end = open_at(end)
        pending_start = c[(c["filed"] < start) & c["closed"].map(lambda x: x is None or x >= start)]
        long_pending = pending_end[pending_end["filed"].map(lambda f: (end - f).days > 365)]
        with_limit = closed_in[closed_in["statutory_limit_days"] > 0]
        on_time = with_limit[with_limit["trial_days"] <= with_limit["statutory_limit_days"] + with_limit["extension_days"]]
        civil = closed_in[closed_in["case_type"] == "civil"]
        fi = closed_in[closed_in["procedure"] == "first_instance"]
        si = closed_in[(closed_in["procedure"] == "second_instance") & closed_in["appeal_result"].notna()]
        calls_in = h[between(h["day"])]
        tickets = h[between(h["due_day"])]
        applied = m[between(m["applied_day"])]
        mclosed = m[between(m["closed_day"])]
        civil_fi_filed = filed_in[(filed_in["case_type"] == "civil") & (filed_in["procedure"] == "first_instance")]

        def per_court(df, col="court_id", weights=None):
            if weights is None:
                return df.groupby(col).size()
            return df.groupby(col)[weights].sum()

        measures = {
            "case_filed": (per_court(filed_in), None),
            "case_closed": (per_court(closed_in), None),
            "case_pending_end": (per_court(pending_end), None),
            "clearance_rate": (per_court(closed_in), per_court(filed_in)),
            "closure_rate": (per_court(closed_in), per_court(pending_start).add(per_court(filed_in), fill_value=0)),
            "on_time_closure_rate": (per_court(on_time), per_court(with_limit)),
            "avg_trial_days": (per_court(closed_in, weights="trial_days"), per_court(closed_in)),
            "long_pending_12m": (per_court(long_pending), None),
            "disposition_time_days": (per_court(pending_end) * n_days, per_court(closed_in)),
            "mediation_withdrawal_rate": (per_court(civil[civil["closing_method"].isin(["mediation", "withdrawal"])]),
                                          per_court(civil)),
            "appeal_rate": (per_court(fi[fi["appealed"] == True]), per_court(fi)),  # noqa: E712
            "reversal_remand_rate": (per_court(si[si["appeal_result"].isin(["revised", "remanded"])], "origin_court_id"),
                                     per_court(si, "origin_court_id")),
            "online_filing_rate": (per_court(filed_in[filed_in["filing_channel"].isin(["online", "mobile"])]),
                                   per_court(filed_in)),
            "cross_region_filed": (per_court(filed_in[filed_in["filing_channel"] == "cross_region"]), None),
            "efile_sync_rate": (per_court(filed_in[filed_in["efile_synced"] == True]), per_court(filed_in)),  # noqa: E712
            "hotline_calls": (per_court(calls_in), None),
            "hotline_answer_rate": (per_court(calls_in[calls_in["answered"] == True]), per_court(calls_in)),  # noqa: E712
            "hotline_avg_wait_s": (per_court(calls_in, weights="wait_seconds"), per_court(calls_in)),
            "hotline_complaint_share": (per_court(calls_in[calls_in["category"] == "complaint"]), per_court(calls_in)),
            "hotline_satisfaction": (per_court(calls_in[calls_in["satisfaction"].notna()], weights="satisfaction"),
                                     per_court(calls_in[calls_in["satisfaction"].notna()])),
            "hotline_ticket_ontime_rate": (
                per_court(tickets[tickets["ticket_closed_at"].notna() & (pd.to_datetime(tickets["ticket_closed_at"])
                                                                         <= pd.to_datetime(tickets["ticket_due_at"]))]),
                per_court(tickets)),
            "mediation_applied": (per_court(applied), None),
            "mediation_success_rate": (per_court(mclosed[mclosed["outcome"] == "success"]), per_court(mclosed)),
            "mediation_avg_days": (per_court(mclosed, weights="days"), per_court(mclosed)),
            "judicial_confirmation_rate": (
                per_court(mclosed[(mclosed["outcome"] == "success") & (mclosed["judicial_confirmation"] == "confirmed")]),
                per_court(mclosed[mclosed["outcome"] == "success"])),
            "pre_litigation_diversion_rate": (
                per_court(applied[applied["stage"] == "pre_litigation"]),
                per_court(applied[applied["stage"] == "pre_litigation"]).add(per_court(civil_fi_filed), fill_value=0)),
        }
        for metric, (num, den) in measures.items():
            for court in courts:
                n = float(num.get(court, 0.0))
                if den is None:
                    rows.append((court, period, start, metric, n, n, None))
                else:
                    d = float(den.get(court, 0.0))
                    rows.append((court, period, start, metric, n / d if d else None, n, d))
    return pd.DataFrame(rows, columns=["court_id", "period", "period_start", "metric_id", "value",
                                       "numerator", "denominator"])


def region_metrics(court_rows: pd.DataFrame, high_court: dict[str, str | None]) -> pd.DataFrame:
    ratio = court_rows.groupby("metric_id")["denominator"].apply(lambda s: s.notna().any())
    frames = []
    with_high = court_rows.assign(region_id=court_rows["court_id"].map(high_court))
    frames.append(with_high.dropna(subset=["region_id"]).assign(region_level="HIGH"))
    frames.append(court_rows.assign(region_id="NATIONAL", region_level="NATIONAL"))
    out = (pd.concat(frames).groupby(["region_id", "region_level", "period", "period_start", "metric_id"])
           .agg(numerator=("numerator", "sum"), denominator=("denominator", lambda s: s.sum(min_count=1)))
           .reset_index())
    is_ratio = out["metric_id"].map(ratio)
    out["value"] = np.where(is_ratio, out["numerator"] / out["denominator"].replace(0, np.nan), out["numerator"])
    out.loc[is_ratio & (out["denominator"] == 0), "value"] = np.nan
    return out


def assert_frames_agree(gold: pd.DataFrame, expected: pd.DataFrame, keys: list[str], rel: float = 1e-9) -> None:
    g = gold.set_index(keys).sort_index()
    e = expected.set_index(keys).sort_index()
    missing = e.index.difference(g.index)
    extra = g.index.difference(e.index)
    assert len(missing) == 0, f"gold lacks {len(missing)} rows, e.g. {list(missing[:5])}"
    assert len(extra) == 0, f"gold has {len(extra)} unexpected rows, e.g. {list(extra[:5])}"
    for col in ("value", "numerator", "denominator"):
        a = pd.to_numeric(g[col], errors="coerce").to_numpy(dtype=float)
        b = pd.to_numeric(e.loc[g.index, col], errors="coerce").to_numpy(dtype=float)
        both_null = np.isnan(a) & np.isnan(b)
        close = np.isclose(a, b, rtol=rel, atol=0) | both_null
        if not close.all():
            bad = g.index[~close][:5]
            raise AssertionError(f"{col} differs at {list(bad)}: gold {a[~close][:5]} expected {b[~close][:5]}")
