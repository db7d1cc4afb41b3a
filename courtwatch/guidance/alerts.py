"""The alerts the loop follows, as the serving store holds them (schemas/tables/serving/alerts),
read through courtwatch/serving_store.py."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from courtwatch import serving_store
from courtwatch.settings import Profile
from jobs.guidance.loop import Alert

COLUMNS = ("alert_id", "kind", "kind_name", "rule_id", "court_id", "court_name", "high_court_id",
           "high_court_name", "province_name", "metric_id", "metric_name", "source", "source_name", "window_start",
           "window_end", "status", "status_name", "severity", "severity_name", "observed", "expected",
           "message", "first_detected_at")


def all_alerts(profile: Profile) -> list[dict]:
    return serving_store.rows(profile, f"SELECT {', '.join(COLUMNS)} FROM {{schema}}alerts "
                                       "ORDER BY window_start DESC, alert_id")


def one(profile: Profile, alert_id: str) -> dict | None:
    found = serving_store.rows(profile, f"SELECT {', '.join(COLUMNS)} FROM {{schema}}alerts WHERE alert_id = ?",
                               [alert_id])
    return found[0] if found else None


def as_loop_alert(row: dict) -> Alert:
    detected = row["first_detected_at"]
    arrived = detected.date() if isinstance(detected, datetime) else (detected or date.today())
    return Alert(row["alert_id"], row["court_id"], row["high_court_id"], arrived)


RECENT_DAYS = 14  # the alert page shows its metric's days from this many before the alert began


def recent_days(profile: Profile, row: dict) -> list[dict]:
    """The alert's metric at its court day by day, from RECENT_DAYS before its window to its end, beside
    the province's; for a feed alert, the source's batches and records received each day."""
    start, end = row["window_start"] - timedelta(days=RECENT_DAYS), row["window_end"]
    if row["metric_id"]:
        return serving_store.rows(
            profile, "SELECT period_start AS day, value, region_value FROM {schema}court_metrics "
                     "WHERE court_id = ? AND metric_id = ? AND period = 'day' AND period_start BETWEEN ? AND ? "
                     "ORDER BY period_start", [row["court_id"], row["metric_id"], start, end])
    return serving_store.rows(
        profile, "SELECT business_date AS day, sum(batches) FILTER (WHERE status = 'accepted') AS value, "
                 "sum(records) AS region_value FROM {schema}feed_daily "
                 "WHERE court_id = ? AND source = ? AND business_date BETWEEN ? AND ? "
                 "GROUP BY business_date ORDER BY business_date", [row["court_id"], row["source"], start, end])


def causes(profile: Profile, alert_id: str) -> list[dict]:
    """The alert's top contributors (serving.alert_causes), largest part of the change first."""
    return serving_store.rows(profile, "SELECT breakdown_name, member, observed, expected, change, share "
                                       "FROM {schema}alert_causes WHERE alert_id = ? ORDER BY rank", [alert_id])
