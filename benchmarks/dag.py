"""Benchmark: the daily DAG against `courtwatch run` on the same day's data.

    .venv/bin/python benchmarks/dag.py --profile small --days 30 --worker

Builds the first N days of generated data (benchmarks/pipeline.py's, reused when
generated before) with `courtwatch run`, copies that warehouse twice, then brings
each copy one more day forward: one with `courtwatch run`, the other with the
daily DAG (`courtwatch airflow dags test courtwatch_daily`, every task in
the foreground as the scheduler would run it). With --worker both go to the
profile's warm Spark driver, as on a machine that runs `make up`. Appends a
record to benchmarks/results.md. Not a test: speed is measured here, never asserted.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.pipeline import generated, move_day  # noqa: E402
from courtwatch import machine_description  # noqa: E402
from courtwatch.settings import DATA_UMASK  # noqa: E402
from testbed.generate.landing_zone import generate  # noqa: E402

COURTWATCH = str(Path(sys.executable).parent / "courtwatch")


def courtwatch(profile: Path, *args: str, log: Path | None = None) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["COURTWATCH_PROFILE"] = str(profile)
    t = time.time()
    done = subprocess.run([COURTWATCH, "--conf", str(profile), *args], env=env, capture_output=True, text=True)
    seconds = time.time() - t
    if log:
        log.write_text(done.stdout + done.stderr)
    if done.returncode:
        raise SystemExit(f"courtwatch {' '.join(args)} failed:\n{(done.stdout + done.stderr)[-4000:]}")
    return seconds


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--profile", default="small")
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--until", type=date.fromisoformat, help="the day brought forward (default: yesterday, China time)")
    p.add_argument("--worker", action="store_true", help="both in the profile's warm Spark driver")
    p.add_argument("--workdir", default=str(ROOT / "data" / "bench"))
    args = p.parse_args()
    os.umask(DATA_UMASK)  # what it writes is its owner's and group's, as the command line's (the profile checks)

    day = args.until or datetime.now(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=1)
    start = day - timedelta(days=args.days)
    work = Path(args.workdir) / f"{args.profile}-{args.days}d"
    landing, held = work / "landing", work / "held-back"
    if not generated(landing, args.profile, start, args.days + 1, args.seed):
        shutil.rmtree(work, ignore_errors=True)
        generate(args.profile, str(landing), start, args.days + 1, seed=args.seed)
    dag_work = work / "dag"
    shutil.rmtree(dag_work, ignore_errors=True)
    dag_work.mkdir(parents=True)
    by_run, by_dag = dag_work / "warehouse-run", dag_work / "warehouse-dag"
    local = yaml.safe_load((ROOT / "conf" / "local.yaml").read_text())
    profile = dag_work / "profile.yaml"
    profile.write_text(yaml.safe_dump({
        **local, "landing": str(landing), "warehouse": str(by_dag),
        "spark": {**local["spark"], "worker_dir": str(dag_work / "spark-worker")},
        "airflow": {**local["airflow"], "home": str(dag_work / "airflow"), "retries": 0},
        # neither the demo's loop database nor its Superset cache
        "guidance": {**local.get("guidance", {}), "home": str(dag_work / "guidance")},
        "superset": {**local.get("superset", {}), "home": str(dag_work / "superset")},
    }))
    courtwatch(profile, "airflow", "db", "migrate")
    worker_s = courtwatch(profile, "worker", "up") if args.worker else None
    try:
        move_day(day.isoformat(), landing, held)
        try:
            courtwatch(profile, "run", "--warehouse", str(by_run), log=dag_work / "full-build.log")
        finally:
            move_day(day.isoformat(), held, landing)
        shutil.copytree(by_run, by_dag)
        run_s = courtwatch(profile, "run", "--warehouse", str(by_run), log=dag_work / "run.log")
        logical = (day + timedelta(days=1)).isoformat()  # the run after the day, China time
        dag_s = courtwatch(profile, "airflow", "dags", "test", "courtwatch_daily", logical, log=dag_work / "dag.log")
    finally:
        if args.worker:
            courtwatch(profile, "worker", "down")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    where = "in the warm Spark driver (`courtwatch worker up`" + (f", {worker_s:.0f} s, not counted)" if worker_s else ")") \
        if args.worker else "each in a Spark of its own"
    text = (f"\n### {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · the daily DAG against `courtwatch run`, "
            f"{args.profile} profile, {args.days} days + 1 · commit {commit}\n\n"
            f"- machine: {machine_description()}; Spark `local[*]`; both {where}\n"
            f"- command: `.venv/bin/python benchmarks/dag.py {' '.join(sys.argv[1:])}`\n"
            f"- the day {day} on a warehouse of the {args.days} days before: `courtwatch run` **{run_s:.0f} s**, "
            f"the daily DAG (`airflow dags test courtwatch_daily {logical}`) **{dag_s:.0f} s**, "
            f"{dag_s / run_s:.2f}x (target 1.3x)\n")
    print(text)
    with open(ROOT / "benchmarks" / "results.md", "a") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
