"""Benchmark: a full build of N days, one more day incrementally on top, and two analyst queries.

    .venv/bin/python benchmarks/pipeline.py --profile national --days 1
    .venv/bin/python benchmarks/pipeline.py --profile small --days 30
    .venv/bin/python benchmarks/pipeline.py --profile national-target --days 1 --seed 7 --repeat 3
    .venv/bin/python benchmarks/pipeline.py --profile national-target --days 1 --seed 7 --until 2026-11-26
    .venv/bin/python benchmarks/pipeline.py --profile small --days 30 --worker --repeat 3
    .venv/bin/python benchmarks/pipeline.py --profile national --days 90 --build-step 10 --worker

Generates N+1 days of the profile (not timed; kept and reused when the same
profile, dates and seed were generated before) ending yesterday, China time
(or on --until), so the incremental day is where a daily run finds it. The last
day's directories are held back while the first N days are built (in one run, or
in runs of --build-step days), then put back for the incremental run. Every run is
`courtwatch run` in a process of its own: the wall time end to end, Spark start-up
included. Appends a record (machine, data size, command, seconds) to
benchmarks/results.md. Not a test: speed is measured here, never asserted. With
--repeat N the incremental day runs N times, each on a copy of the same full build,
and the record gives the median run and every sample: on a shared VM one run is one
sample. Then `--nothing-new` more runs find nothing new (median and samples). With
--worker every run goes to the profile's warm
Spark driver (`courtwatch worker up` first; its start is recorded, not counted in the runs).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from courtwatch import machine_description  # noqa: E402
from courtwatch.settings import DATA_UMASK, load_profile  # noqa: E402
from courtwatch.spark_session import spark_session  # noqa: E402
from courtwatch.sql_endpoint import register  # noqa: E402
from testbed.generate.landing_zone import generate, generator_version  # noqa: E402
from testbed.generate.landing_zone import load_profile as load_generator_profile  # noqa: E402
from schemas import SOURCES  # noqa: E402

COURTWATCH = str(Path(sys.executable).parent / "courtwatch")
# What an analyst asks: a province's month by month clearance rate over the year,
# and an ad hoc question of silver (open cases past their limit, by type and province).
QUERIES = {
    "gold: clearance rate by province and month": """
        SELECT region_id, period_start, value FROM gold.region_metrics
        WHERE metric_id = 'clearance_rate' AND period = 'month' AND region_level = 'HIGH'
        ORDER BY region_id, period_start""",
    "silver: open cases by type and province": """
        SELECT substr(court_id, 2, 2) AS province, case_type, count(*) AS open_cases
        FROM silver.cases WHERE closed_date IS NULL GROUP BY 1, 2 ORDER BY 3 DESC""",
}


def generated(landing: Path, profile: str, start: date, days: int, seed: int) -> bool:
    truth = landing / "_truth" / "truth.json"
    if not truth.exists():
        return False
    t = json.loads(truth.read_text())
    return (t["profile"], t["start"], t["days"], t["seed"], t.get("generator")) == (
        profile, start.isoformat(), days, seed, generator_version(load_generator_profile(profile)))


def move_day(day: str, src: Path, dst: Path) -> None:
    """Move every {source}/{court}/{day} directory from under `src` to under `dst`."""
    for d in sorted(src.glob(f"*/*/{day}")):
        target = dst / d.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        d.rename(target)


def timed_run(conf: str, landing: Path, warehouse: Path, log: Path) -> tuple[float, dict]:
    t = time.time()
    done = subprocess.run([COURTWATCH, "--conf", conf, "run", "--landing", str(landing), "--warehouse", str(warehouse)],
                          capture_output=True, text=True)
    seconds = time.time() - t
    log.write_text(done.stderr)  # the run's own log, for a closer look at its phases
    if done.returncode:
        raise SystemExit(done.stderr[-4000:])
    # the pipeline logs each step's end as "run: <step> <seconds the step took>s" (courtwatch/progress.py);
    # the record gives them cumulative, since the run began
    phases, elapsed = {}, 0.0
    for step, took in re.findall(r"courtwatch run: (\w+) ([\d.]+)s", done.stderr):
        elapsed += float(took)
        phases[step] = round(elapsed, 1)
    return seconds, phases


def copy_warehouse(src: Path, dst: Path) -> None:
    """A warehouse and the serving store beside it (WAREHOUSE-serving/): what a daily run leaves."""
    for a, b in ((src, dst), (Path(f"{src}-serving"), Path(f"{dst}-serving"))):
        shutil.rmtree(b, ignore_errors=True)
        if a.exists():
            shutil.copytree(a, b)


def count_records(spark, wh: str) -> dict:
    out = {s: spark.read.format("delta").load(f"{wh}/bronze/{s}").count() for s in SOURCES}
    out["batches"] = spark.read.format("delta").load(f"{wh}/ops/batches").count()
    out["gold_rows"] = spark.read.format("delta").load(f"{wh}/gold/court_metrics").count()
    return out


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--profile", default="small")
    p.add_argument("--days", type=int, default=30, help="days of history built in full before the incremental day")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeat", type=int, default=1,
                   help="run the incremental day this many times, each on a copy of the same full build "
                        "(the record gives the median and the range: one run on a shared VM is one sample)")
    p.add_argument("--until", type=date.fromisoformat,
                   help="the incremental day, YYYY-MM-DD (default: yesterday, China time); "
                        "the same date reuses the data generated before")
    p.add_argument("--build-step", type=int,
                   help="build the history in runs of this many days, as a warehouse grows (default: one run)")
    p.add_argument("--conf", default="local")
    p.add_argument("--worker", action="store_true", help="run in the profile's warm Spark driver (courtwatch worker)")
    p.add_argument("--nothing-new", type=int, default=3, help="runs with nothing new after the incremental day")
    p.add_argument("--keep-build", action="store_true",
                   help="keep the full build (warehouse-full-build/) and, when one is kept from the same data, "
                        "start from it instead of building again: a national history takes hours to build")
    p.add_argument("--workdir", default=str(ROOT / "data" / "bench"))
    args = p.parse_args()
    os.umask(DATA_UMASK)  # as the command does: the data generated here is its owner's (and group's)

    yesterday = args.until or datetime.now(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=1)
    start = yesterday - timedelta(days=args.days)
    work = Path(args.workdir) / f"{args.profile}-{args.days}d"
    landing, held, wh = work / "landing", work / "held-back", work / "warehouse"
    gen_s = None
    if not generated(landing, args.profile, start, args.days + 1, args.seed):
        shutil.rmtree(work, ignore_errors=True)
        t = time.time()
        generate(args.profile, str(landing), start, args.days + 1, seed=args.seed)
        gen_s = time.time() - t
    history = [(start + timedelta(days=i)).isoformat() for i in range(args.days)]
    step = args.build_step or args.days
    builds = [history[i:i + step] for i in range(0, len(history), step)]
    base = work / "warehouse-full-build"
    if args.keep_build and gen_s is None and (base / "_built.json").exists():
        return measure(args, work, start, yesterday, json.loads((base / "_built.json").read_text()), reused=True)
    for day in [*history[step:], yesterday.isoformat()]:  # the days a later run takes
        move_day(day, landing, held)
    copy_warehouse(work / "nothing", wh)  # none yet
    worker_s = None
    if args.worker:
        t = time.time()
        subprocess.run([COURTWATCH, "--conf", args.conf, "worker", "up"], check=True)
        worker_s = time.time() - t
    full_s, full_phases = 0.0, {}
    try:
        for i, days in enumerate(builds):
            for day in days if i else []:
                move_day(day, held, landing)
            seconds, phases = timed_run(args.conf, landing, wh, work / "full-build.log")
            full_s += seconds
            full_phases = {k: round(full_phases.get(k, 0) + v, 1) for k, v in phases.items()}
    finally:
        for day in [*history, yesterday.isoformat()]:
            move_day(day, held, landing)
    built = {"full_build_s": round(full_s, 1), "full_build_runs": len(builds), "full_build_phases": full_phases,
             "generate_s": gen_s and round(gen_s, 1), "worker_start_s": worker_s and round(worker_s, 1),
             "build_commit": _commit(), "code_commit": _commit()}
    if args.repeat > 1 or args.keep_build:
        copy_warehouse(wh, base)
        (base / "_built.json").write_text(json.dumps(built))
    return measure(args, work, start, yesterday, built, reused=False)


def measure(args, work: Path, start: date, yesterday: date, built: dict, reused: bool) -> int:
    """The incremental day (--repeat times, each on a copy of the full build), the runs with
    nothing new after it and the analyst queries; appends the record. `built`: the full build's
    figures; `reused`: it was made by an earlier run and kept (--keep-build)."""
    landing, wh, base = work / "landing", work / "warehouse", work / "warehouse-full-build"
    full_s, full_phases, gen_s = built["full_build_s"], built["full_build_phases"], built["generate_s"]
    worker_s = built["worker_start_s"]
    step = args.build_step or args.days
    if reused:
        copy_warehouse(base, wh)
        if args.worker:
            t = time.time()
            subprocess.run([COURTWATCH, "--conf", args.conf, "worker", "up"], check=True)
            worker_s = time.time() - t
        if built.get("code_commit") != _commit():
            # Built by other code: one run with nothing new first (not timed), so that the day measured
            # finds what a daily run of this code leaves (its serving store, its tables' declared properties).
            move_day(yesterday.isoformat(), landing, work / "held-back")
            try:
                timed_run(args.conf, landing, wh, work / "brought-forward.log")
            finally:
                move_day(yesterday.isoformat(), work / "held-back", landing)
            built = {**built, "build_commit": f"{built['build_commit']}, brought forward at {_commit()}",
                     "code_commit": _commit()}
            copy_warehouse(wh, base)
            (base / "_built.json").write_text(json.dumps(built))
    profile = load_profile(args.conf)
    spark = spark_session(profile, "courtwatch-benchmark")
    size = count_records(spark, str(wh))
    samples = []
    for i in range(args.repeat):
        if i:
            copy_warehouse(base, wh)
        samples.append(timed_run(args.conf, landing, wh, work / "incremental.log"))
    if not args.keep_build:
        copy_warehouse(work / "nothing", base)
    inc_s, inc_phases = sorted(samples, key=lambda s: s[0])[len(samples) // 2]  # the median run
    quiet = [timed_run(args.conf, landing, wh, work / "nothing-new.log") for _ in range(args.nothing_new)]
    if args.worker:
        subprocess.run([COURTWATCH, "--conf", args.conf, "worker", "down"], check=True)
    quiet_s, quiet_phases = sorted(quiet, key=lambda s: s[0])[len(quiet) // 2] if quiet else (None, {})
    after = count_records(spark, str(wh))
    day = {k: after[k] - size[k] for k in (*SOURCES, "batches")}
    queries = {}
    register(spark, str(wh))  # the tables by name, as the SQL endpoint serves them
    for name, sql in QUERIES.items():
        t = time.time()
        rows = len(spark.sql(sql).collect())
        queries[name] = {"seconds": round(time.time() - t, 1), "rows": rows}
    commit = _commit()
    record = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit, "machine": machine_description(),
        "command": " ".join(["benchmarks/pipeline.py"] + sys.argv[1:]), "spark_master": profile.spark_master,
        "profile": args.profile, "days": args.days, "dates": [start.isoformat(), yesterday.isoformat()],
        "generate_s": gen_s, "full_build_s": full_s, "full_build_runs": built["full_build_runs"],
        "full_build_phases": full_phases, "full_build_commit": built["build_commit"],
        "full_build_size": size, "incremental_day_s": round(inc_s, 1), "incremental_day_phases": inc_phases,
        "incremental_day_size": day, "incremental_day_samples_s": [round(s[0], 1) for s in samples],
        "nothing_new_s": quiet_s and round(quiet_s, 1), "nothing_new_phases": quiet_phases,
        "nothing_new_samples_s": [round(s[0], 1) for s in quiet], "worker": args.worker,
        "worker_start_s": worker_s and round(worker_s, 1), "queries": queries,
    }
    print(json.dumps(record, indent=1))
    with open(ROOT / "benchmarks" / "results.md", "a") as f:
        f.write(f"\n### {record['when']} · {args.profile} profile, {args.days} days + 1 · commit {commit}\n\n")
        f.write(f"- machine: {record['machine']}; Spark `{profile.spark_master}` (profile `{args.conf}`)"
                + (f"; every run in the warm Spark driver (`courtwatch worker up`: {worker_s:.0f} s, not counted)"
                   if args.worker else "; every run in a Spark of its own") + "\n")
        f.write(f"- command: `.venv/bin/python {record['command']}`\n")
        runs = f"{built['full_build_runs']} runs of {step} days, phases summed" if built["full_build_runs"] > 1 \
            else "phases"
        if reused:
            runs += f"; built before, at commit {built['build_commit']}, and kept (--keep-build)"
        f.write(f"- full build of {args.days} day(s) from {start}: **{full_s:.0f} s** wall, `courtwatch run` end to end "
                f"({runs}, cumulative: {_phases(full_phases)}) for {size['batches']} batches, {size['cases']} case, "
                f"{size['hotline']} call and {size['mediation']} mediation records "
                f"({size['gold_rows']} gold court-metric rows)\n")
        runs = "" if len(samples) == 1 else (
            f" (median of {len(samples)} runs on copies of the same full build: "
            f"{', '.join(f'{s[0]:.0f}' for s in samples)} s)")
        f.write(f"- one more day ({yesterday}), incremental: **{inc_s:.0f} s**{runs} wall end to end "
                f"(phases, cumulative: {_phases(inc_phases)}) for {day['batches']} batches, {day['cases']} case, "
                f"{day['hotline']} call and {day['mediation']} mediation records\n")
        if quiet:
            f.write(f"- a run with nothing new: **{quiet_s:.1f} s** wall end to end (median of {len(quiet)}: "
                    f"{', '.join(f'{s[0]:.1f}' for s in quiet)} s; phases, cumulative: {_phases(quiet_phases)})\n")
        for name, q in queries.items():
            f.write(f"- analyst query, {name}: **{q['seconds']} s** ({q['rows']} rows, warm session)\n")
        if gen_s:
            f.write(f"- (data generation, not timed in the above: {gen_s:.0f} s)\n")
    return 0


def _commit() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          cwd=ROOT).stdout.strip()


def _phases(phases: dict) -> str:
    return ", ".join(f"{k} {v:.0f} s" for k, v in phases.items())


if __name__ == "__main__":
    sys.exit(main())
