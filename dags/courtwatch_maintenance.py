"""courtwatch_maintenance: compact (OPTIMIZE) and VACUUM every Delta table of the warehouse.

Scheduled on data, not on the clock: it runs when the daily DAG has closed a
day (its last step updates the asset courtwatch://warehouse/day-closed), so it
never competes with the day's writers. Retention: the profile's
maintenance.retention_hours (30 days by default), longer than any pause of
the daily run, whose incremental steps read silver's change feed.
"""
from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from courtwatch import airflow_assets as assets
from courtwatch.orchestration import active_profile, start_date, step_task, task_failed

profile = active_profile()
cfg = profile.airflow

with DAG(
    dag_id="courtwatch_maintenance",
    schedule=[assets.DAY_CLOSED],
    start_date=start_date(profile),
    catchup=False,
    max_active_runs=1,
    default_args={
        "retries": cfg.retries,
        "retry_delay": timedelta(minutes=cfg.retry_delay_minutes),
        "on_failure_callback": task_failed,
    },
    doc_md=__doc__,
    tags=["courtwatch"],
) as dag:
    step_task("maintain", task_id="optimize_and_vacuum")
