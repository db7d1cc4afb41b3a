"""The daily DAG end to end with `airflow dags test`: real Airflow, real spark-submit.

One landing zone holds most courts' batches; one court publishes over HTTP
instead. The DAG (pull, ingest per high court, quality, metrics, alerts,
notify, publish) must build the same gold tables and serving store as
`courtwatch run` on all the data.
A second day then brings a batch that breaks its province's ingestion and a
court whose HTTP endpoint is down: only those two tasks fail.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
from datetime import date
from pathlib import Path

import pytest
import yaml

from testbed.generate.landing_zone import generate
from tests.conftest import strict_alert_rules, strict_alerts_file

START, DAYS = date(2026, 9, 1), 10
SEED = 6  # its ten days raise alerts under strict_alerts_file (gold/alerts is compared, and must not be empty)
PULLED_COURT = "B110002"  # publishes over HTTP (a court of the tiny profile's province 11)
COURTWATCH = str(Path(sys.executable).parent / "courtwatch")

pytestmark = [pytest.mark.system, pytest.mark.timeout(1500)]


def _copy_batches(src: Path, dst: Path, site: Path) -> None:
    """Everything into the landing zone, except the pulled court's batches, which go to its web site."""
    for f in src.rglob("*"):
        if f.is_file() and "_truth" not in f.parts:
            rel = f.relative_to(src)
            target = (site if PULLED_COURT in rel.parts else dst) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, target)
    files = sorted(str(p.relative_to(site)) for p in site.rglob("*") if p.is_file() and p.name != "index.json")
    (site / "index.json").write_text(json.dumps({"files": files}))


def _courtwatch(profile: Path, *args: str) -> subprocess.CompletedProcess:
    # this process's Airflow settings (conftest) belong to the test profile, not this one
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["COURTWATCH_PROFILE"] = str(profile)
    return subprocess.run([COURTWATCH, "--conf", str(profile), *args], env=env,
                          capture_output=True, text=True, timeout=1200)


def _airflow(profile: Path, *args: str) -> subprocess.CompletedProcess:
    return _courtwatch(profile, "airflow", *args)


def _task_states(home: Path) -> dict[str, str]:
    with sqlite3.connect(home / "airflow.db") as db:
        run_id = db.execute("SELECT run_id FROM dag_run WHERE dag_id = 'courtwatch_daily' "
                            "ORDER BY id DESC LIMIT 1").fetchone()[0]
        rows = db.execute("SELECT task_id, map_index, rendered_map_index, state FROM task_instance "
                          "WHERE run_id = ?", (run_id,)).fetchall()
    return {(f"{t}[{r or m}]" if m >= 0 else t): s for t, m, r, s in rows}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("airflow-e2e")
    gen, landing, site = root / "generated", root / "landing", root / "site"
    generate("tiny", str(gen), START, DAYS, seed=SEED)
    _copy_batches(gen, landing, site)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site)))
    server.RequestHandlerClass.log_message = lambda *a: None
    threading.Thread(target=server.serve_forever, daemon=True).start()

    test_conf = yaml.safe_load(Path("conf/test.yaml").read_text())
    profile = root / "profile.yaml"
    profile.write_text(yaml.safe_dump({
        **test_conf,
        "landing": str(landing), "warehouse": str(root / "warehouse-dag"),
        "alerts_file": str(strict_alerts_file(root)),  # gold/alerts is compared and must not be empty
        "airflow": {**test_conf["airflow"], "home": str(root / "airflow")},
        "spark": {**test_conf["spark"], "worker_dir": str(root / "spark-worker")},
        "pull": {"endpoints": [{"court_id": PULLED_COURT, "url": f"http://127.0.0.1:{server.server_address[1]}"}]},
    }))
    migrated = _airflow(profile, "db", "migrate")
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    # the DAG's steps run in the profile's warm Spark driver, as on a machine that runs `make demo`
    worker = _courtwatch(profile, "worker", "up")
    assert worker.returncode == 0, worker.stderr[-3000:]
    yield {"root": root, "gen": gen, "landing": landing, "site": site, "profile": profile,
           "home": root / "airflow", "warehouse": str(root / "warehouse-dag")}
    _courtwatch(profile, "worker", "down")
    server.shutdown()


def _same(spark, a: str, b: str, name: str, drop=()) -> None:
    left = spark.read.format("delta").load(f"{a}/{name}").drop(*drop)
    right = spark.read.format("delta").load(f"{b}/{name}").drop(*drop)
    assert left.count() == right.count() > 0, name
    assert left.exceptAll(right).count() == 0 and right.exceptAll(left).count() == 0, name


def test_daily_dag_builds_the_same_gold_as_courtwatch_run(setup, spark, run):
    reference = str(setup["root"] / "warehouse-run")
    run(str(setup["gen"]), reference, alert_rules=strict_alert_rules(setup["root"]))

    done = _airflow(setup["profile"], "dags", "test", "courtwatch_daily", "2026-09-12")
    states = _task_states(setup["home"])
    assert done.returncode == 0, done.stdout[-5000:]
    assert set(states.values()) == {"success"}, states
    assert {k for k in states if k.startswith("ingest[")} == {"ingest[H11]", "ingest[H31]", "ingest[SPC]"}
    assert states["pull_court[0]"] == "success"

    wh = setup["warehouse"]
    _same(spark, reference, wh, "gold/court_metrics")
    _same(spark, reference, wh, "gold/region_metrics")
    _same(spark, reference, wh, "gold/alerts", drop=("first_detected_at", "updated_at"))
    # and its last task published the same serving store the command does
    import duckdb

    store = duckdb.connect(f"{wh}-serving/courtwatch.duckdb", read_only=True)
    store.execute(f"ATTACH '{reference}-serving/courtwatch.duckdb' AS by_run (READ_ONLY)")
    for name in ("court_metrics", "region_metrics", "breakdowns"):
        assert store.execute(f"SELECT count(*) FROM (SELECT * FROM {name} EXCEPT ALL SELECT * FROM by_run.{name})"
                             ).fetchone() == (0,), name
    for source in ("cases", "hotline", "mediation"):
        _same(spark, reference, wh, f"silver/{source}",
              drop=("_ingested_at",))
    # every step ran in the warm driver, not in a JVM of its own
    worker = setup["root"] / "spark-worker"
    ran = (worker / "spark-worker.log").read_text()
    for step in ("waiting", "ingest", "quality", "metrics", "alerts", "notify", "publish"):
        assert re.search(rf"courtwatch step {step}\b.* finished \(exit 0\)", ran), step


def test_the_warm_driver_takes_commands_only_from_its_owner_with_its_key(setup):
    from multiprocessing import AuthenticationError
    from multiprocessing.connection import Client

    worker = setup["root"] / "spark-worker"
    assert (worker.stat().st_mode & 0o777) == 0o700 and ((worker / "worker.key").stat().st_mode & 0o777) == 0o600
    with pytest.raises(AuthenticationError):
        Client(str(worker / "worker.sock"), family="AF_UNIX", authkey=b"a guess")


def test_a_broken_province_or_court_endpoint_fails_only_its_own_task(setup, spark):
    day = date(2026, 9, 11)
    gen2 = setup["root"] / "generated-2"
    generate("tiny", str(gen2), START, DAYS + 1, seed=SEED, write_from=day)
    _copy_batches(gen2, setup["landing"], setup["site"])
    # A province's storage fails to read one file: an I/O error (EIO), here from a
    # link to /proc/self/mem, whose first page no process has mapped.
    broken = next((setup["landing"] / "cases").glob(f"B31*/{day}/*.jsonl*"))
    broken.unlink()
    broken.symlink_to("/proc/self/mem")
    # and a second HTTP court whose endpoint is down
    profile = yaml.safe_load(setup["profile"].read_text())
    profile["pull"]["endpoints"].append({"court_id": "B310001", "url": "http://127.0.0.1:9/down"})
    setup["profile"].write_text(yaml.safe_dump(profile))

    _airflow(setup["profile"], "dags", "test", "courtwatch_daily", "2026-09-13")
    states = _task_states(setup["home"])
    assert states["ingest[H31]"] == "failed" and states["pull_court[1]"] == "failed", states
    assert states["ingest[H11]"] == "success" and states["pull_court[0]"] == "success", states
    for step in ("quality", "metrics", "alerts", "notify", "publish"):
        assert states[step] == "success", states

    ledger = spark.read.format("delta").load(f"{setup['warehouse']}/ops/batches").where(f"business_date = '{day}'")
    landed = {r["court_id"] for r in ledger.where("status = 'accepted'").collect()}
    assert {"H11", "I1101", "SPC"} <= landed, landed  # other provinces' groups landed ...
    assert not any(c[1:].startswith("31") for c in landed), landed  # ... the broken one did not
    assert PULLED_COURT in landed  # pulled over HTTP, then ingested
    # gold moved on to the new day for the provinces that landed
    gold_days = spark.read.format("delta").load(f"{setup['warehouse']}/gold/court_metrics") \
        .where("period = 'day'").agg({"period_start": "max"}).collect()[0][0]
    assert gold_days == day
    failures = sorted(p.name for p in (setup["home"] / "failures").glob("*.json"))
    assert any(".ingest." in f for f in failures) and any(".pull_court." in f for f in failures), failures
