"""The warehouse's view of the guidance loop (guidance.md, "Where it lands"): each run copies the
loop's actions into ops/alert_actions and derives gold/alert_followup (per alert) and
gold/guidance_metrics (per high court and month of arrival).

The derivations are plain functions of the alerts and their histories (jobs/guidance/loop.py
gives an alert's state, flags and times), which a test calls with literal rows; `copy_loop` reads
the loop's database and writes the three tables, each replaced whole in one commit (they are
small: one row per action, per alert, per province-month).
"""
from __future__ import annotations

import hashlib
import statistics
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from pyspark.sql import SparkSession

from jobs.guidance.loop import Action, Alert, Limits, followup, working_days_between
from jobs.ops.side_by_side import side_by_side
from schemas.warehouse import table
from schemas.workdays import CHINA

ACTIONS, FOLLOWUP, METRICS = (table("ops.alert_actions"), table("gold.alert_followup"),
                              table("gold.guidance_metrics"))
COPIED = "loop_copied_from"  # gold/guidance_metrics' commit metadata: what the last copy was made of


@dataclass(frozen=True)
class WarehouseAlert:
    """What follow-up needs of a gold/alerts row."""
    alert_id: str
    court_id: str
    high_court_id: str
    rule_id: str
    subject: str  # the metric or the source: with court and rule, what "the same alert again" means
    status: str
    window_end: date
    first_detected_at: datetime  # China time, as the warehouse's session shows it

    @property
    def arrived_on(self) -> date:
        return self.first_detected_at.date()

    def loop_alert(self) -> Alert:
        return Alert(self.alert_id, self.court_id, self.high_court_id, self.arrived_on)


def _china_date(t: datetime) -> date:
    return t.astimezone(CHINA).date()


def followup_rows(alerts: list[WarehouseAlert], histories: dict[str, list[Action]], now: datetime,
                  limits: Limits = Limits(), recurrence_days: int = 30) -> list[dict]:
    """One gold/alert_followup row per alert."""
    later: dict[tuple, list[date]] = {}
    for a in alerts:
        later.setdefault((a.court_id, a.rule_id, a.subject), []).append(a.arrived_on)
    rows = []
    for a in alerts:
        f = followup(a.loop_alert(), histories.get(a.alert_id, []), now, limits)
        closed_on = _china_date(f.closed_at) if f.closed_at and f.state == "closed" else None
        acknowledged_on = _china_date(f.acknowledged_at) if f.acknowledged_at else None
        recurs = closed_on is not None and (
            a.window_end > closed_on  # the same alert fired on after its close
            or any(closed_on < d <= closed_on + timedelta(days=recurrence_days)
                   for d in later[(a.court_id, a.rule_id, a.subject)]))
        rows.append({
            "alert_id": a.alert_id, "court_id": a.court_id, "high_court_id": a.high_court_id,
            "alert_status": a.status, "state": f.state, "overdue": f.overdue, "overdue_reason": f.overdue_reason,
            "escalated": f.escalated, "label": f.label, "arrived_on": a.arrived_on,
            "acknowledged_at": f.acknowledged_at, "assigned_at": f.assigned_at, "due_date": f.due_date,
            "replied_at": f.replied_at, "closed_at": f.closed_at,
            "working_days_to_acknowledge": working_days_between(a.arrived_on, acknowledged_on)
            if acknowledged_on else None,
            "working_days_to_reply": working_days_between(_china_date(f.assigned_at), _china_date(f.replied_at))
            if f.assigned_at and f.replied_at else None,
            "working_days_to_close": working_days_between(a.arrived_on, closed_on) if closed_on else None,
            "acknowledged_in_time": acknowledged_on <= limits.acknowledge_by(a.arrived_on)
            if acknowledged_on else None,
            "replied_by_due_date": _china_date(f.replied_at) <= f.due_date if f.replied_at and f.due_date else None,
            "closed_while_firing": f.state == "closed" and a.status == "firing",
            "recurrence": recurs, "as_of": now})
    return rows


def _month_end(month: date) -> datetime:
    """The last instant of a China-time month."""
    first_next = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return datetime.combine(first_next, time(0), CHINA) - timedelta(microseconds=1)


def metrics_rows(alerts: list[WarehouseAlert], histories: dict[str, list[Action]], followups: list[dict],
                 now: datetime, limits: Limits = Limits()) -> list[dict]:
    """One gold/guidance_metrics row per high court and month of arrival. "Overdue" is counted at
    the month's end (now, for the month under way): what the guidance center saw when it closed."""
    by_id = {a.alert_id: a for a in alerts}
    groups: dict[tuple[str, date], list[dict]] = {}
    for f in followups:
        groups.setdefault((f["high_court_id"], f["arrived_on"].replace(day=1)), []).append(f)
    rows = []
    for (high_court, month), fs in sorted(groups.items()):
        at = min(_month_end(month), now)
        overdue = sum(followup(by_id[f["alert_id"]].loop_alert(),
                               [h for h in histories.get(f["alert_id"], []) if h.at <= at], at, limits).overdue
                      for f in fs)
        # An alert counts for a share once it is judged: done, or its limit passed (one that arrived
        # this morning is not yet late, and a province's share must not read 0% for it).
        day = at.astimezone(CHINA).date()
        acknowledged = [f["acknowledged_in_time"] for f in fs if f["acknowledged_in_time"] is not None
                        or day > limits.acknowledge_by(f["arrived_on"])]
        replied = [f["replied_by_due_date"] for f in fs if f["assigned_at"] is not None and (
            f["replied_by_due_date"] is not None or (f["due_date"] is not None and day > f["due_date"]))]
        to_close = [f["working_days_to_close"] for f in fs if f["working_days_to_close"] is not None]
        labelled = [f["label"] for f in fs if f["label"]]
        rows.append({
            "high_court_id": high_court, "month": month, "alerts_received": len(fs),
            "acknowledged_in_time_share": sum(bool(x) for x in acknowledged) / len(acknowledged)
            if acknowledged else None,
            "replied_by_due_date_share": sum(bool(x) for x in replied) / len(replied) if replied else None,
            "median_working_days_to_close": float(statistics.median(to_close)) if to_close else None,
            "overdue": overdue, "recurrences": sum(bool(f["recurrence"]) for f in fs),
            "labelled": len(labelled),
            "precision": labelled.count("true_alarm") / len(labelled) if labelled else None})
    return rows


def warehouse_alerts(spark: SparkSession, warehouse: str) -> list[WarehouseAlert]:
    alerts = table("gold.alerts")
    if not alerts.exists(spark, warehouse):
        return []
    return [WarehouseAlert(r["alert_id"], r["court_id"], r["high_court_id"] or "", r["rule_id"],
                           r["metric_id"] or r["source"] or "", r["status"], r["window_end"], r["first_detected_at"])
            for r in alerts.read(spark, warehouse).select(
                "alert_id", "court_id", "high_court_id", "rule_id", "metric_id", "source", "status", "window_end",
                "first_detected_at").collect()]


def _digest(rows: list) -> str:
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def copy_loop(spark: SparkSession, warehouse: str, histories: dict[str, list[Action]], limits: Limits,
              recurrence_days: int, now: datetime | None = None) -> str:
    """Write ops/alert_actions, gold/alert_followup and gold/guidance_metrics from the loop's histories
    (not again while the alerts, the histories, the limits and China's date are those of the last copy:
    the limits count working days)."""
    now = now or datetime.now(timezone.utc)
    actions = [{"alert_id": a.alert_id, "seq": a.seq, "account": a.account, "role": a.role, "at": a.at,
                "action": a.action, "state_before": a.state_before, "state_after": a.state_after, "note": a.note,
                "due_date": a.due_date, "label": a.label} for h in histories.values() for a in h]
    alerts = warehouse_alerts(spark, warehouse)
    given = {"alerts": _digest(sorted(alerts, key=lambda a: a.alert_id)),
             "actions": _digest(sorted(actions, key=lambda a: (a["alert_id"], a["seq"]))),
             "limits": repr(limits), "recurrence_days": recurrence_days,
             "china_date": now.astimezone(CHINA).date().isoformat()}
    done = METRICS.last_commit_metadata(spark, warehouse, COPIED)
    if done is not None and done[COPIED] == given:
        return f"{len(actions)} loop actions; follow-up already copied today on the same alerts and actions"
    follow = followup_rows(alerts, histories, now, limits, recurrence_days)
    month = metrics_rows(alerts, histories, follow, now, limits)

    def copy(declared, rows, meta=None) -> None:
        declared.overwrite(spark.createDataFrame(rows, declared.schema), warehouse, meta)

    # the inputs go with the last table written, once the others are: a run that dies before
    # then copies again
    side_by_side(lambda: copy(ACTIONS, actions), lambda: copy(FOLLOWUP, follow), name="loop")
    copy(METRICS, month, {COPIED: given})
    overdue = sum(f["overdue"] for f in follow)
    return f"{len(actions)} loop actions; {len(follow)} alerts followed up ({overdue} overdue)"
