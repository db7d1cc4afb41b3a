"""The warehouse as SQL: `courtwatch sql` and the Spark Thrift Server (queried with beeline over JDBC)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pyspark
import pytest
import yaml

from testbed.generate.landing_zone import generate
from tests.conftest import free_port

COURTWATCH = str(Path(sys.executable).parent / "courtwatch")
BEELINE = str(Path(pyspark.__file__).parent / "bin" / "beeline")

pytestmark = [pytest.mark.system, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def built(tmp_path_factory, spark):
    from tests.conftest import run_pipeline

    root = tmp_path_factory.mktemp("sql")
    generate("tiny", str(root / "landing"), date(2026, 9, 1), 5, seed=3)
    run_pipeline(spark, root / "landing", str(root / "warehouse"))
    test_conf = yaml.safe_load(Path("conf/test.yaml").read_text())
    port = free_port()
    profile = root / "profile.yaml"
    profile.write_text(yaml.safe_dump({**test_conf, "warehouse": str(root / "warehouse"),
                                       "sql": {"port": port, "metastore": str(root / "metastore")}}))
    return {"warehouse": str(root / "warehouse"), "profile": profile, "port": port}


def test_every_table_is_named_by_its_layer(spark, built):
    from courtwatch.sql_endpoint import query

    try:
        n = query(spark, built["warehouse"], "SELECT count(*) AS n FROM gold.court_metrics").collect()[0]["n"]
        assert n == spark.read.format("delta").load(f"{built['warehouse']}/gold/court_metrics").count() > 0
        names = {f"{r['namespace']}.{r['tableName']}" for db in ("bronze", "silver", "gold", "ops")
                 for r in spark.sql(f"SHOW TABLES IN {db}").collect()}
        assert {"bronze.cases", "silver.hotline", "silver.courts", "gold.region_metrics", "gold.alerts",
                "ops.batches", "ops.quarantine"} <= names
    finally:
        for db in ("bronze", "silver", "gold", "ops", "work"):
            spark.sql(f"DROP DATABASE IF EXISTS {db} CASCADE")  # external tables: the data stays


def test_courtwatch_sql_from_the_shell(built):
    out = subprocess.run([COURTWATCH, "--conf", str(built["profile"]), "sql", "--format", "csv",
                          "SELECT region_id, count(*) AS n FROM gold.region_metrics GROUP BY region_id ORDER BY 1"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "region_id,n" and any(line.startswith("NATIONAL,") for line in lines[1:])


def test_thrift_server_answers_jdbc(built):
    env = {**os.environ, "COURTWATCH_PROFILE": str(built["profile"])}
    server = subprocess.Popen([COURTWATCH, "--conf", str(built["profile"]), "sql-server"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.time() + 240
        line = ""
        while time.time() < deadline and "SQL endpoint" not in line:
            line = server.stdout.readline()
            assert line or server.poll() is None, "the SQL server stopped"
        assert "SQL endpoint" in line
        url = f"jdbc:hive2://127.0.0.1:{built['port']}/default"
        out = subprocess.run([BEELINE, "-u", url, "-n", "analyst", "--silent=true", "--outputformat=csv2", "-e",
                              "SELECT count(*) AS n FROM gold.alerts WHERE high_court_id IS NOT NULL;"
                              "SELECT metric_id FROM gold.court_metrics WHERE period = 'month' "
                              "GROUP BY metric_id ORDER BY metric_id LIMIT 3;"],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        assert "n" in out.stdout.splitlines() and "metric_id" in out.stdout.splitlines()
    finally:
        server.terminate()
        server.wait(timeout=60)
