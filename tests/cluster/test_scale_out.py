"""Scale-out by configuration: the same jobs on a Spark standalone cluster, and
with the warehouse on an S3-compatible object store.

Only the profile differs (conf/cluster.yaml, conf/s3.yaml). The tables each
builds must equal those the test's local session builds from the same landing
zone.
"""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import boto3
import duckdb
import pytest
import yaml
from moto.server import ThreadedMotoServer

from courtwatch import spark_cluster as cluster
from courtwatch.settings import load_profile
from testbed.generate.landing_zone import generate
from tests.conftest import free_port, run_pipeline, strict_alert_rules

pytestmark = [pytest.mark.system, pytest.mark.timeout(1200)]
COURTWATCH = str(Path(sys.executable).parent / "courtwatch")
# what two runs of the same data may differ in: when they ran and with which run id
VOLATILE = {"first_detected_at", "updated_at", "_run_id", "ingested_at", "_ingested_at", "quarantined_at"}
COMPARED = ("silver/cases", "silver/hotline", "gold/court_metrics", "gold/region_metrics", "gold/alerts",
            "ops/quarantine")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, spark):
    """A landing zone with an incident and faults, and the warehouse the local session builds from it."""
    root = tmp_path_factory.mktemp("scale-out")
    generate("tiny", str(root / "landing"), date(2026, 9, 1), 7, seed=6, incidents=1, fault_share=0.05)
    # gold/alerts is compared too and must not be empty (tests/conftest.py: strict_alerts_file)
    run_pipeline(spark, root / "landing", str(root / "local"), alert_rules=strict_alert_rules(root))
    return root


def _same_rows(spark, a: str, b: str) -> bool:
    """The same multiset of rows, volatile columns aside (nulls compare equal, as in EXCEPT ALL)."""
    left, right = spark.read.format("delta").load(a), spark.read.format("delta").load(b)
    cols = sorted(c for c in left.columns if c not in VOLATILE)
    left, right = left.select(cols), right.select(cols)
    return left.count() > 0 and left.exceptAll(right).isEmpty() and right.exceptAll(left).isEmpty()


def _courtwatch(profile: Path, landing: str, warehouse: str, env: dict | None = None) -> None:
    # the same hashing key: tests/conftest.py exports it, the subprocess inherits it
    done = subprocess.run([COURTWATCH, "--conf", str(profile), "run", "--landing", landing, "--warehouse", warehouse],
                          capture_output=True, text=True, timeout=1100, env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stderr[-3000:]


# --- a Spark standalone cluster -------------------------------------------------

@pytest.fixture(scope="module")
def standalone(tmp_path_factory, reference):
    root = tmp_path_factory.mktemp("cluster")
    conf = yaml.safe_load(Path("conf/cluster.yaml").read_text())
    port = free_port()
    conf["cluster"].update(port=port, webui_port=free_port(), home=str(root / "cluster"), worker_memory="1500m")
    conf["spark"]["master"] = f"spark://127.0.0.1:{port}"
    conf["spark"]["conf"].update({"spark.executor.memory": "1g", "spark.driver.memory": "1g",
                                  "spark.ui.enabled": "false"})
    conf["secrets_file"] = str(Path(".secrets/courtwatch.env").resolve())
    conf["alerts_file"] = str(reference / "alerts.yaml")
    (root / "cluster.yaml").write_text(yaml.safe_dump(conf))
    profile = load_profile(str(root / "cluster.yaml"))
    cluster.up(profile)
    try:
        yield {"root": root, "profile": root / "cluster.yaml", "home": Path(profile.cluster.home)}
    finally:
        cluster.down(profile)


# a driver that does not know the cluster's secret (spark.authenticate): the master refuses it
STRANGER = """
import sys
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master(sys.argv[1]).config("spark.driver.host", "127.0.0.1")
         .config("spark.driver.bindAddress", "127.0.0.1").config("spark.executor.memory", "512m").getOrCreate())
print("ROWS", spark.range(10).count())
"""


def _command_lines() -> list[str]:
    lines = []
    for p in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            lines.append(p.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            pass  # the process ended meanwhile
    return lines


def test_tables_on_the_cluster_equal_the_local_ones(reference, standalone, spark):
    profile = load_profile(str(standalone["profile"]))
    # the shared secret is in no process's command line (every local account can read those)
    secret = profile.secret("COURTWATCH_SPARK_AUTH_SECRET")
    assert not any(secret in line for line in _command_lines())
    # the stranger knocks while the real run goes on (the master takes ~60 s to give up on it)
    env = {k: v for k, v in os.environ.items() if k != "PYSPARK_SUBMIT_ARGS"}
    stranger = subprocess.Popen([sys.executable, "-c", STRANGER, profile.spark_master], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    _courtwatch(standalone["profile"], str(reference / "landing"), str(reference / "on-cluster"))
    out, _ = stranger.communicate(timeout=300)
    assert stranger.returncode != 0 and "ROWS" not in out
    # the executors ran on the workers: each worker has an application directory
    assert len(list((standalone["home"] / "work").glob("app-*/*"))) >= 2
    for table in COMPARED:
        assert _same_rows(spark, f"{reference}/local/{table}", f"{reference}/on-cluster/{table}"), table


# --- the warehouse on an S3-compatible object store ------------------------------

BUCKET = "courtwatch"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "courtwatch-test", "AWS_SECRET_ACCESS_KEY": "courtwatch-test",
               "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def object_store(tmp_path_factory, reference):
    """moto's S3 server on a free loopback port, with an empty bucket, and conf/s3.yaml pointed at it."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    conf = yaml.safe_load(Path("conf/s3.yaml").read_text())
    conf["spark"]["conf"].update({"spark.hadoop.fs.s3a.endpoint": endpoint, "spark.driver.memory": "1g",
                                  "spark.sql.shuffle.partitions": "2", "spark.ui.enabled": "false"})
    conf["secrets_file"] = str(Path(".secrets/courtwatch.env").resolve())
    conf["alerts_file"] = str(reference / "alerts.yaml")  # the rules the local run raised its alerts under
    home = tmp_path_factory.mktemp("s3")
    conf["serving"] = {"duckdb_path": str(home / "serving" / "courtwatch.duckdb")}  # published through Spark and Arrow
    conf["superset"] = {"home": str(home / "superset")}
    profile = home / "s3.yaml"
    profile.write_text(yaml.safe_dump(conf))
    try:
        yield {"client": client, "profile": profile}
    finally:
        server.stop()


def _upload(client, local: Path, prefix: str) -> None:
    for f in sorted(p for p in local.rglob("*") if p.is_file()):
        client.upload_file(str(f), BUCKET, f"{prefix}/{f.relative_to(local).as_posix()}")


def _download(client, prefix: str, local: Path) -> int:
    n = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix + "/"):
        for obj in page.get("Contents", []):
            target = local / obj["Key"][len(prefix) + 1:]
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(BUCKET, obj["Key"], str(target))
            n += 1
    return n


def test_tables_on_the_object_store_equal_the_local_ones(reference, object_store, spark):
    """Landing zone and warehouse both in the bucket: listing, reading, Delta commits and MERGE over s3a."""
    client = object_store["client"]
    _upload(client, reference / "landing", "landing")
    _courtwatch(object_store["profile"], f"s3a://{BUCKET}/landing", f"s3a://{BUCKET}/warehouse", CREDENTIALS)
    # nothing of the warehouse was written to local disk: it is all in the bucket
    copy = reference / "from-bucket"
    assert _download(client, "warehouse", copy) > 0
    assert (copy / "gold" / "court_metrics" / "_delta_log").is_dir()
    # the serving store, read from the bucket through Spark and Arrow, holds what the local one does
    remote = yaml.safe_load(object_store["profile"].read_text())["serving"]["duckdb_path"]
    store = duckdb.connect(str(reference / "local-serving" / "courtwatch.duckdb"), read_only=True)
    store.execute(f"ATTACH '{remote}' AS remote (READ_ONLY)")
    for name in ("court_metrics", "region_metrics", "breakdowns", "indicator_status"):
        differ = store.execute(f"SELECT count(*) FROM (SELECT * FROM {name} EXCEPT ALL SELECT * FROM remote.{name}) "
                               f"UNION ALL SELECT count(*) FROM (SELECT * FROM remote.{name} EXCEPT ALL "
                               f"SELECT * FROM {name})").fetchall()
        assert differ == [(0,), (0,)], name
    for table in COMPARED:
        assert _same_rows(spark, f"{reference}/local/{table}", f"{copy}/{table}"), table
