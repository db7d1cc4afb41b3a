"""courtwatch_daily: the warehouse's day, from the courts' batches to the high courts' digests.

pull_court[court] -> find_waiting -> ingest[high court] -> quality -> metrics -> alerts -> notify -> publish

- Ingestion is mapped over the high courts whose courts have batches waiting
  (all three sources of a province in one task), so a broken or slow group
  fails or delays only its own task; the rest of the day goes on. A group only
  judges its batches and lands them in bronze: `quality` runs once every group
  is done, checks every record landed and merges what passes into silver, once
  for all groups.
- Each Spark step is a task running `courtwatch step ...` of the active profile
  (conf/, $COURTWATCH_PROFILE; courtwatch/orchestration.py `run_step`): handed by the
  task's interpreter to the profile's warm Spark driver when it is up (`courtwatch
  worker up`: a task then costs its work, not a process's and a JVM's start), else
  the command in a process of its own; on the profile's master either way
  (local[*] by default, a cluster master by configuration).
- The steps update assets (silver, gold, alerts, the serving store); the maintenance DAG and
  downstream consumers are scheduled on them.
- Catch-up and backfill: `courtwatch airflow backfill create --dag-id
  courtwatch_daily --from-date ... --to-date ...`; each run's metrics are as of
  its business date (the day before the run, China time).
"""
from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, chain, task
from airflow.timetables.trigger import CronTriggerTimetable

from courtwatch import airflow_assets as assets
from courtwatch.orchestration import active_profile, airflow_home, run_step, start_date, step_task, task_failed
from courtwatch.pipeline import STEP_NAMES

profile = active_profile()
cfg = profile.airflow
tz = pendulum.timezone(cfg.timezone)


def business_date(dag_run) -> str:
    """The day a run closes: the day before it runs, in China time."""
    when = dag_run.logical_date or dag_run.run_after
    return pendulum.instance(when).in_timezone(tz).subtract(days=1).to_date_string()


with DAG(
    dag_id="courtwatch_daily",
    schedule=CronTriggerTimetable(cfg.schedule, timezone=tz),
    start_date=start_date(profile),
    catchup=cfg.catchup,
    max_active_runs=1,  # one writer at a time: runs of the warehouse are serial by design
    default_args={
        "retries": cfg.retries,
        "retry_delay": timedelta(minutes=cfg.retry_delay_minutes),
        "on_failure_callback": task_failed,
    },
    user_defined_macros={"business_date": business_date},
    doc_md=__doc__,
    tags=["courtwatch"],
) as dag:

    @task(task_id="pull_court", trigger_rule="all_done")
    def pull_court(endpoint: dict) -> str:
        """The pull step for one court: fetch its newly published batches into the landing zone."""
        from courtwatch.court_pull import pull

        return pull(profile.landing, endpoint["court_id"], endpoint["url"]).summary()

    @task
    def ingestion_groups(path: str) -> list[dict]:
        """One ingest task's arguments per group of waiting batches (`courtwatch step waiting`'s file)."""
        import json
        from pathlib import Path

        return [{"step": "ingest", "args": ["--courts", ",".join(g["courts"]), "--group", g["high_court_id"]],
                 "group": g["high_court_id"]} for g in json.loads(Path(path).read_text())]

    waiting_file = str(airflow_home(profile).resolve() / "runs" / "{{ run_id | replace(':', '-') }}" / "waiting.json")
    groups = ingestion_groups(waiting_file)
    # courtwatch/pipeline.py's steps, in its order: pull and ingest are mapped (over the
    # courts that publish over HTTP, over the high courts with batches waiting), the rest
    # are one task each.
    tasks = {
        "pull": pull_court.expand(endpoint=[e.model_dump() for e in profile.pull.endpoints]),
        "ingest": PythonOperator.partial(
            task_id="ingest", python_callable=run_step, max_active_tis_per_dagrun=1, outlets=assets.BRONZE,
            do_xcom_push=False,
            map_index_template="{{ task.op_kwargs['group'] }}",
        ).expand(op_kwargs=groups),
        "quality": step_task("quality", trigger_rule="all_done", outlets=assets.SILVER),
        "metrics": step_task("metrics", "--until", "{{ business_date(dag_run) }}", outlets=assets.GOLD),
        "alerts": step_task("alerts", outlets=[assets.ALERTS]),
        "notify": step_task("notify"),
        "publish": step_task("publish", outlets=[assets.SERVING, assets.DAY_CLOSED]),
    }
    assert tuple(tasks) == STEP_NAMES, "the DAG maps every step of courtwatch/pipeline.py, in order"
    # the groups ingestion is mapped over are found once every pull is done
    find_waiting = step_task("waiting", "--out", waiting_file, task_id="find_waiting", trigger_rule="all_done")
    tasks["pull"] >> find_waiting >> groups
    chain(*[tasks[name] for name in STEP_NAMES[1:]])
