"""The one place that builds the SparkSession, from the active profile."""
from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

from courtwatch import ROOT
from courtwatch.settings import Profile

IVY_CACHE = ROOT / ".cache" / "ivy"


def session_conf(profile: Profile) -> dict[str, str]:
    """The Spark settings of a profile, as a session or spark-submit takes them."""
    return {"spark.jars.ivy": str(IVY_CACHE), **profile.spark_conf}


def spark_session(profile: Profile, app_name: str = "courtwatch", extra: dict[str, str] | None = None) -> SparkSession:
    """The session of a profile; `extra` settings go on top (the SQL server's catalog)."""
    # Python workers must start this environment's interpreter, not the system one.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    # a web UI a profile turns on binds loopback too (Spark's UI reads SPARK_LOCAL_IP, not bindAddress)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.appName(app_name).master(profile.spark_master)
    for key, value in {**session_conf(profile), **(extra or {})}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
