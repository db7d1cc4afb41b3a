"""Where each table lives under the warehouse root: the one map of the lakehouse."""
from __future__ import annotations

BRONZE = "bronze/{source}"
SILVER = "silver/{source}"
COURTS = "silver/courts"
BATCHES = "ops/batches"
REJECTED = "ops/rejected_batches"
QUARANTINE = "ops/quarantine"
QUALITY = "ops/quality_results"
RUNS = "ops/runs"
DAILY_MEASURES = "work/daily_measures"
COURT_METRICS = "gold/court_metrics"
REGION_METRICS = "gold/region_metrics"
ALERTS = "gold/alerts"
NOTIFICATIONS = "ops/notifications"
SILENCES = "ops/silences"


def table_path(warehouse: str, table: str, **kw: str) -> str:
    return f"{warehouse.rstrip('/')}/{table.format(**kw)}"
