"""What the Airflow DAGs read from the active profile: one place, so that the
DAG files stay thin and the same DAGs run locally or against a cluster.

- `airflow_environment`: the environment `courtwatch airflow ...` runs Airflow
  in (home, DAG folder, metadata database, bind address,
  sign-in: generated operator passwords, or the directory).
- `step_task`: the task that runs one `courtwatch step ...` (`run_step`: handed
  to the profile's warm Spark driver when it is up, else a process of its own).
- `task_failed`: the failure callback.
"""
from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from courtwatch import ROOT
from courtwatch.accounts import directory_environment
from courtwatch.settings import Profile, load_profile

log = logging.getLogger("courtwatch")

FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"


def start_date(profile: Profile):
    """The DAGs' first day, at midnight in the profile's time zone."""
    import pendulum

    d, tz = profile.airflow.start_date, profile.airflow.timezone
    return pendulum.datetime(d.year, d.month, d.day, tz=tz)


def airflow_home(profile: Profile) -> Path:
    return Path(profile.airflow.home)


def airflow_environment(profile: Profile) -> dict[str, str]:
    s = profile.airflow
    home = airflow_home(profile)
    home.mkdir(parents=True, exist_ok=True)
    Path(s.passwords_file).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__API__HOST": s.api_host,
        "AIRFLOW__API__PORT": str(s.api_port),
        "AIRFLOW__API__BASE_URL": f"http://{s.api_host}:{s.api_port}",
        # one account per operator, each with its own generated password (never admin:admin)
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{person}:admin" for person in s.operators),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": s.passwords_file,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{s.api_host}:{s.api_port}/execution/",
        # the embedded default; production sets a PostgreSQL URL in the environment (README)
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": os.environ.get(
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}"),
        "COURTWATCH_PROFILE": profile.source,
        # the courtwatch command (the DAG's steps) comes from this environment
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "GX_ANALYTICS_ENABLED": "false",
        "NO_PROXY": "*",
    }
    if profile.directory is not None:
        # people sign in to the UI and API from the directory (FAB's LDAP), not with operator
        # passwords; `airflow standalone` would force the simple manager back, so a directory
        # runs Airflow's components one by one (README "The directory")
        env.update({"AIRFLOW__CORE__AUTH_MANAGER": FAB_AUTH_MANAGER,
                    "AIRFLOW__FAB__CONFIG_FILE": str(Path(__file__).resolve().parent / "airflow_webserver_config.py"),
                    **directory_environment(profile)})
    for var, secret in (("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW_JWT_SECRET"),
                        ("AIRFLOW__API__SECRET_KEY", "AIRFLOW_SECRET_KEY")):
        try:
            env[var] = profile.secret(secret)
        except RuntimeError:
            pass  # Airflow then makes one per start (fine for `dags test`)
    return env


def step_command(profile: Profile, step: str, *args: str) -> list[str]:
    """`courtwatch step STEP ARGS...` of the profile, as a command line."""
    return [str(Path(sys.executable).parent / "courtwatch"), "--conf", profile.source, "step", step, *args]


def run_step(step: str, args: list[str] | tuple[str, ...] = (), group: str | None = None) -> None:
    """A DAG task's work: `courtwatch step STEP ARGS...` of the active profile, on the profile's master.
    Handed by the task's own interpreter to the profile's warm Spark driver when one is up
    (`courtwatch worker up`, courtwatch/spark_worker.py: no process, no JVM of its own), else run
    as that command in a process of its own. Its output goes to the task's log; a failure raises.
    `group` only names a mapped task (the province of an ingest task)."""
    from airflow.exceptions import AirflowException

    from courtwatch import spark_worker

    profile = active_profile()
    command = step_command(profile, step, *args)
    rc = spark_worker.forward(profile, command[1:])
    if rc is None:  # no warm driver: the command itself, as from a shell
        env = {**os.environ, "COURTWATCH_PROFILE": profile.source, "PYSPARK_PYTHON": sys.executable,
               "PYSPARK_DRIVER_PYTHON": sys.executable, "GX_ANALYTICS_ENABLED": "false"}
        rc = subprocess.run(command, env=env).returncode
    if rc:
        raise AirflowException(f"{shlex.join(command)} failed (exit {rc})")


def step_task(step: str, *args: str, task_id: str | None = None, **kwargs):
    """The task of one pipeline step (`run_step`); `args` may hold templates ("{{ ... }}"), which Airflow
    renders (op_kwargs are templated)."""
    from airflow.providers.standard.operators.python import PythonOperator

    return PythonOperator(task_id=task_id or step, python_callable=run_step,
                          op_kwargs={"step": step, "args": list(args)}, do_xcom_push=False, **kwargs)


def active_profile() -> Profile:
    return load_profile(os.environ.get("COURTWATCH_PROFILE"))


def task_failed(context) -> None:
    """Say clearly what failed, where to look, and leave a record for operators."""
    ti = context["task_instance"]
    exc = context.get("exception")
    record = {
        "dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": ti.task_id, "map_index": ti.map_index,
        "group": getattr(ti, "rendered_map_index", None),  # e.g. the province of an ingest task
        "try_number": ti.try_number, "error": f"{type(exc).__name__}: {exc}" if exc else None,
        "log_url": getattr(ti, "log_url", None), "at": datetime.now(timezone.utc).isoformat(),
    }
    log.error("courtwatch task failed: %s.%s[%s] in %s (try %s): %s; log: %s", record["dag_id"],
              record["task_id"], record["group"] or record["map_index"], record["run_id"], record["try_number"],
              record["error"], record["log_url"])
    out = airflow_home(active_profile()) / "failures"
    out.mkdir(parents=True, exist_ok=True)
    name = f"{ti.dag_id}.{ti.task_id}.{ti.map_index}.{ti.run_id}".replace(":", "-").replace("/", "-")
    (out / f"{name}.json").write_text(json.dumps(record, ensure_ascii=False, indent=1))
