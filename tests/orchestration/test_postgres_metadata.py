"""Production keeps Airflow's metadata in PostgreSQL: a real server, started here.

The same `courtwatch airflow` commands must migrate the schema and serialize
the DAGs there when AIRFLOW__DATABASE__SQL_ALCHEMY_CONN points at it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import free_port

COURTWATCH = str(Path(sys.executable).parent / "courtwatch")

pytestmark = [pytest.mark.system,
              pytest.mark.skipif(not shutil.which("initdb") or not shutil.which("pg_ctl"),
                                 reason="PostgreSQL server binaries (initdb, pg_ctl) are not installed")]


def _as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture
def postgres():
    # not under pytest's tmp_path: its parents are private to root, and the server runs as postgres
    tmp_path = Path(tempfile.mkdtemp(prefix="courtwatch-pg-"))
    data, sock = tmp_path / "pgdata", tmp_path / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(tmp_path, "postgres")
        shutil.chown(sock, "postgres")
    port = free_port()
    subprocess.run(_as_postgres(["initdb", "-D", str(data), "-U", "airflow", "--auth=trust"]),
                   check=True, capture_output=True)
    subprocess.run(_as_postgres(["pg_ctl", "-D", str(data), "-w", "-l", str(tmp_path / "pg.log"), "start",
                                 "-o", f"-p {port} -k {sock} -c listen_addresses=127.0.0.1"]),
                   check=True, capture_output=True)
    yield f"postgresql+psycopg2://airflow@127.0.0.1:{port}/postgres"
    subprocess.run(_as_postgres(["pg_ctl", "-D", str(data), "-m", "fast", "stop"]), capture_output=True)
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_airflow_runs_on_postgresql(postgres):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=postgres, COURTWATCH_PROFILE="test")

    def airflow(*args):
        done = subprocess.run([COURTWATCH, "airflow", *args], env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
        return done.stdout

    airflow("db", "migrate")
    assert "postgresql" in airflow("config", "get-value", "database", "sql_alchemy_conn")
    airflow("dags", "reserialize")
    assert "courtwatch_daily" in airflow("dags", "list")
    airflow("db", "check")
