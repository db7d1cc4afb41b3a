"""Production keeps Airflow's metadata in PostgreSQL: a real server, started here.

The same `courtwatch airflow` commands must migrate the schema and serialize
the DAGs there when AIRFLOW__DATABASE__SQL_ALCHEMY_CONN points at it.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

COURTWATCH = str(Path(sys.executable).parent / "courtwatch")

pytestmark = pytest.mark.system


def test_airflow_runs_on_postgresql(postgres):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=postgres.replace("postgresql://", "postgresql+psycopg2://"),
               COURTWATCH_PROFILE="test")

    def airflow(*args):
        done = subprocess.run([COURTWATCH, "airflow", *args], env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
        return done.stdout

    airflow("db", "migrate")
    assert "postgresql" in airflow("config", "get-value", "database", "sql_alchemy_conn")
    airflow("dags", "reserialize")
    assert "courtwatch_daily" in airflow("dags", "list")
    airflow("db", "check")
