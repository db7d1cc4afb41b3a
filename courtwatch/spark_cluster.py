"""A Spark standalone cluster on this machine: a master and workers, for `make cluster` and the cluster test.

The jobs do not know about it: a profile whose `spark.master` is the master's
URL (conf/cluster.yaml) sends the same `courtwatch run` to its executors. On a
real cluster the master and workers are started by its operators (or YARN,
Kubernetes); only the profile changes (README: On a cluster).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pyspark

from courtwatch.processes import spawn, stop, wait_for_port
from courtwatch.settings import Profile
from courtwatch.spark_session import write_cluster_auth

SPARK_CLASS = str(Path(pyspark.__file__).parent / "bin" / "spark-class")


def master_url(profile: Profile) -> str:
    s = profile.cluster
    return f"spark://{s.host}:{s.port}"


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "SPARK_LOG_DIR": str(home / "logs"), "SPARK_WORKER_DIR": str(home / "work"),
            # executors start this environment's Python, which has courtwatch installed
            "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}


def up(profile: Profile) -> str:
    """Start the master and the workers in the background; returns the master URL."""
    s = profile.cluster
    home = Path(s.home)
    (home / "logs").mkdir(parents=True, exist_ok=True)
    # the daemons take the drivers' shared secret (spark.authenticate) from the same owner-only file
    auth = ["--properties-file", str(write_cluster_auth(profile))]
    procs = [("master", [SPARK_CLASS, "org.apache.spark.deploy.master.Master", "--host", s.host,
                         "--port", str(s.port), "--webui-port", str(s.webui_port), *auth])]
    procs += [(f"worker-{i}", [SPARK_CLASS, "org.apache.spark.deploy.worker.Worker", "--host", s.host,
                               "--cores", str(s.worker_cores), "--memory", str(s.worker_memory),
                               "--webui-port", "0", "--work-dir", str(home / "work"), *auth, master_url(profile)])
              for i in range(int(s.workers))]
    for name, cmd in procs:
        log = home / "logs" / f"{name}.log"
        process = spawn(name, cmd, _env(home), home, log)
        if name == "master":
            wait_for_port(s.host, int(s.port), 120, process, log)
    _wait_for_workers(home, int(s.workers))
    print(f"Spark standalone: {master_url(profile)} with {s.workers} workers "
          f"(UI http://{s.host}:{s.webui_port}, logs {home / 'logs'})")
    return master_url(profile)


def _wait_for_workers(home: Path, n: int, timeout: float = 120) -> None:
    log = home / "logs" / "master.log"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if log.exists() and log.read_text(errors="replace").count("Registering worker") >= n:
            return
        time.sleep(1)
    raise RuntimeError(f"fewer than {n} workers registered with the master (see {log})")


def down(profile: Profile) -> None:
    home = Path(profile.cluster.home)
    for pid_file in sorted(home.glob("*.pid")):
        stop(home, pid_file.stem)
    print("Spark standalone: stopped")
