"""`make airflow` starts Airflow with one command: API server, scheduler, DAG processor, triggerer.

Started here as `courtwatch airflow standalone` on a free port with its own
home; the test waits for every component to report healthy and for the DAG
processor to have parsed courtwatch_daily, then reads it through the REST API.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from tests.conftest import free_port

COURTWATCH = str(Path(sys.executable).parent / "courtwatch")

pytestmark = [pytest.mark.system, pytest.mark.timeout(600)]


def test_airflow_starts_with_one_command(tmp_path):
    port = free_port()
    test_conf = yaml.safe_load(Path("conf/test.yaml").read_text())
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump({**test_conf, "airflow": {
        **test_conf["airflow"], "home": str(tmp_path / "airflow"), "api_port": port,
        "passwords_file": str(tmp_path / "secrets" / "airflow-passwords.json")}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["COURTWATCH_PROFILE"] = str(profile)
    log = (tmp_path / "standalone.log").open("w")
    proc = subprocess.Popen([COURTWATCH, "--conf", str(profile), "airflow", "standalone"], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        health, deadline = {}, time.time() + 400
        while time.time() < deadline:
            assert proc.poll() is None, (tmp_path / "standalone.log").read_text()[-3000:]
            try:
                health = requests.get(f"{base}/api/v2/monitor/health", timeout=5).json()
                if all(health.get(c, {}).get("status") == "healthy"
                       for c in ("metadatabase", "scheduler", "dag_processor", "triggerer")):
                    break
            except requests.RequestException:
                pass
            time.sleep(3)
        assert all(health.get(c, {}).get("status") == "healthy" for c in ("metadatabase", "scheduler")), health

        # one account per operator, its password generated (there is no admin:admin)
        passwords = json.loads((tmp_path / "secrets" / "airflow-passwords.json").read_text())
        assert set(passwords) == {"operator-01"}
        user, password = next(iter(passwords.items()))
        refused = requests.post(f"{base}/auth/token", json={"username": "admin", "password": "admin"}, timeout=10)
        assert refused.status_code in (401, 403), refused.status_code
        token = requests.post(f"{base}/auth/token", json={"username": user, "password": password},
                              timeout=10).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        dag = {}
        while time.time() < deadline:
            r = requests.get(f"{base}/api/v2/dags/courtwatch_daily", headers=auth, timeout=10)
            if r.status_code == 200:
                dag = r.json()
                break
            time.sleep(3)
        assert dag.get("dag_id") == "courtwatch_daily" and not dag.get("has_import_errors"), dag
        assert "courtwatch" in {t["name"] for t in dag["tags"]}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
