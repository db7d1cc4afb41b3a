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
import time

from pyspark.sql import DataFrame, SparkSession

from courtwatch import ROOT, accounts
from courtwatch.settings import Profile
from schemas.warehouse import delta_tables

log = logging.getLogger("courtwatch")


# What the SQL endpoint shows its users (analysts): silver and gold. Bronze, with the
# records as the courts sent them (personal data), is the pipeline's alone (exchange.md);
# ops and work (quarantined records, run internals) stay with the operators.
ANALYST_LAYERS = ("silver", "gold")


def register(spark: SparkSession, warehouse: str, layers: tuple[str, ...] | None = None) -> list[str]:
    """Create the layer databases and a table for each declared table that exists (of `layers`, default
    all). Returns the names."""
    names = []
    for declared in delta_tables():
        name = declared.name
        if layers is not None and declared.layer not in layers or not declared.exists(spark, warehouse):
            continue
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {declared.layer}")
        spark.sql(f"CREATE TABLE IF NOT EXISTS {name} USING DELTA LOCATION '{declared.location(warehouse)}' "
                  f"COMMENT '{declared.description.replace(chr(39), '')}'")
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


def serve(profile: Profile, host: str, port: int) -> None:
    """Run the Spark Thrift Server over the warehouse until stopped.

    The embedded Derby metastore (data/metastore) admits one process: the
    server owns it; batch jobs keep using paths and never touch it.
    """
    from courtwatch.spark_session import IVY_CACHE, spark_session

    metastore = profile.sql.metastore
    extra = {
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": f"{metastore}/spark-warehouse",
        # on top of the profile's own JVM options, not instead of them
        "spark.driver.extraJavaOptions": " ".join(filter(None, (
            profile.spark_conf.get("spark.driver.extraJavaOptions"), f"-Dderby.system.home={metastore}"))),
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={metastore}/metastore_db;create=true",
        "spark.hadoop.hive.server2.thrift.port": str(port),
        "spark.hadoop.hive.server2.thrift.bind.host": host,
        # no `SELECT * FROM parquet.`/any/path``: a user reads the tables registered here, not files
        "spark.sql.runSQLOnFiles": "false",
        # its UI would list every statement of every user, with no login
        "spark.ui.enabled": "false",
        # read-only: no command but SHOW, DESCRIBE, USE; no reflect (courtwatch/java/ReadOnlySql.java)
        "spark.sql.extensions": f"{profile.spark_conf['spark.sql.extensions']},courtwatch.ReadOnlySql",
    }
    # Each JDBC session loads the Delta catalog through the system class loader,
    # which does not see jars added by spark.jars.packages: put them on the
    # driver's class path too (make setup fetched them into the Ivy cache).
    jars = sorted(str(p) for p in (IVY_CACHE / "jars").glob("io.delta_*.jar"))
    if jars:
        extra["spark.driver.extraClassPath"] = ":".join(jars)
    extra.update(_authentication(profile, extra))
    spark = spark_session(profile, "courtwatch-sql-server", extra)
    names = register(spark, profile.warehouse, ANALYST_LAYERS)
    jvm = spark.sparkContext._jvm
    jvm.courtwatch.ReadOnlySql.seal()  # the tables are in: from now on, questions only
    jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2.startWithContext(spark._jsparkSession.sqlContext())
    log.info("Spark Thrift Server on %s:%d with %d tables: %s", host, port, len(names), ", ".join(names))
    print(f"courtwatch SQL endpoint: jdbc:hive2://{host}:{port}/default ({len(names)} tables)", flush=True)
    while True:
        time.sleep(3600)
