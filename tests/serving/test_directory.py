"""The directory option: people sign in to Superset and the SQL endpoint from a real OpenLDAP server.

The test starts slapd (testbed/directory.py) with a high court's person, an
analyst, SQL Lab's service account and a person in no group. Superset's own
app (its LDAP sign-in, on a copy of the shared stack's metadata, which holds
the roles) and a SQL endpoint configured for the directory answer them.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from courtwatch import superset_service as superset
from courtwatch.settings import load_profile
from testbed import directory
from tests.conftest import free_port
from tests.serving.conftest import high_courts
from tests.serving.test_sql import BEELINE

pytestmark = [pytest.mark.system, pytest.mark.timeout(900)]

SIGN_IN_PROBE = """
import json, sys
from superset.app import create_app
app = create_app()
out = []
with app.test_client() as client:
    for username, password in json.loads(sys.argv[1]):
        r = client.post("/api/v1/security/login", json={"username": username, "password": password,
                                                         "provider": "ldap", "refresh": False})
        entry = {"status": r.status_code}
        if r.status_code == 200:
            headers = {"Authorization": "Bearer " + r.json["access_token"]}
            with app.app_context():  # the roles the sign-in gave the user (from the directory's groups)
                from superset import security_manager
                entry["roles"] = sorted(r.name for r in security_manager.find_user(username=username).roles)
            charts = client.get("/api/v1/chart/?q=(page_size:100)", headers=headers).json.get("result", [])
            chart = next((c for c in charts if c["slice_name"].startswith("各省关键指标")), None)
            if chart:
                data = client.get(f"/api/v1/chart/{chart['id']}/data/?force=true", headers=headers)
                entry["regions"] = sorted({row["region_name"] for row in data.json["result"][0]["data"]})
        out.append(entry)
print("RESULT " + json.dumps(out, ensure_ascii=False))
"""


@pytest.fixture(scope="module")
def people(stack):
    court_id = sorted(high_courts(stack))[0]
    pw = {name: secrets.token_urlsafe(12) for name in ("court", "analyst", "nobody", "sqllab")}
    return court_id, pw, [
        {"uid": "zhang.wei", "password": pw["court"], "groups": [f"courtwatch_high_court_{court_id}"]},
        {"uid": "li.na", "password": pw["analyst"], "analyst": True, "groups": ["courtwatch_analyst"]},
        {"uid": "wang.fang", "password": pw["nobody"]},
        {"uid": "sqllab", "password": pw["sqllab"], "analyst": True}]


@pytest.fixture(scope="module")
def ldap(tmp_path_factory, people):
    d = directory.start(tmp_path_factory.mktemp("slapd"), people[2])
    try:
        yield d
    finally:
        d.stop()


def _profile(stack, ldap, root: Path, **extra):
    conf = yaml.safe_load(Path(stack["root"] / "profile.yaml").read_text())
    conf.update(directory=ldap.settings(), **extra)
    (root / "profile.yaml").write_text(yaml.safe_dump(conf))
    return load_profile(str(root / "profile.yaml"))


def test_people_sign_in_to_superset_from_the_directory(stack, ldap, people, tmp_path, monkeypatch):
    court_id, pw, _ = people
    monkeypatch.setenv("COURTWATCH_LDAP_BIND_PASSWORD", ldap.admin_password)
    home = tmp_path / "superset"
    shutil.copytree(stack["profile"].superset.home, home, ignore=shutil.ignore_patterns("cache", "*.log", "*.pid"))
    profile = _profile(stack, ldap, tmp_path, superset={**stack["profile"].superset.model_dump(
        exclude={"cache"}), "home": str(home)})
    tries = [("zhang.wei", pw["court"]), ("li.na", pw["analyst"]), ("wang.fang", pw["nobody"]),
             ("zhang.wei", pw["analyst"]), ("zhang.wei", ""), ("nosuchperson", pw["court"])]
    done = subprocess.run([str(superset.SUPERSET_VENV / "bin" / "python"), "-c", SIGN_IN_PROBE,
                           json.dumps(tries)], env=superset.environment(profile), cwd=superset.ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:])
    court, analyst, nobody, *refused = result
    assert f"courtwatch_high_court_{court_id}" in court["roles"] and "courtwatch_viewer" in court["roles"]
    assert len(court["regions"]) == 1, court  # its own province, from its group's role
    assert "courtwatch_analyst" in analyst["roles"] and len(analyst["regions"]) > 1
    assert nobody["roles"] == ["Public"] and not nobody.get("regions"), nobody  # no group, no rows
    # another person's password, no password, a name the directory does not have
    assert all(r["status"] in (400, 401) for r in refused) and len(refused) == 3, refused


def test_the_sql_endpoint_lets_in_the_directorys_analysts_only(stack, ldap, people, tmp_path):
    _, pw, _ = people
    port = free_port()
    profile = _profile(stack, ldap, tmp_path, sql={"port": port, "metastore": str(tmp_path / "metastore")})
    courtwatch = str(Path(sys.executable).parent / "courtwatch")
    server = subprocess.Popen([courtwatch, "--conf", profile.source, "sql-server"],
                              env={**os.environ}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        deadline, line = time.time() + 240, ""
        while time.time() < deadline and "SQL endpoint" not in line:
            line = server.stdout.readline()
            assert line or server.poll() is None, "the SQL server stopped"
        url = f"jdbc:hive2://127.0.0.1:{port}/default"

        def count(*credentials):
            return subprocess.run([BEELINE, "-u", url, *credentials, "--silent=true", "--outputformat=csv2",
                                   "-e", "SELECT count(*) AS n FROM gold.alerts;"],
                                  capture_output=True, text=True, timeout=120)

        assert count("-n", "li.na", "-p", pw["analyst"]).returncode == 0
        assert count("-n", "sqllab", "-p", pw["sqllab"]).returncode == 0
        for credentials in (["-n", "zhang.wei", "-p", pw["court"]],  # a high court's person: not an analyst
                            ["-n", "li.na", "-p", pw["court"]], ["-n", "li.na"], []):
            out = count(*credentials)
            assert out.returncode != 0 and "\nn\n" not in f"\n{out.stdout}", credentials
    finally:
        server.terminate()
        server.wait(timeout=60)
