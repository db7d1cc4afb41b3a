"""The one place that builds the SparkSession, from the active profile."""
from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

from courtwatch import ROOT
from courtwatch.config import Profile

IVY_CACHE = ROOT / ".cache" / "ivy"


def spark_session(profile: Profile, app_name: str = "courtwatch") -> SparkSession:
    # Python workers must start this environment's interpreter, not the system one.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name).master(profile.spark_master)
    conf = {"spark.jars.ivy": str(IVY_CACHE), **profile.spark_conf}
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
