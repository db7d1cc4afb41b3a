"""The `courtwatch` command."""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from datetime import date
from pathlib import Path

from courtwatch import spark_worker
from courtwatch.progress import Progress
from courtwatch.settings import DATA_UMASK, SettingsError, load_profile


def _location(arg: str | None, default: str) -> str:
    """A --landing or --warehouse argument: a URI as given, a local path made absolute
    (Delta takes a relative path for a table name), or the profile's."""
    if not arg:
        return default
    return arg.rstrip("/") if "://" in arg else str(Path(arg).resolve())


def _date(s: str) -> date:
    return date.fromisoformat(s)


def cmd_generate(args) -> int:
    from testbed.generate.landing_zone import generate

    profile = load_profile(args.conf)
    landing = _location(args.landing, profile.landing)
    t = time.time()
    with Progress("generate") as progress:
        truth = generate(args.profile, landing, args.start, args.days, seed=args.seed, incidents=args.incidents,
                         fault_share=args.faults, write_from=args.write_from, track=progress.track)
    print(f"wrote {args.days} days of the {args.profile} profile to {landing} in {time.time() - t:.1f}s: "
          f"{len(truth['incidents'])} incidents, {len(truth['faults'])} faults (ground truth in _truth/truth.json)")
    return 0


def cmd_run(args) -> int:
    from courtwatch import pipeline
    from courtwatch.spark_session import spark_session

    profile = load_profile(args.conf)
    t = time.time()
    ctx = pipeline.RunContext.of(spark_session(profile), profile, rescan=args.rescan, as_of=args.as_of,
                                 full_refresh=args.full_refresh, landing=_location(args.landing, profile.landing),
                                 warehouse=_location(args.warehouse, profile.warehouse))
    print(pipeline.run(ctx).summary())
    print(f"done in {time.time() - t:.1f}s")
    return 0


def cmd_evaluate(args) -> int:
    import json

    from courtwatch.spark_session import spark_session
    from testbed.evaluation import evaluate, summarise

    profile = load_profile(args.conf)
    spark = spark_session(profile)
    methods = args.methods.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    results = evaluate(spark, profile, args.profile, args.start, args.days, args.incidents, seeds,
                       methods, args.workdir, rescore=args.rescore)
    results["summary"] = summarise(results, methods)
    print(json.dumps(results["summary"], indent=1))
    if args.out:
        from courtwatch import machine_description
        from testbed.evaluation import markdown

        out = Path(args.out)
        out.write_text(json.dumps(results, indent=1, ensure_ascii=False, default=str))
        command = "courtwatch " + " ".join(sys.argv[1:])
        out.with_suffix(".md").write_text(markdown(results, command, machine_description()))
    return 0


def cmd_silence(args) -> int:
    from courtwatch.spark_session import spark_session
    from jobs.alerts.notify import add_silence

    profile = load_profile(args.conf)
    add_silence(spark_session(profile), _location(args.warehouse, profile.warehouse), args.court, args.rule, args.until,
                args.reason)
    print(f"silenced {args.rule} for {args.court} until {args.until}")
    return 0


def cmd_step(args) -> int:
    """One step of `courtwatch run`, as the Airflow DAG submits it (or the DAG's helpers:
    `waiting`, the groups ingestion is mapped over, and `maintain`)."""
    import json

    from courtwatch import pipeline
    from courtwatch.spark_session import spark_session

    profile = load_profile(args.conf)
    spark = spark_session(profile, f"courtwatch-{args.step}")
    if args.step == "maintain":
        from jobs.ops.maintenance import maintain

        hours = profile.maintenance.retention_hours
        done = maintain(spark, profile.warehouse, hours)
        print(f"{len(done)} tables compacted and vacuumed (retention {hours} h): " +
              ", ".join(f"{d['table']} -{d['files_removed']}+{d['files_added']} files" for d in done))
        return 0
    ctx = pipeline.RunContext.of(spark, profile, rescan=args.rescan, until=args.until, full_refresh=args.full_refresh,
                                 sources=args.sources.split(",") if args.sources else None,
                                 courts=args.courts.split(",") if args.courts else None)
    if args.step == "waiting":
        text = json.dumps(pipeline.waiting_groups(ctx), ensure_ascii=False)
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(text)
        print(text)
        return 0
    pipeline.run(ctx, (pipeline.step(args.step),))
    return 0


def cmd_pull(args) -> int:
    from courtwatch.court_pull import pull

    profile = load_profile(args.conf)
    chosen = [e for e in profile.pull.endpoints if not args.court or e.court_id == args.court]
    if not chosen:
        print("no HTTP endpoints configured (the profile's pull.endpoints)")
    for e in chosen:
        print(pull(profile.landing, e.court_id, e.url).summary())
    return 0


def cmd_airflow(args) -> int:
    """Airflow with this repository's DAGs and metadata database."""
    import os

    from courtwatch.orchestration import airflow_environment

    env = airflow_environment(load_profile(args.conf))
    os.execvpe("airflow", ["airflow", *args.airflow_args], {**os.environ, **env})


def cmd_sql(args) -> int:
    from courtwatch.spark_session import spark_session
    from courtwatch.sql_endpoint import query

    profile = load_profile(args.conf)
    df = query(spark_session(profile, "courtwatch-sql"), _location(args.warehouse, profile.warehouse), args.statement)
    if args.format == "table":
        df.show(args.limit, truncate=False)
    else:
        import csv

        writer = csv.writer(sys.stdout, delimiter="," if args.format == "csv" else "\t")
        writer.writerow(df.columns)
        for row in df.limit(args.limit).collect():
            writer.writerow(["" if v is None else v for v in row])
    return 0


def cmd_sql_server(args) -> int:
    from courtwatch.sql_endpoint import serve

    profile = load_profile(args.conf)
    serve(profile, args.host or profile.sql.host, args.port or profile.sql.port)
    return 0


def cmd_tables(args) -> int:
    """The warehouse's tables as declared in schemas/tables/: their list, one table's columns,
    or the README's table section written anew."""
    from schemas import warehouse

    if args.readme:
        readme = Path(__file__).resolve().parent.parent / "README.md"
        readme.write_text(warehouse.readme_with_tables(readme.read_text()))
        print(f"wrote the table list into {readme}")
    elif args.name:
        t = warehouse.table(args.name)
        print(f"{t.name}: {t.description}\nkey: {', '.join(t.key) or '-'}")
        for c in t.columns:
            print(f"  {c.name:<28} {c.type:<14} {c.description}")
    else:
        print(warehouse.markdown())
    return 0


def cmd_dashboards(args) -> int:
    from courtwatch import dashboard_assets

    written = dashboard_assets.write()
    print(f"wrote {len(written)} Superset asset files to {dashboard_assets.ASSETS_DIR}")
    return 0


def cmd_superset(args) -> int:
    from courtwatch import superset_service as superset

    profile = load_profile(args.conf)
    if args.action == "rotate":
        if not args.username:
            raise SystemExit("courtwatch superset rotate USERNAME: whose password?")
        print(superset.rotate_password(profile, args.username))
        return 0
    action = {"setup": superset.setup, "apply": superset.apply,
              "serve": superset.serve, "up": superset.up, "down": superset.down}[args.action]
    said = action(profile)
    if said:
        print(said)
    return 0


def cmd_guidance(args) -> int:
    from courtwatch.guidance import web

    profile = load_profile(args.conf)
    {"serve": web.serve, "up": web.up, "down": web.down}[args.action](profile)
    return 0


def cmd_cluster(args) -> int:
    from courtwatch import spark_cluster

    profile = load_profile(args.conf or "cluster")
    spark_cluster.up(profile) if args.action == "up" else spark_cluster.down(profile)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    forwarded = _in_worker(argv)
    if forwarded is not None:
        return forwarded
    parser = argparse.ArgumentParser(prog="courtwatch", description=__doc__)
    parser.add_argument("--conf", default=None, help="configuration profile in conf/ (default: local, "
                        "or $COURTWATCH_PROFILE)")
    sub = parser.add_subparsers(dest="verb", required=True)
    from courtwatch.pipeline import STEP_NAMES, STEPS

    g = sub.add_parser("generate", help="write a demo landing zone (registry and daily batches)")
    g.add_argument("--profile", default="small", help="tiny, small, national or national-target (conf/generate.yaml)")
    g.add_argument("--landing", help="landing root (default: the profile's)")
    g.add_argument("--start", type=_date, default=date(2026, 9, 1))
    g.add_argument("--days", type=int, default=60)
    g.add_argument("--seed", type=int, default=7)
    g.add_argument("--incidents", type=int, default=0, help="incidents to inject (ground truth in _truth/)")
    g.add_argument("--faults", type=float, default=0.0, help="share of batches with a fault")
    g.add_argument("--write-from", type=_date, help="simulate from --start but write only from this day")
    g.set_defaults(func=cmd_generate)

    r = sub.add_parser("run", help="run the pipeline's steps in order: " + ", ".join(STEP_NAMES))
    r.add_argument("--landing", help="landing root (default: the profile's)")
    r.add_argument("--warehouse", help="warehouse root (default: the profile's)")
    r.add_argument("--as-of", type=_date, help="as-of date (default: the latest accepted business date)")
    r.add_argument("--full-refresh", action="store_true", help="recompute all gold tables")
    r.add_argument("--rescan", action="store_true",
                   help="look for deliveries at every business date, not only within ingest.lookback_days")
    r.set_defaults(func=cmd_run)

    e = sub.add_parser("evaluate", help="score the early warning on generated data with injected incidents")
    e.add_argument("--profile", default="small")
    e.add_argument("--start", type=_date, default=date(2026, 8, 1))
    e.add_argument("--days", type=int, default=90)
    e.add_argument("--incidents", type=int, default=12)
    e.add_argument("--seeds", default="3", help="comma-separated generator seeds")
    e.add_argument("--methods", default="nb_cusum,pooled_gtest,robust_z")
    e.add_argument("--workdir", help="where to generate (default: a temporary directory)")
    e.add_argument("--out", help="write the full results as JSON")
    e.add_argument("--rescore", action="store_true",
                   help="score the data already in --workdir again with the current settings (no generate, no run)")
    e.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("silence", help="stop notifying a rule for a court until a date (still recorded)")
    s.add_argument("--court", required=True)
    s.add_argument("--rule", default="*", help="a rule id (e.g. feed_silence, threshold:efile_sync_rate) or *")
    s.add_argument("--until", type=_date, required=True)
    s.add_argument("--reason", default="")
    s.add_argument("--warehouse")
    s.set_defaults(func=cmd_silence)


    st = sub.add_parser("step", help="one step of `run` (what the Airflow DAG submits to Spark), or the DAG's "
                        "helpers: waiting (the groups ingestion is mapped over) and maintain",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog="steps, in order:\n" + "\n".join(f"  {s.name:<8} {s.does}" for s in STEPS))
    st.add_argument("step", choices=[*STEP_NAMES, "waiting", "maintain"])
    st.add_argument("--out", help="waiting: write the groups of waiting batches here as JSON")
    st.add_argument("--sources", help="ingest: comma-separated sources (default: all)")
    st.add_argument("--courts", help="ingest: comma-separated court ids (default: all)")
    st.add_argument("--group", help="ingest: the group's name, for the logs")
    st.add_argument("--until", type=_date, help="metrics: as-of date, at most the newest business date")
    st.add_argument("--full-refresh", action="store_true")
    st.add_argument("--rescan", action="store_true", help="waiting, ingest: look at every business date")
    st.set_defaults(func=cmd_step)

    p = sub.add_parser("pull", help="fetch batches that courts publish over HTTP into the landing zone")
    p.add_argument("--court", help="only this court's endpoint")
    p.set_defaults(func=cmd_pull)

    a = sub.add_parser("airflow", help="run the airflow command with courtwatch's environment "
                       "(e.g. `courtwatch airflow standalone`)")
    a.add_argument("airflow_args", nargs=argparse.REMAINDER)
    a.set_defaults(func=cmd_airflow)

    q = sub.add_parser("sql", help="run one Spark SQL statement over the warehouse's tables (bronze.cases, gold.alerts...)")
    q.add_argument("statement")
    q.add_argument("--warehouse")
    q.add_argument("--format", choices=["table", "csv", "tsv"], default="table")
    q.add_argument("--limit", type=int, default=100)
    q.set_defaults(func=cmd_sql)

    ss = sub.add_parser("sql-server", help="serve the warehouse over JDBC/ODBC (Spark Thrift Server)")
    ss.add_argument("--host", help="bind address (default: the profile's sql.host, 127.0.0.1)")
    ss.add_argument("--port", type=int, help="port (default: the profile's sql.port, 10001)")
    ss.set_defaults(func=cmd_sql_server)

    tb = sub.add_parser("tables", help="the warehouse's tables as declared in schemas/tables/ (NAME: its columns)")
    tb.add_argument("name", nargs="?", help="a table, e.g. gold.alerts")
    tb.add_argument("--readme", action="store_true", help="write the list into README.md's table section")
    tb.set_defaults(func=cmd_tables)

    d = sub.add_parser("dashboards", help="rebuild dashboards/assets (Superset's import format) "
                       "from dashboards/*.yaml and the metric catalog")
    d.add_argument("action", choices=["build"])
    d.set_defaults(func=cmd_dashboards)

    su = sub.add_parser("superset", help="Superset: setup (metadata, admin, dashboards, access), apply (dashboards "
                        "and access again), serve; up/down: the SQL endpoint and Superset in the background; "
                        "rotate USERNAME: a new random password for one account")
    su.add_argument("action", choices=["setup", "apply", "serve", "up", "down", "rotate"])
    su.add_argument("username", nargs="?", help="rotate: the account")
    su.set_defaults(func=cmd_superset)

    gl = sub.add_parser("guidance", help="the guidance loop's pages and API (督办跟踪): serve in the foreground; "
                        "up/down: in the background")
    gl.add_argument("action", choices=["serve", "up", "down"])
    gl.set_defaults(func=cmd_guidance)

    c = sub.add_parser("cluster", help="a local Spark standalone cluster (master and workers) as the "
                       "profile's cluster: section says (default profile: cluster)")
    c.add_argument("action", choices=["up", "down"])
    c.set_defaults(func=cmd_cluster)

    w = sub.add_parser("worker", help="a Spark driver kept warm for `run` and `step` (the DAG's tasks): "
                       "up (in the background), down, status, or serve in the foreground")
    w.add_argument("action", choices=["up", "down", "status", "serve"])
    w.set_defaults(func=cmd_worker)

    args = parser.parse_args(argv)
    os.umask(DATA_UMASK)  # data, stores, logs: owner and group only
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("courtwatch").setLevel(logging.INFO)
    try:
        return args.func(args)
    except SettingsError as e:
        parser.exit(2, f"courtwatch: bad setting\n{e}\n")


def _in_worker(argv: list[str]) -> int | None:
    """`run` and `step` go to the profile's warm Spark driver when it is up (its exit code; None: it is
    not, or this is the worker itself). Decided before the parser is built, which imports all of Spark."""
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--conf")
    first.add_argument("verb", nargs="?")
    known, _ = first.parse_known_args(argv)
    if known.verb not in spark_worker.COMMANDS:
        return None
    try:
        profile = load_profile(known.conf)
    except SettingsError:
        return None  # the command itself says what is wrong, naming the file and key
    return spark_worker.forward(profile, argv)


def cmd_worker(args) -> int:
    profile = load_profile(args.conf)
    if args.action == "status":
        up = spark_worker.running(profile)
        print(f"spark worker: {'up' if up else 'not running'} ({profile.spark.worker_dir})")
        return 0 if up else 3
    {"serve": spark_worker.serve, "up": spark_worker.up, "down": spark_worker.down}[args.action](profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
