"""Early warning: conditions -> episodes -> gold/alerts, routed to high courts.

One alert is one episode of (kind, rule, court, metric or source) while its
condition holds; it is resolved once the condition has not held for two days,
and a breach within the rules' quiet period after that reopens it. `alert_id` is the
fingerprint of the episode's key and first day, so reruns find the same
alerts, and an episode that grows keeps its id.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.alerts import causes, detectors
from jobs.alerts.rules import AlertRules
from schemas import SCHEMA_DIR
from schemas.metric_catalog import catalog
from schemas.warehouse import table

ALERTS = table("gold.alerts")
ALERT_CAUSES = table("gold.alert_causes")
DAILY_BREAKDOWNS = table("work.daily_breakdowns")
BATCHES = table("ops.batches")
COURTS = table("silver.courts")
COURT_METRICS = table("gold.court_metrics")
KEY = ("kind", "rule_id", "court_id", "metric_id", "source")
EVALUATED = "alerts_evaluated_on"  # gold/alerts' commit metadata: the inputs it was last evaluated on
GAP_ENDS_EPISODE = 2  # resolved once the condition has not held for 2 consecutive days
SOURCE_ZH = {"cases": "案件", "hotline": "12368热线", "mediation": "调解"}


def conditions(spark: SparkSession, warehouse: str, as_of: date, cfg: AlertRules) -> DataFrame:
    """Every (rule, court, day) on which an alert condition holds, within the lookback."""
    start = detectors.lookback_start(as_of, cfg.lookback_days)
    ledger = BATCHES.read(spark, warehouse)
    # the anomaly baseline needs history before the lookback
    history_start = start - timedelta(days=cfg.anomaly.baseline_days + cfg.anomaly.window_days)
    days = COURT_METRICS.read(spark, warehouse).where(
        (F.col("period") == "day") & F.col("period_start").between(F.lit(history_start), F.lit(as_of)))
    parts = [
        detectors.feed(ledger.where(F.col("business_date") >= F.lit(history_start)), as_of, cfg.feed),
        detectors.threshold(spark, days, cfg.threshold),
        detectors.anomaly(spark, days, history_start, as_of, cfg.anomaly, COURTS.read(spark, warehouse)),
    ]
    out = parts[0].unionByName(parts[1]).unionByName(parts[2])
    return out.where(F.col("date").between(F.lit(start), F.lit(as_of)))


@dataclass
class Episode:
    kind: str
    rule_id: str
    court_id: str
    metric_id: str | None
    source: str | None
    window_start: date
    window_end: date
    severity: str
    observed: float
    expected: float
    # the feed outage that explains this anomaly (Alertmanager's inhibition): recorded, not notified
    inhibitor: "Episode | None" = field(default=None, repr=False, compare=False)

    @property
    def key(self) -> tuple:
        return (self.kind, self.rule_id, self.court_id, self.metric_id, self.source)

    @property
    def inhibited(self) -> bool:
        return self.inhibitor is not None


def episodes(conds: DataFrame, reopen_within_days: int = GAP_ENDS_EPISODE) -> list[Episode]:
    """Group each key's days into episodes; small enough to finish on the driver. A day this close
    after the last one continues its episode (the rules' quiet period: a breach soon after one
    resolved is the same incident, not a new one)."""
    rows = conds.orderBy(*KEY, "date").collect()
    out: list[Episode] = []
    for r in rows:
        key = tuple(r[k] for k in KEY)
        last = out[-1] if out else None
        if last and last.key == key and (r["date"] - last.window_end).days <= reopen_within_days:
            last.window_end = r["date"]
            last.observed, last.expected = r["observed"], r["expected"]
            if r["severity"] == "critical":
                last.severity = "critical"
        else:
            out.append(Episode(*key, r["date"], r["date"], r["severity"], r["observed"], r["expected"]))
    return out


def inhibit(found: list[Episode], silent_days: int, quiet_period_days: int) -> list[Episode]:
    """Mark each anomaly that a feed outage of the same court explains: a metric of the silent source
    whose episode overlaps the outage, from its first silent day (the feed alert opens `silent_days`
    in) to the quiet period after it. A feed outage then shows as one alert, not one per metric."""
    outages = [e for e in found if e.kind == "feed"]
    cat = catalog()
    for e in found:
        if e.kind != "anomaly":
            continue
        sources = cat.sources_of(e.metric_id)
        e.inhibitor = next((f for f in outages if f.court_id == e.court_id and f.source in sources
                            and e.window_start <= f.window_end + timedelta(days=quiet_period_days)
                            and e.window_end >= f.window_start - timedelta(days=silent_days - 1)), None)
    return found


def fingerprint(key: tuple, first_day: date) -> str:
    text = "|".join("" if k is None else str(k) for k in key) + f"|{first_day.isoformat()}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def message(e: Episode, court_name: str) -> str:
    """Alert text: court, rule, values. Never personal data."""
    if e.kind == "feed":
        return (f"{court_name}（{e.court_id}）{SOURCE_ZH.get(e.source, e.source)}数据自 {e.window_start - timedelta(days=1)} "
                f"起中断，已连续 {int(e.observed)} 个业务日未报送")
    m = catalog().metric(e.metric_id)
    fmt = (lambda v: f"{v:.1%}") if m.unit == "ratio" else (lambda v: f"{v:.1f}")
    if e.kind == "threshold":
        return (f"{court_name}（{e.court_id}）本月{m.zh}为 {fmt(e.observed)}，低于标准 {fmt(e.expected)}"
                f"（{'严重' if e.severity == 'critical' else '预警'}）")
    change = "骤降" if e.rule_id.endswith("collapse") else "骤升"
    return (f"{court_name}（{e.court_id}）{m.zh}{change}：近期 {fmt(e.observed)}，"
            f"通常 {fmt(e.expected)}（{'严重' if e.severity == 'critical' else '预警'}）")


def reconcile(existing: list[dict], found: list[Episode], as_of: date, lookback_start: date,
              courts: dict[str, dict], now: datetime, reopen_within_days: int = GAP_ENDS_EPISODE) -> list[dict]:
    """The alerts table rows after this evaluation: found episodes take over the
    id of an existing alert they continue; existing firing alerts no longer
    found are resolved."""
    by_key: dict[tuple, list[dict]] = {}
    for a in existing:
        by_key.setdefault(tuple(a[k] for k in KEY), []).append(a)
    out, matched, ids, priors = [], set(), {}, []
    for e in found:
        prior = next((a for a in by_key.get(e.key, []) if a["alert_id"] not in matched
                      and a["window_start"] <= e.window_end
                      and (e.window_start - a["window_end"]).days <= reopen_within_days), None)
        if prior:
            matched.add(prior["alert_id"])
        start = min(e.window_start, prior["window_start"]) if prior else e.window_start
        status = "firing" if (as_of - e.window_end).days < GAP_ENDS_EPISODE else "resolved"
        court = courts.get(e.court_id, {})
        row = {
            "alert_id": prior["alert_id"] if prior else fingerprint(e.key, start),
            "kind": e.kind, "rule_id": e.rule_id, "court_id": e.court_id,
            "high_court_id": court.get("high_court_id"), "metric_id": e.metric_id, "source": e.source,
            "window_start": start, "window_end": e.window_end, "status": status, "severity": e.severity,
            "observed": float(e.observed), "expected": float(e.expected),
            "message": message(e, court.get("name", e.court_id)),
            "first_detected_at": prior["first_detected_at"] if prior else now,
        }
        ids[id(e)] = row["alert_id"]
        out.append(row)
        priors.append(prior)
    # a second pass: an inhibited anomaly names its feed alert, whose id the first pass settled
    for e, row, prior in zip(found, out, priors):
        row["inhibited_by"] = ids.get(id(e.inhibitor)) if e.inhibited else None
        if prior:
            same = all(row[k] == prior.get(k) for k in ("window_start", "window_end", "status", "severity",
                                                        "observed", "expected", "inhibited_by"))
            row["updated_at"] = prior["updated_at"] if same else now
        else:
            row["updated_at"] = now
    for a in existing:
        if a["alert_id"] in matched or a["status"] != "firing":
            continue
        if a["window_end"] >= lookback_start:  # its condition no longer holds
            out.append({**a, "status": "resolved", "updated_at": now})
    return out


def found_episodes(spark: SparkSession, warehouse: str, as_of: date, cfg: AlertRules) -> list[Episode]:
    """The episodes the data show as of `as_of`, with the anomalies a feed outage explains marked."""
    found = episodes(conditions(spark, warehouse, as_of, cfg), cfg.quiet_period_days)
    return inhibit(found, cfg.feed.silent_days, cfg.quiet_period_days)


def with_causes(spark: SparkSession, warehouse: str, changed: list[dict], cfg: AlertRules) -> None:
    """Find the top contributors of each changed anomaly and threshold alert, write them to
    gold/alert_causes (one commit, replacing those alerts' causes) and into its message."""
    judged = [r for r in changed if r["kind"] in ("anomaly", "threshold")]
    if not judged:
        return
    a = cfg.anomaly
    spans = {r["alert_id"]: causes.windows(r["kind"], r["window_start"], r["window_end"], a.window_days,
                                           a.baseline_days, a.guard_days) for r in judged}
    first = min(b[0] for _, b in spans.values())
    last = max(r["window_end"] for r in judged)
    rows = (DAILY_BREAKDOWNS.read(spark, warehouse)
            .where(F.col("court_id").isin(sorted({r["court_id"] for r in judged}))
                   & F.col("date").between(F.lit(first), F.lit(last)))
            .select("court_id", "date", "breakdown", "member", "measure", "value").toPandas())
    by_court = dict(tuple(rows.groupby("court_id"))) if len(rows) else {}
    found = []
    for r in judged:
        recent, baseline = spans[r["alert_id"]]
        court_rows = by_court.get(r["court_id"])
        if court_rows is None:
            continue
        days = (recent[1] - recent[0]).days + 1
        is_count = not catalog().metric(r["metric_id"]).is_ratio
        top = causes.contributors(court_rows, r["metric_id"], recent, baseline,
                                  r["expected"] * days if is_count and r["kind"] == "anomaly" else None)
        text = causes.summary(top, r["metric_id"])
        r["message"] = r["message"].split(causes.SEPARATOR)[0] + (f"{causes.SEPARATOR}{text}" if text else "")
        found += [(r["alert_id"], rank, c.breakdown, c.member, c.observed, c.expected, c.change, c.share)
                  for rank, c in enumerate(top, 1)]
    ALERT_CAUSES.create_if_missing(spark, warehouse)
    ids = ", ".join(f"'{r['alert_id']}'" for r in judged)  # fingerprints: hex digits only
    (ALERT_CAUSES.delta_table(spark, warehouse).alias("t")
     .merge(spark.createDataFrame(found, ALERT_CAUSES.schema).alias("s"),
            "t.alert_id = s.alert_id AND t.breakdown = s.breakdown AND t.member = s.member")
     .whenMatchedUpdateAll().whenNotMatchedInsertAll()
     .whenNotMatchedBySourceDelete(condition=f"t.alert_id IN ({ids})")
     .execute())


def inputs(spark: SparkSession, warehouse: str, as_of: date, cfg: AlertRules) -> dict:
    """Everything an evaluation reads: the as-of day, the versions of the tables, the rules and the
    code that judges them. Equal inputs give equal alerts (the lifecycle follows the as-of day, not
    the clock), so a run with nothing new does not evaluate again."""
    code = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")) + sorted(SCHEMA_DIR.glob("*.yaml")):
        code.update(path.read_bytes())
    versions = {t.name: t.version(spark, warehouse) if t.exists(spark, warehouse) else -1
                for t in (COURT_METRICS, DAILY_BREAKDOWNS, BATCHES, COURTS)}
    return {"as_of": as_of.isoformat(), **versions,
            "rules": hashlib.sha256(cfg.model_dump_json().encode()).hexdigest(), "code": code.hexdigest()}


def evaluate(spark: SparkSession, warehouse: str, as_of: date, cfg: AlertRules) -> list[dict] | None:
    """Derive the alerts as of `as_of` and merge them into gold/alerts. Returns the changed rows;
    None when the inputs are those of the last evaluation (nothing to do)."""
    ALERTS.create_if_missing(spark, warehouse)
    ALERTS.add_missing_columns(spark, warehouse)  # a warehouse from before a column was declared
    given = inputs(spark, warehouse, as_of, cfg)
    done = ALERTS.last_commit_metadata(spark, warehouse, EVALUATED)
    if done is not None and done[EVALUATED] == given:
        return None
    courts = {r["court_id"]: r.asDict() for r in COURTS.read(spark, warehouse).collect()}
    existing = [r.asDict() for r in ALERTS.read(spark, warehouse).collect()]
    found = found_episodes(spark, warehouse, as_of, cfg)
    now = datetime.now(timezone.utc)
    rows = reconcile(existing, found, as_of, detectors.lookback_start(as_of, cfg.lookback_days), courts, now,
                     cfg.quiet_period_days)
    changed = [r for r in rows if r["updated_at"] == now]
    with_causes(spark, warehouse, changed, cfg)
    # the alerts and the inputs they were evaluated on in one commit (no alert changed: a commit of
    # the inputs alone)
    meta = {EVALUATED: given}
    if changed:
        (ALERTS.delta_table(spark, warehouse, meta).alias("t")
         .merge(spark.createDataFrame(changed, ALERTS.schema).alias("s"), "t.alert_id = s.alert_id")
         .whenMatchedUpdate(set={c: f"s.{c}" for c in ALERTS.schema.fieldNames() if c != "first_detected_at"})
         .whenNotMatchedInsertAll().execute())
    else:
        ALERTS.note(spark, warehouse, meta)
    return changed
