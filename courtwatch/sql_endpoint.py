"""The warehouse as SQL tables: `bronze.cases`, `silver.courts`, `gold.alerts`, ...

Every table declared in schemas/tables/ is registered under a database named
after its layer (bronze, silver, gold, ops, work), as an external table over
its path: the data stays where the batch jobs write it, by path, and SQL users
see named tables. Used by `courtwatch sql` (an ad hoc query, in-memory catalog)
and `courtwatch sql-server` (the Spark Thrift Server: JDBC/ODBC for beeline,
BI tools and Superset).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import pyspark
from pyspark.sql import DataFrame, SparkSession

from courtwatch import ROOT, accounts, service_account
from courtwatch.settings import Profile
from courtwatch.spark_session import IVY_CACHE, session_conf, write_cluster_auth
from schemas.warehouse import delta_tables

log = logging.getLogger("courtwatch")


# What the SQL endpoint shows its users (analysts): silver and gold. Bronze, with the
# records as the courts sent them (personal data), is the pipeline's alone (exchange.md);
# ops and work (quarantined records, run internals) stay with the operators.
ANALYST_LAYERS = ("silver", "gold")


def _statements(warehouse: str, layers: tuple[str, ...] | None) -> list[tuple[str, str, list[str]]]:
    """Per declared table of `layers` (default all): its name, location and the statements that register it."""
    return [(d.name, d.location(warehouse), [
        f"CREATE DATABASE IF NOT EXISTS {d.layer}",
        f"CREATE TABLE IF NOT EXISTS {d.name} USING DELTA LOCATION '{d.location(warehouse)}' "
        f"COMMENT '{d.description.replace(chr(39), '')}'"])
        for d in delta_tables() if layers is None or d.layer in layers]


def register(spark: SparkSession, warehouse: str, layers: tuple[str, ...] | None = None) -> list[str]:
    """Create the layer databases and a table for each declared table that exists (of `layers`, default
    all). Returns the names."""
    from delta.tables import DeltaTable

    names = []
    for name, location, statements in _statements(warehouse, layers):
        if DeltaTable.isDeltaTable(spark, location):
            for statement in statements:
                spark.sql(statement)
            names.append(name)
    return names


def query(spark: SparkSession, warehouse: str, statement: str) -> DataFrame:
    register(spark, warehouse)
    return spark.sql(statement)


SQL_ENDPOINT_JAR = ROOT / ".cache" / "sql-endpoint" / "courtwatch-sql-endpoint.jar"  # courtwatch/java/, by make setup


def _authentication(profile: Profile, extra: dict[str, str]) -> dict[str, str]:
    """Every connection signs in: against the directory (LDAP, analysts only), else against the owner-only
    file of the analysts' and SQL Lab's salted password hashes (courtwatch/java/SqlPasswords.java).

    Hive reads its authenticator's settings from a fresh HiveConf (system properties), not from
    Spark's configuration: they go on the driver's command line."""
    if profile.directory:
        d = profile.directory
        props = {"hive.server2.authentication": "LDAP", "hive.server2.authentication.ldap.url": d.url,
                 "hive.server2.authentication.ldap.userDNPattern": f"uid=%s,{d.analysts_dn}"}
    else:
        if not SQL_ENDPOINT_JAR.exists():
            raise RuntimeError(f"{SQL_ENDPOINT_JAR} is missing: run `make setup` (it builds courtwatch/java/)")
        props = {"hive.server2.authentication": "CUSTOM",
                 "hive.server2.custom.authentication.class": "courtwatch.SqlPasswords",
                 "courtwatch.sql.passwords": str(accounts.write_sql_passwords(profile))}
    java = " ".join([extra["spark.driver.extraJavaOptions"], *(f"-D{k}={v}" for k, v in props.items())])
    classpath = ":".join(filter(None, [extra.get("spark.driver.extraClassPath"), str(SQL_ENDPOINT_JAR)]))
    return {"spark.driver.extraJavaOptions": java, "spark.driver.extraClassPath": classpath,
            "spark.hadoop.hive.server2.authentication": props["hive.server2.authentication"]}


def _hand_over(profile: Profile, account: service_account.ServiceAccount) -> None:
    """Give the service account its own directory and read on the layers it serves, then become it."""
    account.own(Path(profile.sql.metastore))
    if not Path(profile.sql.passwords_file).is_relative_to(profile.sql.metastore):
        account.own(Path(profile.sql.passwords_file))
    # its own classes and the Delta jars: .cache is not every account's when Spark made it first
    # (Ivy creates its directories 0750), and the JVM it becomes skips a jar it cannot read
    for jars in (SQL_ENDPOINT_JAR.parent, IVY_CACHE / "jars"):
        account.grant_read(jars)
    if "://" not in profile.warehouse:  # on object storage, the store's credentials decide instead
        for layer in ANALYST_LAYERS:
            if (Path(profile.warehouse) / layer).is_dir():
                account.grant_read(Path(profile.warehouse) / layer)
    account.become()
    log.info("the SQL endpoint runs as %s (uid %d)", account.name, account.uid)


def serve(profile: Profile, host: str, port: int) -> None:
    """Become the Spark Thrift Server over the warehouse's silver and gold, until stopped.

    This process prepares (settings, sign-in, the service account's access), then is
    replaced by spark-submit running courtwatch/java/SqlEndpoint.java, as the service
    account when root started it. The embedded Derby metastore (sql.metastore) admits one
    process: the server owns it; batch jobs keep using paths and never touch it.
    """
    account = service_account.for_sql_endpoint(profile.sql.service_account)
    metastore = profile.sql.metastore
    Path(metastore).mkdir(mode=0o700, parents=True, exist_ok=True)
    conf = {
        **session_conf(profile),
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": f"{metastore}/spark-warehouse",
        # on top of the profile's own JVM options, not instead of them
        "spark.driver.extraJavaOptions": " ".join(filter(None, (
            profile.spark_conf.get("spark.driver.extraJavaOptions"), f"-Dderby.system.home={metastore}"))),
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={metastore}/metastore_db;create=true",
        # Hive's scratch space in the endpoint's own directory, not a /tmp/hive shared with every account
        "spark.hadoop.hive.exec.scratchdir": f"{metastore}/scratch",
        "spark.hadoop.hive.exec.local.scratchdir": f"{metastore}/scratch-local",
        "spark.hadoop.hive.downloaded.resources.dir": f"{metastore}/resources",
        "spark.hadoop.hive.server2.thrift.port": str(port),
        "spark.hadoop.hive.server2.thrift.bind.host": host,
        # no `SELECT * FROM parquet.`/any/path``: a user reads the tables registered here, not files
        "spark.sql.runSQLOnFiles": "false",
        # its UI would list every statement of every user, with no login
        "spark.ui.enabled": "false",
        # read-only: no command but SHOW, DESCRIBE, USE; no reflect (courtwatch/java/ReadOnlySql.java)
        "spark.sql.extensions": f"{profile.spark_conf['spark.sql.extensions']},courtwatch.ReadOnlySql",
    }
    # Each JDBC session loads the Delta catalog through the system class loader, which
    # does not see jars added by spark.jars.packages: they go on the driver's class path
    # (make setup fetched them into the Ivy cache), and to executors as files, not as
    # packages (resolving packages writes to the Ivy cache, which the service account may not).
    jars = sorted(str(p) for p in (IVY_CACHE / "jars").glob("io.delta_*.jar"))
    if not jars:
        raise RuntimeError(f"no Delta jars in {IVY_CACHE}/jars: run `make setup`")
    conf.pop("spark.jars.packages", None), conf.pop("spark.jars.repositories", None)
    conf.update({"spark.driver.extraClassPath": ":".join(jars), "spark.jars": ",".join(jars)})
    conf.update(_authentication(profile, conf))
    registrations = Path(metastore) / "tables.tsv"
    registrations.write_text("".join(f"{location}\t{statement}\n" for _, location, statements
                                     in _statements(profile.warehouse, ANALYST_LAYERS) for statement in statements))
    # on a standalone cluster, its shared secret, from a copy the service account may read
    auth = (["--properties-file", str(write_cluster_auth(profile, Path(metastore)))]
            if profile.spark_master.startswith("spark://") else [])
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "HOME": metastore}
    if account is not None:
        _hand_over(profile, account)
    submit = str(Path(pyspark.__file__).parent / "bin" / "spark-submit")
    log.info("SQL endpoint on %s:%d, serving %s", host, port, ", ".join(ANALYST_LAYERS))
    os.execve(submit, [submit, "--master", profile.spark_master, "--name", "courtwatch-sql-server",
                       "--class", "courtwatch.SqlEndpoint", *auth,
                       *(arg for key, value in conf.items() for arg in ("--conf", f"{key}={value}")),
                       str(SQL_ENDPOINT_JAR), str(registrations), f"jdbc:hive2://{host}:{port}/default"], env)
