"""The pipeline's steps, declared once: `courtwatch run` runs them all in order in
one process; the Airflow DAG (dags/courtwatch_daily.py) maps the same steps onto
tasks, each `courtwatch step NAME`.

    pull -> ingest -> quality -> metrics -> alerts -> notify -> publish

Ingestion lands batches in bronze (under Airflow one task per province group);
the quality step then checks every record landed since it last ran and merges
those that pass into silver, once for all groups. It is the gate: in both, a
suite that fails stops the run before gold is built. Every run (the whole pipeline, or one step
under Airflow) is recorded in ops/runs (jobs/ops/run_ledger.py), so a run that
dies is undone by the next one.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Callable

from pyspark.sql import SparkSession

from courtwatch.progress import Progress
from courtwatch.settings import CacheSettings, GuidanceSettings, Profile, ServingSettings
from jobs.alerts import episodes, notify
from jobs.alerts.rules import AlertRules
from jobs.gold import metrics
from jobs.landing import court_registry, ingest
from jobs.ops import run_ledger
from jobs.serving import postgres_store, publish
from jobs.silver import intake
from quality import suites

log = logging.getLogger("courtwatch")


@dataclass
class RunContext:
    """What the steps of a run are given, and what they found."""

    spark: SparkSession
    landing: str
    warehouse: str
    hash_key: bytes
    alert_rules: AlertRules
    lookback_days: int | None  # None: look for deliveries at every business date (--rescan)
    pull_endpoints: tuple = ()
    as_of: date | None = None  # gold as of exactly this day (default: the newest delivered) ...
    until: date | None = None  # ... or as of at most this one (the DAG's business date)
    full_refresh: bool = False
    sources: list[str] | None = None  # ingest only these sources and courts (a DAG group)
    courts: list[str] | None = None
    run_id: str = ""
    serving: ServingSettings = ServingSettings()
    serving_store: str = ""  # the DuckDB file the dashboards read
    postgres_dsn: str | None = None  # serving.store postgres: where to copy it
    results_cache: CacheSettings = CacheSettings(backend="none")  # Superset's, emptied after a publish
    results_cache_redis_url: str | None = None
    guidance: GuidanceSettings = GuidanceSettings()  # the loop's time limits
    guidance_database: str | None = None  # the loop's database (None: no action taken yet anywhere)
    # found by the steps
    landed: ingest.IngestResult | None = None
    gold_as_of: date | None = None
    alerts_changed: list = field(default_factory=list)
    notified: dict = field(default_factory=dict)

    @classmethod
    def of(cls, spark: SparkSession, profile: Profile, rescan: bool = False, **overrides) -> "RunContext":
        """A run of the profile's settings; `overrides` replace any of them (a --warehouse)."""
        given = dict(spark=spark, landing=profile.landing, warehouse=profile.warehouse,
                     hash_key=profile.hash_key(), alert_rules=profile.alert_rules(),
                     lookback_days=None if rescan else profile.ingest.lookback_days,
                     pull_endpoints=profile.pull.endpoints, serving=profile.serving,
                     results_cache=profile.superset.cache,
                     results_cache_redis_url=profile.secret(profile.superset.cache.redis_url_var)
                     if profile.superset.cache.backend == "redis" else None,
                     postgres_dsn=profile.secret(profile.serving.postgres_dsn_var)
                     if profile.serving.store == "postgres" else None,
                     guidance=profile.guidance, guidance_database=_loop_database(profile))
        given.update(overrides)
        given.setdefault("serving_store", profile.serving_store(given["warehouse"]))
        return cls(**given)

    def summary(self) -> str:
        firing = sum(a["status"] == "firing" for a in self.alerts_changed)
        landed = self.landed.summary() if self.landed else "nothing ingested"
        return (f"run {self.run_id} as of {self.gold_as_of}\n{landed}\n"
                f"alerts: {len(self.alerts_changed)} new or changed ({firing} firing); "
                f"digests sent to {len(self.notified)} high court(s)")


def _loop_database(profile: Profile) -> str | None:
    """The guidance loop's database URL, if there is one to read (the service made it)."""
    from pathlib import Path

    from courtwatch.guidance.web import database_url

    url = database_url(profile)
    return None if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists() else url


# --- the steps: each takes the run's context and returns its summary line ------

def pull(ctx: RunContext) -> str:
    """Fetch the batches of courts that publish over HTTP (profile pull.endpoints)."""
    from courtwatch.court_pull import pull as pull_court

    pulled = [pull_court(ctx.landing, e.court_id, e.url) for e in ctx.pull_endpoints]
    return "; ".join(p.summary() for p in pulled) or "no HTTP endpoints configured"


def ingest_batches(ctx: RunContext) -> str:
    """Land the waiting batches: judged into the ledger, accepted ones into bronze."""
    ctx.landed = ingest.ingest(ctx.spark, ctx.landing, ctx.warehouse, ctx.run_id,
                               ctx.sources, ctx.courts, ctx.lookback_days)
    return ctx.landed.summary().replace("\n", "; ")


def quality_gate(ctx: RunContext) -> str:
    """Check what landed against the contract and merge what passes into silver; a failed
    suite stops the run before gold."""
    # the registry the records are checked against (court_unknown), up to date first: once a day,
    # not in every province group of the DAG
    courts = ingest.update_registry(ctx.spark, ctx.landing, ctx.warehouse)
    taken = intake.take_landed(ctx.spark, ctx.warehouse, ctx.hash_key, ctx.run_id, courts)
    try:
        return f"{taken.summary()}; {suites.gate(taken.failed_checks())}"
    except suites.QualityGateFailed:
        # Under Airflow the batches landed in runs of their own (one per province): those
        # fail too, so that the next run takes their batches again, once the rules are mended.
        run_ledger.fail(ctx.spark, ctx.warehouse, taken.rejected_runs())
        raise


def build_gold(ctx: RunContext) -> str:
    """Bring the gold metric tables up to the as-of date.

    Under the DAG (`until`) never past the newest day a court has delivered."""
    as_of = ctx.as_of
    if as_of is None and ctx.until is not None:
        _, last = metrics.business_dates(ctx.spark, ctx.warehouse)
        as_of = min(ctx.until, last) if last else None
        if last is None:
            return "no accepted batches yet"
    ctx.gold_as_of = metrics.refresh(ctx.spark, ctx.warehouse, as_of=as_of, full_refresh=ctx.full_refresh)
    return f"gold as of {ctx.gold_as_of}"


def _gold_as_of(ctx: RunContext) -> date | None:
    """As of which day gold stands: what this run built, or (a step on its own) what the
    gold table's last commit says."""
    if ctx.gold_as_of is None:
        done = metrics.COURT_METRICS.last_commit_metadata(ctx.spark, ctx.warehouse, metrics.GOLD_WATERMARK)
        ctx.gold_as_of = date.fromisoformat(done["as_of"]) if done else None
    return ctx.gold_as_of


def evaluate_alerts(ctx: RunContext) -> str:
    """Evaluate the alert rules as of gold's day: episodes into gold/alerts; then the guidance
    loop's follow-up of them (ops/alert_actions, gold/alert_followup, gold/guidance_metrics)."""
    as_of = _gold_as_of(ctx)
    if as_of is None:
        return "no gold yet"
    changed = episodes.evaluate(ctx.spark, ctx.warehouse, as_of, ctx.alert_rules)
    ctx.alerts_changed = changed or []
    done = (f"{len(changed)} alerts new or changed as of {as_of}" if changed is not None else
            f"alerts already evaluated as of {as_of} on the same gold, batches, registry and rules")
    return f"{done}; {follow_up(ctx)}"


def follow_up(ctx: RunContext) -> str:
    from courtwatch.guidance import store
    from jobs.guidance.followup import copy_loop

    histories = {}
    if ctx.guidance_database:
        engine = store.engine(ctx.guidance_database)
        histories = store.histories(engine)
        engine.dispose()
    return copy_loop(ctx.spark, ctx.warehouse, histories, ctx.guidance.limits(), ctx.guidance.recurrence_days)


def notify_high_courts(ctx: RunContext) -> str:
    """Send each high court one digest of its new and resolved alerts."""
    as_of = _gold_as_of(ctx)
    if as_of is None:
        return "no gold yet"
    ctx.notified = notify.notify(ctx.spark, ctx.warehouse, as_of, ctx.alert_rules.notify, ctx.guidance.url)
    return f"digests sent to {len(ctx.notified)} high court(s)"


def publish_serving(ctx: RunContext) -> str:
    """Publish the serving store the dashboards read (DuckDB; PostgreSQL too by choice)."""
    from courtwatch.superset_service import clear_results_cache

    where = {"kind": ctx.serving.store, "schema": ctx.serving.postgres_schema if ctx.serving.store == "postgres" else None}
    given = publish.inputs(ctx.spark, ctx.warehouse, ctx.guidance.url, where)
    before = publish.published_inputs(ctx.serving_store)
    if before == given:
        return "the store in place was made from the same gold, alerts, ledger and code: not published again"
    done = publish.publish(ctx.warehouse, ctx.serving_store, ctx.spark, ctx.run_id, ctx.guidance.url, before, given)
    summary = done.summary()
    if ctx.serving.store == "postgres":
        rows = postgres_store.copy_store(ctx.serving_store, ctx.postgres_dsn, ctx.serving.postgres_reader_role,
                                         ctx.serving.postgres_schema)
        summary += f"; copied into PostgreSQL schema {ctx.serving.postgres_schema} ({sum(rows.values()):,} rows)"
    # after the swap: a cached chart of the old store is not served again
    summary += f"; {clear_results_cache(ctx.results_cache, ctx.results_cache_redis_url)}"
    publish.note_inputs(ctx.serving_store, given)
    return summary


@dataclass(frozen=True)
class Step:
    name: str
    work: Callable[[RunContext], str]

    @property
    def does(self) -> str:
        return (self.work.__doc__ or "").strip().splitlines()[0]


STEPS = (
    Step("pull", pull),
    Step("ingest", ingest_batches),
    Step("quality", quality_gate),
    Step("metrics", build_gold),
    Step("alerts", evaluate_alerts),
    Step("notify", notify_high_courts),
    Step("publish", publish_serving),
)
STEP_NAMES = tuple(s.name for s in STEPS)


def step(name: str) -> Step:
    return next(s for s in STEPS if s.name == name)


def run(ctx: RunContext, steps: tuple[Step, ...] = STEPS) -> RunContext:
    """Run the steps in order as one recorded run; the first that fails ends it."""
    ctx.run_id = run_ledger.start(ctx.spark, ctx.warehouse)
    names = "+".join(s.name for s in steps)
    with Progress("run" if steps == STEPS else f"step {names}") as progress:
        for s in steps:
            try:
                with progress.task(s.name) as report:
                    report.summary = s.work(ctx)
            except BaseException as exc:
                run_ledger.finish(ctx.spark, ctx.warehouse, ctx.run_id, "failed",
                                  summary=f"step {s.name} failed: {exc}"[:2000])
                raise
    summary = ctx.summary() if steps == STEPS else f"step {names}: {report.summary}"
    run_ledger.finish(ctx.spark, ctx.warehouse, ctx.run_id, "succeeded", ctx.gold_as_of, summary)
    return ctx


# --- how the DAG fans ingestion out ------------------------------------------

def waiting_groups(ctx: RunContext) -> list[dict]:
    """The batches waiting in the landing zone, grouped by high court.

    These are the units ingestion is mapped over, so that one court's broken or
    slow delivery holds up only its own province's group. A group takes all
    three sources: each Spark task costs ~20 s of start-up on its own, and 31
    provinces x 3 sources would spend the daily run on start-ups. Courts missing
    from the registry form a group of their own (their records are quarantined
    as court_unknown).
    """
    ledger = ingest.LEDGER.read(ctx.spark, ctx.warehouse)
    high_court = {r["court_id"]: r["high_court_id"] for r in
                  court_registry.read_registry(ctx.spark, ctx.landing).select("court_id", "high_court_id").collect()}
    groups: dict[str, dict] = defaultdict(lambda: {"courts": set(), "sources": set(), "batches": 0})
    for d in ingest.new_deliveries(ctx.spark, ctx.landing, ledger, ctx.lookback_days):
        # the Supreme People's Court answers to no high court: it is a group of its own
        g = groups[high_court.get(d.court_id) or d.court_id if d.court_id in high_court else "unregistered"]
        g["courts"].add(d.court_id)
        g["sources"].add(d.source)
        g["batches"] += 1
    return [{"high_court_id": h, "courts": sorted(g["courts"]), "sources": sorted(g["sources"]),
             "batches": g["batches"]} for h, g in sorted(groups.items())]
