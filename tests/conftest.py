"""The suite's shared parts: one Spark session, the test profile, and a pipeline run.

Every test belongs to exactly one tier (a marker, usually a module's
`pytestmark`):

- `unit`: functions on literal rows or pure Python, no pipeline run;
  `make test-fast` runs this tier alone, in a few minutes.
- `integration`: a real Spark with Delta tables, small data, the pipeline run.
- `system`: services the test starts (Airflow, Superset, a browser, a cluster,
  object storage, database and mail servers).

A test without a tier, or with two, fails at collection.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from courtwatch.settings import DATA_UMASK

os.umask(DATA_UMASK)  # what the tests write is created as the command creates it: owner and group only

# A test-only key: real keys come from the environment or .secrets/ (make secrets).
os.environ.setdefault("COURTWATCH_HASH_KEY", "test-only-hash-key-not-a-secret")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

TEST_KEY = os.environ["COURTWATCH_HASH_KEY"].encode()
TIERS = ("unit", "integration", "system")


def pytest_collection_modifyitems(config, items):
    for item in items:
        tiers = [t for t in TIERS if item.get_closest_marker(t)]
        if len(tiers) != 1:
            raise pytest.UsageError(f"{item.nodeid} has tiers {tiers}: mark it with exactly one of {TIERS}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for servers a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="module")
def postgres():
    """A real PostgreSQL server of the machine's (Debian's) binaries, started for the module:
    its URI postgresql://courtwatch@127.0.0.1:PORT/postgres (trust on loopback)."""
    initdb = shutil.which("initdb") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))), None)
    if not initdb:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    pg_ctl = str(Path(initdb).parent / "pg_ctl")
    # not under pytest's tmp_path: its parents are private to root, and the server runs as postgres
    tmp_path = Path(tempfile.mkdtemp(prefix="courtwatch-pg-"))
    data, sock = tmp_path / "pgdata", tmp_path / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(tmp_path, "postgres")
        shutil.chown(sock, "postgres")
    port = free_port()
    subprocess.run(_as_postgres([str(initdb), "-D", str(data), "-U", "courtwatch", "--auth=trust"]),
                   check=True, capture_output=True)
    subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-w", "-l", str(tmp_path / "pg.log"), "start",
                                 "-o", f"-p {port} -k {sock} -c listen_addresses=127.0.0.1"]),
                   check=True, capture_output=True)
    yield f"postgresql://courtwatch@127.0.0.1:{port}/postgres"
    subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-m", "fast", "stop"]), capture_output=True)
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.fixture(scope="session")
def profile():
    from courtwatch.settings import load_profile

    return load_profile("test")


@pytest.fixture(scope="session")
def spark(profile):
    from courtwatch.spark_session import spark_session

    session = spark_session(profile, app_name="courtwatch-tests")
    yield session
    session.stop()


@pytest.fixture
def landing(tmp_path):
    from tests.handmade import Landing

    return Landing(tmp_path / "landing")


@pytest.fixture
def warehouse(tmp_path):
    return str(tmp_path / "warehouse")


def run_pipeline(spark, landing, warehouse: str, alert_rules=None, steps: tuple[str, ...] | None = None, **kw):
    """The whole pipeline on a landing zone and a warehouse, as `courtwatch run` runs it
    (the test profile's settings otherwise; `kw` sets any of the run's own, e.g. as_of),
    or only the named `steps` of it, in the pipeline's order (a test of silver need not
    build gold). Returns the run's context: what each step found."""
    from courtwatch import pipeline
    from courtwatch.settings import load_profile

    profile = load_profile("test")
    rules = alert_rules or profile.alert_rules()
    if alert_rules is None:  # digests of a test run stay beside its warehouse
        rules = rules.model_copy(update={"notify": rules.notify.model_copy(
            update={"outbox_dir": f"{warehouse}-outbox"})})
    landing = landing.root if hasattr(landing, "batch") else landing  # a hand-made zone (tests/handmade.py)
    ctx = pipeline.RunContext.of(spark, profile, landing=str(landing),
                                 warehouse=warehouse, hash_key=TEST_KEY, alert_rules=rules, **kw)
    chosen = tuple(s for s in pipeline.STEPS if steps is None or s.name in steps)
    return pipeline.run(ctx, chosen)


@pytest.fixture(scope="session")
def generated(spark, tmp_path_factory):
    """A generated warehouse run through the whole pipeline, shared by the serving tests (one run, not
    one per module): 35 days of the tiny profile with incidents and faults, so every dashboard has rows.
    Its context: .landing, .warehouse, .serving_store (tests must not change them)."""
    from datetime import date

    from testbed.generate.landing_zone import generate

    root = tmp_path_factory.mktemp("generated")
    generate("tiny", str(root / "landing"), date(2026, 9, 1), 35, seed=11, incidents=3, fault_share=0.06)
    ctx = run_pipeline(spark, root / "landing", str(root / "warehouse"))
    # The guidance loop takes two alerts up; the next run's follow-up and publish show it
    ctx.guidance_database = f"sqlite:///{root / 'guidance.db'}"
    ctx.loop = take_up_two_alerts(spark, ctx.warehouse, ctx.guidance_database)
    run_pipeline(spark, root / "landing", ctx.warehouse, steps=("alerts", "publish"),
                 guidance_database=ctx.guidance_database)
    return ctx


def take_up_two_alerts(spark, warehouse: str, database: str) -> dict[str, str]:
    """Through the loop's store, as the service takes actions: the first firing alert from new to
    closed (a true alarm); the second assigned three weeks ago with a due date long past (overdue).
    Returns {"closed": alert_id, "overdue": alert_id}."""
    from datetime import datetime, timedelta, timezone

    from courtwatch.accounts import username
    from courtwatch.guidance import store
    from jobs.guidance.followup import warehouse_alerts
    from jobs.guidance.loop import Actor

    firing = sorted((a for a in warehouse_alerts(spark, warehouse) if a.status == "firing" and a.high_court_id),
                    key=lambda a: a.alert_id)
    closed, overdue = firing[0], firing[1]
    engine = store.engine(database)
    for a, steps in ((closed, [("high_court", "acknowledge", {}), ("high_court", "assign", {"note": "请核查"}),
                               ("court", "reply", {"note": "已核查整改"}),
                               ("high_court", "close", {"label": "true_alarm"})]),
                     (overdue, [("high_court", "acknowledge", {}), ("high_court", "assign", {"note": "请核查"})])):
        then = datetime.now(timezone.utc) - timedelta(days=21 if a is overdue else 0)
        for role, action, fields in steps:
            court = a.high_court_id if role == "high_court" else a.court_id
            if action == "assign":
                fields = {**fields, "due_date": (then + timedelta(days=3)).date()}
            store.take(engine, Actor(username(court), role, court), a.loop_alert(), action, fields, then)
    engine.dispose()
    return {"closed": closed.alert_id, "overdue": overdue.alert_id}


@pytest.fixture
def run(spark):
    """Run the whole pipeline, as `courtwatch run` does: run(landing, warehouse, **kw)."""
    return lambda landing, warehouse, **kw: run_pipeline(spark, landing, warehouse, **kw)


def strict_alerts_file(folder) -> Path:
    """conf/alerts.yaml with e-file generation held to 0.97, written into `folder`: a week or two of tiny
    data breaches no standard of conf/alerts.yaml with evidence, and tests that compare gold/alerts
    between two ways of running need some (the tiny profile's larger courts generate e-files ~0.91)."""
    rules = yaml.safe_load(Path("conf/alerts.yaml").read_text())
    for rule in rules["threshold"]["rules"]:
        if rule["metric_id"] == "efile_sync_rate":
            rule["warning_below"] = 0.97
    path = Path(folder) / "alerts.yaml"
    path.write_text(yaml.safe_dump(rules))
    return path


def strict_alert_rules(folder):
    from courtwatch.settings import load_profile

    return load_profile("test").model_copy(update={"alerts_file": str(strict_alerts_file(folder))}).alert_rules()


def table(spark, warehouse, name):
    """A warehouse table by its path under the root (e.g. "gold/alerts")."""
    from schemas.warehouse import table as declared

    return declared(name.replace("/", ".")).read(spark, warehouse)
