"""The alerts the loop follows, as the serving store holds them (schemas/tables/serving/alerts): read
only, opened for each request, so a newly published store is seen at once and never half of one."""
from __future__ import annotations

from datetime import date, datetime

from courtwatch.settings import Profile
from jobs.guidance.loop import Alert

COLUMNS = ("alert_id", "kind", "kind_name", "rule_id", "court_id", "court_name", "high_court_id",
           "high_court_name", "province_name", "metric_id", "metric_name", "source_name", "window_start",
           "window_end", "status", "status_name", "severity", "severity_name", "observed", "expected",
           "message", "first_detected_at")


def _query(profile: Profile, sql: str, params: list) -> list[dict]:
    if profile.serving.store == "postgres":
        import psycopg
        from psycopg.rows import dict_row

        schema = profile.serving.postgres_schema
        with psycopg.connect(profile.secret(profile.serving.postgres_dsn_var), row_factory=dict_row) as pg:
            return pg.execute(sql.format(table=f"{schema}.alerts").replace("?", "%s"), params).fetchall()
    import duckdb

    with duckdb.connect(profile.serving_store(), read_only=True) as con:
        cursor = con.execute(sql.format(table="alerts"), params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


def all_alerts(profile: Profile) -> list[dict]:
    return _query(profile, f"SELECT {', '.join(COLUMNS)} FROM {{table}} ORDER BY window_start DESC, alert_id", [])


def one(profile: Profile, alert_id: str) -> dict | None:
    rows = _query(profile, f"SELECT {', '.join(COLUMNS)} FROM {{table}} WHERE alert_id = ?", [alert_id])
    return rows[0] if rows else None


def as_loop_alert(row: dict) -> Alert:
    detected = row["first_detected_at"]
    arrived = detected.date() if isinstance(detected, datetime) else (detected or date.today())
    return Alert(row["alert_id"], row["court_id"], row["high_court_id"], arrived)
