"""The same jobs on a real Spark standalone cluster (a master and two workers on this machine).

Only the profile differs: `spark.master` names the master. The gold tables
must equal those the local session builds from the same landing zone.
"""
from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import yaml

from courtwatch import cluster
from courtwatch.config import load_profile
from courtwatch.generate.landing import generate
from tests.conftest import TEST_KEY, free_port

pytestmark = pytest.mark.timeout(1200)
COURTWATCH = str(Path(sys.executable).parent / "courtwatch")
# what two runs of the same data may differ in: when they ran and with which run id
VOLATILE = {"first_detected_at", "updated_at", "_run_id", "ingested_at", "_ingested_at", "quarantined_at"}


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    conf = yaml.safe_load(Path("conf/cluster.yaml").read_text())
    port = free_port()
    conf["cluster"].update(port=port, webui_port=free_port(), home=str(root / "cluster"), worker_memory="1500m")
    conf["spark"]["master"] = f"spark://127.0.0.1:{port}"
    conf["spark"]["conf"].update({"spark.executor.memory": "1g", "spark.driver.memory": "1g",
                                  "spark.ui.enabled": "false"})
    conf["secrets_file"] = str(Path(".secrets/courtwatch.env").resolve())
    (root / "cluster.yaml").write_text(yaml.safe_dump(conf))
    profile = load_profile(str(root / "cluster.yaml"))
    cluster.up(profile)
    try:
        yield {"root": root, "profile": root / "cluster.yaml", "home": Path(profile.raw["cluster"]["home"])}
    finally:
        cluster.down(profile)


def _same_rows(spark, a: str, b: str) -> bool:
    """The same multiset of rows, volatile columns aside (nulls compare equal, as in EXCEPT ALL)."""
    left, right = spark.read.format("delta").load(a), spark.read.format("delta").load(b)
    cols = sorted(c for c in left.columns if c not in VOLATILE)
    left, right = left.select(cols), right.select(cols)
    return left.count() > 0 and left.exceptAll(right).isEmpty() and right.exceptAll(left).isEmpty()


def test_gold_tables_on_the_cluster_equal_the_local_ones(standalone, spark):
    from jobs.pipeline import run as run_pipeline

    root = standalone["root"]
    generate("tiny", str(root / "landing"), date(2026, 9, 1), 7, seed=5, incidents=1, fault_share=0.05)
    run_pipeline(spark, str(root / "landing"), str(root / "local"), TEST_KEY)
    # the same hashing key: tests/conftest.py exports it, the subprocess inherits it
    done = subprocess.run([COURTWATCH, "--conf", str(standalone["profile"]), "run", "--landing", str(root / "landing"),
                           "--warehouse", str(root / "on-cluster")], capture_output=True, text=True, timeout=1100)
    assert done.returncode == 0, done.stderr[-3000:]
    # the executors ran on the workers: each worker has an application directory
    assert len(list((standalone["home"] / "work").glob("app-*/*"))) >= 2
    for table in ("silver/cases", "gold/court_metrics", "gold/region_metrics", "gold/alerts", "ops/quarantine"):
        assert _same_rows(spark, f"{root}/local/{table}", f"{root}/on-cluster/{table}"), table
