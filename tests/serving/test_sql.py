"""The warehouse as SQL: `courtwatch sql` and the Spark Thrift Server (queried with beeline over JDBC)."""
from __future__ import annotations

import os
import pwd
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pyspark
import pytest
import yaml

from courtwatch.settings import load_profile
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
                                       "sql": {"port": port, "metastore": str(root / "metastore")},
                                       "superset": {"accounts_file": str(root / "accounts.env")}}))
    return {"warehouse": str(root / "warehouse"), "profile": profile, "port": port, "root": root}


def beeline(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([BEELINE, "-u", url, "--silent=true", "--outputformat=csv2", *args],
                          capture_output=True, text=True, timeout=120)


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
        if os.geteuid() == 0:  # started by root, it runs as its service account, which reads what it serves
            account = pwd.getpwnam(load_profile(str(built["profile"])).sql.service_account)
            assert os.stat(f"/proc/{server.pid}").st_uid == account.pw_uid

            def readable(path):
                return subprocess.run(["runuser", "-u", account.pw_name, "--", "test", "-r", str(path)]).returncode == 0
            gold = next(Path(built["warehouse"], "gold", "court_metrics").rglob("*.parquet"))
            assert readable(gold)
            assert not any(readable(p) for p in (next(Path(built["warehouse"], "bronze", "cases").rglob("*.parquet")),
                                                 built["root"] / "landing", built["root"] / "accounts.env",
                                                 Path(".secrets/courtwatch.env").resolve()))
        url = f"jdbc:hive2://127.0.0.1:{built['port']}/default"
        from courtwatch.accounts import PasswordFile

        analyst = PasswordFile(str(built["root"] / "accounts.env")).read()["analyst-01"]
        out = beeline(url, "-n", "analyst-01", "-p", analyst, "-e",
                      "SELECT count(*) AS n FROM gold.alerts WHERE high_court_id IS NOT NULL;"
                      "SELECT metric_id FROM gold.court_metrics WHERE period = 'month' "
                      "GROUP BY metric_id ORDER BY metric_id LIMIT 3;")
        assert out.returncode == 0, out.stderr[-2000:]
        assert "n" in out.stdout.splitlines() and "metric_id" in out.stdout.splitlines()
        # analysts see silver and gold: no bronze (personal data), no file read past the tables
        bronze = f"{built['warehouse']}/bronze/cases"
        # nor change anything, nor reach Java or a setting that would open files again
        probes = ["SELECT count(*) FROM bronze.cases", f"SELECT count(*) FROM delta.`{bronze}`",
                  f"SELECT count(*) FROM parquet.`{bronze}`", "SET spark.sql.runSQLOnFiles=true",
                  "SELECT reflect('java.lang.System', 'getProperty', 'user.home')",
                  "SELECT java_method('java.lang.System', 'getenv', 'HOME')",
                  f"CREATE TABLE silver.leak USING parquet LOCATION '{bronze}'", "DROP TABLE gold.alerts",
                  "CREATE FUNCTION f AS 'java.lang.String'", "INSERT INTO gold.alerts SELECT * FROM gold.alerts"]
        script = built["root"] / "probes.sql"
        script.write_text(";\n".join(probes) + ";\n")
        out = beeline(url, "-n", "analyst-01", "-p", analyst, "--force=true", "-f", str(script))
        assert out.stderr.count("Error: ") == len(probes), out.stdout[-2000:] + out.stderr[-3000:]
        out = beeline(url, "-n", "analyst-01", "-p", analyst, "-e",
                      "SHOW DATABASES; USE gold; SHOW TABLES; DESCRIBE alerts; SELECT count(*) AS n FROM alerts;")
        assert out.returncode == 0, out.stderr[-2000:]
        assert "bronze" not in out.stdout.splitlines() and "gold" in out.stdout.splitlines(), out.stdout
        # and no one signs in without the password of an account the endpoint lets in
        for credentials in ([], ["-n", "analyst-01"], ["-n", "analyst-01", "-p", analyst + "x"],
                            ["-n", "anyone", "-p", analyst], ["-n", "h11-01", "-p", analyst]):
            out = beeline(url, *credentials, "-e", "SELECT count(*) FROM gold.alerts;")
            assert out.returncode != 0 and "count(1)" not in out.stdout, (credentials, out.stdout[-500:])
    finally:
        server.terminate()
        server.wait(timeout=60)
