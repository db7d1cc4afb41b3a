"""The alerts the loop follows, as the serving store holds them (schemas/tables/serving/alerts),
read through courtwatch/serving_store.py."""
from __future__ import annotations

from datetime import date, datetime

from courtwatch import serving_store
from courtwatch.settings import Profile
from jobs.guidance.loop import Alert

COLUMNS = ("alert_id", "kind", "kind_name", "rule_id", "court_id", "court_name", "high_court_id",
           "high_court_name", "province_name", "metric_id", "metric_name", "source_name", "window_start",
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
