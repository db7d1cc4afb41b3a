"""Benchmark: a full build of N days, then one more day incrementally on top.

    .venv/bin/python benchmarks/pipeline.py --profile small --days 30 [--history-days 365]

Generates the landing zone (not timed), times `courtwatch run` on the first
`--days` days (a full build), then generates one more day and times the
incremental run. Appends a record (machine, data size, command, seconds) to
benchmarks/results.md. Not a test: speed is measured here, never asserted.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from courtwatch import machine_description  # noqa: E402
from courtwatch.config import load_profile  # noqa: E402
from courtwatch.generate.landing import generate  # noqa: E402
from courtwatch.spark import spark_session  # noqa: E402
from jobs.pipeline import run  # noqa: E402


def count_records(spark, wh: str) -> dict:
    out = {}
    for s in ("cases", "hotline", "mediation"):
        out[s] = spark.read.format("delta").load(f"{wh}/bronze/{s}").count()
    out["batches"] = spark.read.format("delta").load(f"{wh}/ops/batches").count()
    out["gold_rows"] = spark.read.format("delta").load(f"{wh}/gold/court_metrics").count()
    return out


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--profile", default="small")
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--start", type=date.fromisoformat, default=date(2026, 6, 1))
    p.add_argument("--conf", default="local")
    p.add_argument("--workdir", default=str(ROOT / "data" / "bench"))
    args = p.parse_args()

    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    landing, wh = work / "landing", str(work / "warehouse")
    t = time.time()
    generate(args.profile, str(landing), args.start, args.days, seed=1)
    gen_s = time.time() - t
    profile = load_profile(args.conf)
    spark = spark_session(profile, "courtwatch-benchmark")
    t = time.time()
    run(spark, str(landing), wh, profile.hash_key())
    full_s = time.time() - t
    size = count_records(spark, wh)
    # one more day, written on top (the simulation is replayed to the same state)
    next_day = args.start + timedelta(days=args.days)
    generate(args.profile, str(landing), args.start, args.days + 1, seed=1, write_from=next_day)
    t = time.time()
    run(spark, str(landing), wh, profile.hash_key())
    inc_s = time.time() - t
    after = count_records(spark, wh)
    day = {k: after[k] - size[k] for k in ("cases", "hotline", "mediation", "batches")}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    record = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit, "machine": machine_description(),
        "command": " ".join(["benchmarks/pipeline.py"] + sys.argv[1:]), "spark_master": profile.spark_master,
        "profile": args.profile, "days": args.days, "generate_s": round(gen_s, 1),
        "full_build_s": round(full_s, 1), "full_build_size": size,
        "incremental_day_s": round(inc_s, 1), "incremental_day_size": day,
    }
    print(json.dumps(record, indent=1))
    with open(ROOT / "benchmarks" / "results.md", "a") as f:
        f.write(f"\n### {record['when']} · {args.profile} profile, {args.days} days · commit {commit}\n\n")
        f.write(f"- machine: {record['machine']}; Spark `{profile.spark_master}`\n")
        f.write(f"- command: `.venv/bin/python {record['command']}`\n")
        f.write(f"- full build of {args.days} days: **{full_s:.0f} s** for {size['batches']} batches, "
                f"{size['cases']} case, {size['hotline']} call and {size['mediation']} mediation records "
                f"({size['gold_rows']} gold court-metric rows)\n")
        f.write(f"- one more day, incremental: **{inc_s:.0f} s** for {day['batches']} batches, {day['cases']} case, "
                f"{day['hotline']} call and {day['mediation']} mediation records\n")
        f.write(f"- (data generation, not timed in the above: {gen_s:.0f} s)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
