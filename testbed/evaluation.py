"""`courtwatch evaluate`: how well the early warning catches injected incidents.

Generates landing zones with and without incidents, runs the pipeline, derives
the alert episodes with each anomaly method, and scores them as alerts.md
defines: recall (an alert for the court and metric, or source, overlapping the
incident and starting no later than 3 days after it began), precision (share
of anomaly and feed episodes overlapping an incident of the same court),
detection delay, and false alerts per 100 court-months on incident-free data.
"""
from __future__ import annotations

import json
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from courtwatch import pipeline
from courtwatch.progress import Progress
from courtwatch.settings import Profile
from jobs.alerts import episodes as alerts
from jobs.alerts.rules import AlertRules
from schemas.warehouse import table
from testbed.generate.landing_zone import INCIDENT_KINDS, generate

MAX_DELAY = 3
BASELINE_WEEKS = 4  # the data evidence's baseline: the same weekday of the four weeks before an incident


def data_evidence(measures, incident: dict) -> float | None:
    """How much evidence the court's own data holds for the incident by its last day of grace (the
    first MAX_DELAY + 1 days): the log-likelihood ratio of the shift that actually happened against
    the court's baseline, binomial for a rate (trials pooled over those days), Poisson for a count.
    That is the generalised likelihood ratio, the most any likelihood-ratio detector can have there:
    below the detector's threshold (the evidence that keeps its false alarms down), no such detector
    can flag the incident in time, whatever its tuning; "where the data allows it". `measures`:
    work/daily_measures as pandas (court_id, date, measure, value). None for a silent feed (no data
    is the evidence)."""
    import math

    from schemas.metric_catalog import catalog
    from schemas.workdays import is_festival, is_working_day

    if incident["kind"] == "feed_silence":
        return None
    metric = next(m for m in catalog().metrics if m.id == incident["metric_id"])
    start = date.fromisoformat(incident["start"]) if isinstance(incident["start"], str) else incident["start"]
    days = [start + timedelta(days=k) for k in range(MAX_DELAY + 1)]
    court = measures[measures.court_id == incident["court_id"]]
    by_day = court.pivot_table(index="date", columns="measure", values="value", aggfunc="sum").fillna(0.0)
    by_day.index = [d if isinstance(d, date) else d.date() for d in by_day.index]

    def value(measure, day):
        return float(by_day.at[day, measure]) if day in by_day.index and measure in by_day.columns else 0.0

    def baseline(measure, day):  # the same weekday's ordinary working days in the weeks before the start
        before = [day - timedelta(days=7 * w) for w in range(1, BASELINE_WEEKS + 1)]
        before = [d for d in before if is_working_day(d) and not is_festival(d)]
        return sum(value(measure, d) for d in before) / len(before) if before else 0.0

    if metric.is_ratio:
        before = [start - timedelta(days=k) for k in range(1, 7 * BASELINE_WEEKS + 1)]
        p0 = sum(value(metric.numerator, d) for d in before) / max(sum(value(metric.denominator, d) for d in before), 1e-9)
        x, n = sum(value(metric.numerator, d) for d in days), sum(value(metric.denominator, d) for d in days)
        if n == 0 or not 0 < p0 < 1:
            return 0.0
        p1 = x / n
        terms = [(x, p1, p0), (n - x, 1 - p1, 1 - p0)]
        return sum(k * math.log(a / b) for k, a, b in terms if k > 0)
    # counts: ordinary working days only, against the same weekday's ordinary working days before (a
    # holiday's own drop is no incident's evidence, and the detector judges no count in a festival)
    ordinary = [d for d in days if is_working_day(d) and not is_festival(d)]
    x = sum(value(metric.numerator, d) for d in ordinary)
    mu = sum(baseline(metric.numerator, d) for d in ordinary)
    if mu <= 0:
        return 0.0
    return (x * math.log(x / mu) if x > 0 else 0.0) - (x - mu)


def _matches(e: alerts.Episode, i: dict) -> bool:
    """The episode is an alert for the incident's court and metric (or source, for a silent feed)."""
    return e.court_id == i["court_id"] and (
        e.source == i["source"] if i["kind"] == "feed_silence" else e.metric_id == i["metric_id"])


def score(episodes: list[alerts.Episode], incidents: list[dict], threshold: float | None = None) -> dict:
    """The scores of alerts.md; with `threshold` (the detector's evidence to fire) also the recall over
    the incidents whose data holds that much evidence in time (each incident's `evidence`, data_evidence)."""
    inc = [{**i, "start": date.fromisoformat(i["start"]), "end": date.fromisoformat(i["end"])} for i in incidents]
    # what a high court is told: inhibited anomalies (their source was silent) are recorded, not notified
    judged = [e for e in episodes if e.kind in ("anomaly", "feed") and not e.inhibited]
    caught, delays, per_incident, kinds, allowed = [], [], [], {}, []
    for i in inc:
        overlapping = [e for e in judged if _matches(e, i) and e.window_start <= i["end"] and e.window_end >= i["start"]]
        hits = [e for e in overlapping if e.window_start <= i["start"] + timedelta(days=MAX_DELAY)]
        caught.append(bool(hits))
        allowed.append(threshold is None or i.get("evidence") is None or i["evidence"] >= threshold)
        k = kinds.setdefault(i["kind"], {"incidents": 0, "caught": 0})
        k["incidents"] += 1
        if hits:
            k["caught"] += 1
            delays.append(max(0, (min(e.window_start for e in hits) - i["start"]).days))
            per_incident.append(len(overlapping))
    true = [e for e in judged if any(e.court_id == i["court_id"] and e.window_start <= i["end"]
                                     and e.window_end >= i["start"] for i in inc)]
    months: dict[tuple, int] = {}
    for e in episodes:
        if e.kind == "threshold":
            key = (e.court_id, e.metric_id, e.window_start.strftime("%Y-%m"))
            months[key] = months.get(key, 0) + 1
    return {
        "incidents": len(inc), "caught": sum(caught),
        "recall": sum(caught) / len(inc) if inc else None,
        "episodes": len(judged), "true_episodes": len(true),
        "inhibited": sum(e.inhibited for e in episodes),
        "precision": len(true) / len(judged) if judged else None,
        "delays": delays, "episodes_per_incident": per_incident, "by_kind": kinds,
        "threshold_episodes": sum(months.values()), "threshold_court_metric_months": len(months),
        "threshold_most_in_a_month": max(months.values(), default=0),
        "data_allows": sum(allowed), "caught_where_data_allows": sum(c for c, a in zip(caught, allowed) if a),
        "missed": [f"{i['kind']} {i['court_id']} {i['start']}" + (
            f" (data evidence {i['evidence']:.1f})" if i.get("evidence") is not None else "")
            for i, c in zip(inc, caught) if not c],
        "false": [f"{e.kind} {e.rule_id} {e.court_id} {e.metric_id or e.source} {e.window_start}..{e.window_end}"
                  for e in judged if e not in true],
    }


def _episodes(spark, warehouse: str, as_of: date, cfg: AlertRules, method: str) -> list[alerts.Episode]:
    cfg = cfg.model_copy(update={"anomaly": cfg.anomaly.model_copy(update={"method": method})})
    return alerts.found_episodes(spark, warehouse, as_of, cfg)


def evaluate(spark, settings: Profile, profile: str, start: date, days: int, incidents: int, seeds: list[int],
             methods: list[str], workdir: str | None = None, rescore: bool = False) -> dict:
    """Generate, run and score each seed twice (with incidents and without).

    With `rescore`, the landing zones and warehouses already in `workdir` are
    scored again with the current alert settings, without generating or running:
    tuning a detector then takes seconds, and the data stays the same.
    """
    work = Path(workdir or tempfile.mkdtemp(prefix="courtwatch-eval-"))
    rules = settings.alert_rules()
    cfg = rules.model_copy(update={"lookback_days": days + 1,
                                   "notify": rules.notify.model_copy(update={"outbox_dir": str(work / "outbox")})})
    results = {"profile": profile, "start": start.isoformat(), "days": days, "seeds": seeds, "rescored": rescore,
               "runs": []}
    with Progress("evaluate") as progress:
        for seed, label, n in progress.track([(s, label, n) for s in seeds
                                              for label, n in (("incidents", incidents), ("clean", 0))],
                                             "data sets"):
            landing, warehouse = work / f"{label}-{seed}" / "landing", str(work / f"{label}-{seed}" / "warehouse")
            t = time.time()
            if rescore:
                truth = json.loads((landing / "_truth" / "truth.json").read_text())
                as_of = start + timedelta(days=days - 1)
            else:
                truth = generate(profile, str(landing), start, days, seed=seed, incidents=n)
                ctx = pipeline.RunContext.of(spark, settings, alert_rules=cfg, landing=str(landing),
                                             warehouse=warehouse)
                as_of = pipeline.run(ctx).gold_as_of
            courts = table("silver.courts").read(spark, warehouse).count()
            if truth["incidents"]:
                measures = table("work.daily_measures").read(spark, warehouse).toPandas()
                truth["incidents"] = [{**i, "evidence": data_evidence(measures, i)} for i in truth["incidents"]]
            court_months = courts * days / 30.0
            for method in methods:
                s = score(_episodes(spark, warehouse, as_of, cfg, method), truth["incidents"],
                          cfg.anomaly.cusum_threshold)
                s.update(seed=seed, data=label, method=method, courts=courts, court_months=round(court_months, 1),
                         false_per_100_court_months=round(100 * (s["episodes"] - s["true_episodes"]) / court_months, 3),
                         seconds=round(time.time() - t, 1))
                results["runs"].append(s)
                print(json.dumps({k: v for k, v in s.items() if k not in ("false",)}, ensure_ascii=False))
    return results


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def summarise(results: dict, methods: list[str]) -> list[dict]:
    out = []
    for m in methods:
        inc = [r for r in results["runs"] if r["method"] == m and r["data"] == "incidents"]
        clean = [r for r in results["runs"] if r["method"] == m and r["data"] == "clean"]
        caught, total = sum(r["caught"] for r in inc), sum(r["incidents"] for r in inc)
        eps, true = sum(r["episodes"] for r in inc), sum(r["true_episodes"] for r in inc)
        delays = [d for r in inc for d in r["delays"]]
        per_incident = [n for r in inc for n in r["episodes_per_incident"]]
        kinds: dict[str, dict] = {}
        for r in inc:
            for k, v in r["by_kind"].items():
                kinds.setdefault(k, {"incidents": 0, "caught": 0})
                kinds[k]["incidents"] += v["incidents"]
                kinds[k]["caught"] += v["caught"]
        cm = sum(r["court_months"] for r in clean)
        allows = sum(r.get("data_allows", r["incidents"]) for r in inc)
        caught_allowed = sum(r.get("caught_where_data_allows", r["caught"]) for r in inc)
        out.append({"method": m, "recall": caught / total if total else None, "caught": caught, "incidents": total,
                    "recall_where_data_allows": caught_allowed / allows if allows else None,
                    "caught_where_data_allows": caught_allowed, "data_allows": allows,
                    "precision": true / eps if eps else None, "episodes": eps,
                    "median_delay_days": statistics.median(delays) if delays else None,
                    "p90_delay_days": _quantile(delays, 0.9),
                    "max_delay_days": max(delays, default=None),
                    "episodes_per_incident": statistics.mean(per_incident) if per_incident else None,
                    "recall_by_kind": {k: f"{v['caught']}/{v['incidents']}" for k, v in sorted(kinds.items())},
                    "false_per_100_court_months": 100 * sum(r["episodes"] - r["true_episodes"] for r in clean) / cm
                    if cm else None, "court_months_clean": cm,
                    "threshold_most_in_a_court_metric_month": max(
                        (r["threshold_most_in_a_month"] for r in inc + clean), default=0)})
    return out


def markdown(results: dict, command: str, machine: str) -> str:
    """The figures as a page for benchmarks/alerts-evaluation.md."""
    lines = [
        "# Early-warning evaluation", "",
        f"- command: `{command}`",
        f"- machine: {machine}",
        *(["- rescored: the data in the work directory was generated and run by the same command without "
            "`--rescore`, then scored again with the settings in conf/alerts.yaml at this commit"]
          if results.get("rescored") else []),
        f"- data: generator profile `{results['profile']}`, {results['days']} days from {results['start']}, "
        f"seeds {results['seeds']}; per seed one landing zone with injected incidents and one without",
        "- scoring as alerts.md defines it: recall (alert for the court and metric, or source, overlapping the "
        "incident and starting <= 3 days after it began), precision (anomaly and feed episodes overlapping an "
        "incident of the same court), false alerts per 100 court-months on incident-free data", "",
        "| method | recall | precision | delay median / p90 / max (days) | episodes per incident | "
        "false / 100 court-months | most threshold episodes in a court-metric-month |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    fmt = lambda v, f="{:.3f}": "-" if v is None else f.format(v)  # noqa: E731
    for r in results["summary"]:
        lines.append(f"| `{r['method']}` | {fmt(r['recall'])} ({r['caught']}/{r['incidents']}) | "
                     f"{fmt(r['precision'])} ({r['episodes']} episodes) | {fmt(r['median_delay_days'], '{}')} / "
                     f"{fmt(r['p90_delay_days'], '{}')} / {fmt(r['max_delay_days'], '{}')} | "
                     f"{fmt(r['episodes_per_incident'], '{:.2f}')} | {fmt(r['false_per_100_court_months'], '{:.2f}')} "
                     f"({r['court_months_clean']:.0f} court-months) | {r['threshold_most_in_a_court_metric_month']} |")
    lines += ["", "Recall where the data allows it: of the incidents whose court's data holds, by the last day "
              "of grace, at least the detector's threshold of evidence (`cusum_threshold`) for the shift that "
              "happened (testbed/evaluation.py `data_evidence`: the generalised likelihood ratio, more than any "
              "likelihood-ratio detector can have), the share caught in time.", ""]
    for r in results["summary"]:
        lines.append(f"- `{r['method']}`: {fmt(r.get('recall_where_data_allows'))} "
                     f"({r.get('caught_where_data_allows', '-')}/{r.get('data_allows', '-')})")
    lines += ["", "## Recall by incident kind", "", "| method | " + " | ".join(INCIDENT_KINDS) + " |",
              "| --- |" + " --- |" * len(INCIDENT_KINDS)]
    for r in results["summary"]:
        lines.append(f"| `{r['method']}` | " + " | ".join(r["recall_by_kind"].get(k, "-") for k in INCIDENT_KINDS) + " |")
    lines += ["", "## Per run", ""]
    for r in results["runs"]:
        lines.append(f"- seed {r['seed']}, {r['data']}, `{r['method']}`: recall {fmt(r['recall'])}, precision "
                     f"{fmt(r['precision'])}, {r['episodes']} anomaly/feed episodes ({r['inhibited']} more inhibited), "
                     f"missed {r['missed'] or 'none'}")
        for f in r["false"][:10]:
            lines.append(f"  - not an incident: {f}")
        if len(r["false"]) > 10:
            lines.append(f"  - … and {len(r['false']) - 10} more")
    return "\n".join(lines) + "\n"
