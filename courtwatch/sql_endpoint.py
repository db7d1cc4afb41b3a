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

from courtwatch.settings import Profile
from schemas.warehouse import delta_tables

log = logging.getLogger("courtwatch")


def register(spark: SparkSession, warehouse: str) -> list[str]:
    """Create the layer databases and a table for each declared table that exists. Returns the names."""
    names = []
    for declared in delta_tables():
        name = declared.name
        if not declared.exists(spark, warehouse):
            continue
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {declared.layer}")
        spark.sql(f"CREATE TABLE IF NOT EXISTS {name} USING DELTA LOCATION '{declared.location(warehouse)}' "
                  f"COMMENT '{declared.description.replace(chr(39), '')}'")
        names.append(name)
    return names


def query(spark: SparkSession, warehouse: str, statement: str) -> DataFrame:
    register(spark, warehouse)
    return spark.sql(statement)


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
    }
    # Each JDBC session loads the Delta catalog through the system class loader,
    # which does not see jars added by spark.jars.packages: put them on the
    # driver's class path too (make setup fetched them into the Ivy cache).
    jars = sorted(str(p) for p in (IVY_CACHE / "jars").glob("io.delta_*.jar"))
    if jars:
        extra["spark.driver.extraClassPath"] = ":".join(jars)
    spark = spark_session(profile, "courtwatch-sql-server", extra)
    names = register(spark, profile.warehouse)
    jvm = spark.sparkContext._jvm
    jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2.startWithContext(spark._jsparkSession.sqlContext())
    log.info("Spark Thrift Server on %s:%d with %d tables: %s", host, port, len(names), ", ".join(names))
    print(f"courtwatch SQL endpoint: jdbc:hive2://{host}:{port}/default ({len(names)} tables)", flush=True)
    while True:
        time.sleep(3600)
