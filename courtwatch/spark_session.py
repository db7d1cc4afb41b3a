"""The one place that builds the SparkSession, from the active profile."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from courtwatch import ROOT
from courtwatch.settings import SPARK_AUTH_SECRET_VAR, Profile, owner_only

IVY_CACHE = ROOT / ".cache" / "ivy"


def session_conf(profile: Profile) -> dict[str, str]:
    """The Spark settings of a profile, as a session or spark-submit takes them."""
    return {"spark.jars.ivy": str(IVY_CACHE), **profile.spark_conf}


def cluster_auth_file(profile: Profile) -> Path | None:
    """On a standalone cluster (a spark:// master), the properties file of its shared secret
    (write_cluster_auth); None for any other master (local mode is one process; YARN and
    Kubernetes hand each application its own secret)."""
    return write_cluster_auth(profile) if profile.spark_master.startswith("spark://") else None


def write_cluster_auth(profile: Profile, directory: Path | None = None) -> Path:
    """The master, the workers and each driver of a standalone cluster prove themselves to each other
    with the profile's shared secret (spark.authenticate) and encrypt what they send
    (spark.network.crypto). Returns the Spark properties file that says so, readable by its owner
    only (in `directory`, default the secrets file's): as a --conf the secret would show in every
    local account's process list."""
    directory = directory or Path(profile.secrets_file or ROOT / ".secrets" / "courtwatch.env").parent
    path = directory / "spark-auth.properties"
    text = (f"spark.authenticate true\nspark.authenticate.secret {profile.secret(SPARK_AUTH_SECRET_VAR)}\n"
            "spark.network.crypto.enabled true\n")
    if not path.exists() or path.read_text() != text:  # the DAG files ask at every parse
        with owner_only(path) as f:
            f.write(text)
    return path


def spark_session(profile: Profile, app_name: str = "courtwatch", extra: dict[str, str] | None = None) -> SparkSession:
    """The session of a profile; `extra` settings go on top (the SQL server's catalog)."""
    # Python workers must start this environment's interpreter, not the system one.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    # a web UI a profile turns on binds loopback too (Spark's UI reads SPARK_LOCAL_IP, not bindAddress)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    auth = cluster_auth_file(profile)
    if auth is not None:
        os.environ["PYSPARK_SUBMIT_ARGS"] = f"--properties-file {auth} pyspark-shell"
    builder = SparkSession.builder.appName(app_name).master(profile.spark_master)
    for key, value in {**session_conf(profile), **(extra or {})}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
