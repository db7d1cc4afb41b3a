"""The directory option signs people in to Airflow's UI and API (FAB's LDAP) from a real slapd.

Airflow's API server runs as `courtwatch airflow api-server` with a profile naming
the directory; an operator (in the operators group) and a person in no group sign in
through the UI's form and the API's token endpoint.
"""
from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from testbed import directory
from tests.conftest import free_port

COURTWATCH = str(Path(sys.executable).parent / "courtwatch")

pytestmark = [pytest.mark.system, pytest.mark.timeout(300)]


def test_operators_sign_in_to_airflow_from_the_directory(tmp_path):
    pw = {"operator": secrets.token_urlsafe(12), "nobody": secrets.token_urlsafe(12)}
    ldap = directory.start(tmp_path / "slapd", [
        {"uid": "chen.jie", "password": pw["operator"], "groups": ["courtwatch_operators"]},
        {"uid": "wang.fang", "password": pw["nobody"]}])
    port = free_port()
    conf = yaml.safe_load(Path("conf/test.yaml").read_text())
    conf.update(directory=ldap.settings(), airflow={
        **conf["airflow"], "home": str(tmp_path / "airflow"), "api_port": port,
        "passwords_file": str(tmp_path / "secrets" / "airflow-passwords.json")})
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump(conf))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
           "COURTWATCH_LDAP_BIND_PASSWORD": ldap.admin_password}
    airflow = [COURTWATCH, "--conf", str(profile), "airflow"]
    server = None
    try:
        migrated = subprocess.run([*airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=240)
        assert migrated.returncode == 0, migrated.stderr[-3000:]
        server = subprocess.Popen([*airflow, "api-server"], env=env, stdout=(tmp_path / "api.log").open("w"),
                                  stderr=subprocess.STDOUT, start_new_session=True)
        base, deadline = f"http://127.0.0.1:{port}", time.time() + 180
        while True:
            assert server.poll() is None and time.time() < deadline, (tmp_path / "api.log").read_text()[-3000:]
            try:
                if requests.get(f"{base}/api/v2/monitor/health", timeout=3).ok:
                    break
            except requests.RequestException:
                time.sleep(1)

        def token(username, password):
            return requests.post(f"{base}/auth/token", json={"username": username, "password": password}, timeout=30)

        def get(path, answer):
            return requests.get(f"{base}{path}", headers={"Authorization": f"Bearer {answer.json()['access_token']}"},
                                timeout=30).status_code

        operator, nobody = token("chen.jie", pw["operator"]), token("wang.fang", pw["nobody"])
        assert operator.status_code == 201 and get("/api/v2/dags", operator) == 200
        assert get("/auth/fab/v1/users", operator) == 403  # Op runs the pipeline; people are the directory's
        assert nobody.status_code == 201 and get("/api/v2/dags", nobody) == 403  # in no group: sees nothing
        for username, password in (("chen.jie", pw["nobody"]), ("nosuchperson", pw["operator"]), ("admin", "admin")):
            assert token(username, password).status_code == 401, username

        # the UI's sign-in form (with its CSRF token) gives the browser the same token
        for password, signed_in in ((pw["operator"], True), (pw["nobody"], False)):
            browser = requests.Session()
            form = browser.get(f"{base}/auth/login/", timeout=30).text
            csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
            browser.post(f"{base}/auth/login/", data={"username": "chen.jie", "password": password,
                                                      "csrf_token": csrf}, allow_redirects=False, timeout=30)
            assert ("_token" in browser.cookies) is signed_in
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
        ldap.stop()
