"""One Superset stack for the Superset and access tests, as `courtwatch superset up` brings it.

A small warehouse (with faults, so the feed-health charts have rejections and
quarantine) and its serving store, the SQL endpoint over the warehouse (SQL
Lab's), and a fresh Superset set up from the repository, with its own accounts
file. Package-scoped: test_superset.py and test_access.py share it.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
import yaml

from courtwatch import accounts
from courtwatch import superset_service as superset
from courtwatch.settings import load_profile
from tests.conftest import free_port


@pytest.fixture(scope="package")
def stack(tmp_path_factory, generated):
    root = tmp_path_factory.mktemp("superset")
    ctx = generated
    conf = yaml.safe_load(Path("conf/test.yaml").read_text())
    conf.update(warehouse=ctx.warehouse, landing=ctx.landing,
                secrets_file=str(Path(".secrets/courtwatch.env").resolve()),
                sql={"port": free_port(), "metastore": str(root / "metastore")},
                superset={"home": str(root / "superset"), "port": free_port(), "workers": 1,
                          "accounts_file": str(root / "accounts.env")})
    (root / "profile.yaml").write_text(yaml.safe_dump(conf))
    profile = load_profile(str(root / "profile.yaml"))
    superset.up(profile)
    s = profile.superset
    try:
        yield {"profile": profile, "base": f"http://{s.host}:{s.port}", "root": root, "ctx": ctx}
    finally:
        superset.down(profile)


def password(stack, username: str) -> str:
    if username == "admin":
        return stack["profile"].secret("SUPERSET_ADMIN_PASSWORD")
    return superset.passwords(stack["profile"])[username]


def login(stack, username: str, secret: str | None = None) -> requests.Session:
    """A signed-in API session (bearer token and CSRF token), as a script would make one."""
    r = requests.post(f"{stack['base']}/api/v1/security/login", timeout=60,
                      json={"username": username, "password": secret or password(stack, username),
                            "provider": "db", "refresh": False})
    r.raise_for_status()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    # SQL Lab's POSTs want a CSRF token too (bound to this session's cookie)
    csrf = session.get(f"{stack['base']}/api/v1/security/csrf_token/", timeout=60)
    if csrf.ok:
        session.headers["X-CSRFToken"] = csrf.json()["result"]
    return session


def listing(session, base, kind: str) -> list[dict]:
    r = session.get(f"{base}/api/v1/{kind}/", params={"q": json.dumps({"page_size": 100})}, timeout=60)
    r.raise_for_status()
    return r.json()["result"]


def chart_results(session, base, chart_id: int) -> list[dict]:
    """The answers to the chart's saved queries (a paged list: its page, then its row count),
    from the store (not the results cache)."""
    r = session.get(f"{base}/api/v1/chart/{chart_id}/data/", params={"force": "true"}, timeout=300)
    assert r.status_code == 200, f"chart {chart_id}: {r.status_code} {r.text[:500]}"
    return r.json()["result"]


def chart_rows(session, base, chart_id: int) -> list[dict]:
    """The chart's rows as its saved query asks for them (a paged list: its first page)."""
    return chart_results(session, base, chart_id)[0]["data"]


def courts(stack) -> list[dict]:
    """The registry's courts, as the warehouse holds them."""
    lines = (Path(stack["ctx"].landing) / "reference" / "courts.csv").read_text().splitlines()
    header = lines[0].split(",")
    return [dict(zip(header, line.split(","))) for line in lines[1:]]


def high_courts(stack) -> dict[str, str]:
    """High court id -> province code."""
    return {r["court_id"]: r["province_code"] for r in courts(stack) if r["level"] == "HIGH"}


def person(court_id: str) -> str:
    """The demo account of a court's first person (courtwatch/accounts.py)."""
    return accounts.username(court_id)
