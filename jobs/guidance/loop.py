"""The guidance loop's rules (../shared/spec/guidance.md): who sees an alert, who may take which
action in which state with which fields, and what an alert's history adds up to.

Pure functions over an alert and its history (the actions appended so far), so that a test states
the contract with literal rows; courtwatch/guidance/store.py keeps the history in a transactional
database and the web service answers with the refusals raised here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from schemas.workdays import CHINA, is_working_day

STATES = ("new", "acknowledged", "assigned", "replied", "closed", "dismissed")
LABELS = ("true_alarm", "false_alarm", "expected")
ROLES = ("guidance", "high_court", "court")
FIELDS = ("note", "due_date", "label")
NOTE_MAX = 4000  # characters: a 督办意见 or a 整改反馈 is a few paragraphs, not a document


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str]  # empty: anyone who sees the alert
    states: frozenset[str]  # the states it may be taken from
    to: str | None  # the state after; None: unchanged
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()


_ANY = frozenset(STATES)
ACTIONS: dict[str, Rule] = {
    "acknowledge": Rule(frozenset({"high_court"}), frozenset({"new"}), "acknowledged", optional=("note",)),
    "assign": Rule(frozenset({"high_court"}), frozenset({"acknowledged", "replied"}), "assigned",
                   required=("due_date", "note")),
    "reply": Rule(frozenset({"court"}), frozenset({"assigned"}), "replied", required=("note",)),
    "close": Rule(frozenset({"high_court"}), frozenset({"replied"}), "closed", required=("label",),
                  optional=("note",)),
    "dismiss": Rule(frozenset({"high_court"}), frozenset({"new", "acknowledged"}), "dismissed",
                    required=("note", "label")),
    "reopen": Rule(frozenset({"high_court", "guidance"}), frozenset({"closed", "dismissed"}), "acknowledged",
                   required=("note",)),
    "comment": Rule(frozenset(), _ANY, None, required=("note",)),
    "escalate": Rule(frozenset({"guidance"}), _ANY - {"closed"}, None, required=("note",)),
}


@dataclass(frozen=True)
class Actor:
    """One person's account: the guidance center's, a high court's (court_id H31) or a lower court's."""
    account: str
    role: str
    court_id: str | None = None


@dataclass(frozen=True)
class Alert:
    """What the loop needs of a warehouse alert (gold/alerts)."""
    alert_id: str
    court_id: str
    high_court_id: str
    arrived: date  # the China-time date it was first detected: the acknowledgement clock starts here


@dataclass(frozen=True)
class Action:
    """One accepted action, as appended: never edited."""
    alert_id: str
    seq: int  # 1, 2, ... per alert: two actions taken at once cannot both be the next one
    account: str
    role: str
    at: datetime  # UTC
    action: str
    state_before: str
    state_after: str
    note: str | None = None
    due_date: date | None = None
    label: str | None = None


class Refused(Exception):
    """An action the contract does not allow: the HTTP status it answers with and why."""

    def __init__(self, status: int, detail: str, **extra):
        super().__init__(detail)
        self.status, self.detail, self.extra = status, detail, extra


def sees(actor: Actor, alert: Alert) -> bool:
    if actor.role == "guidance":
        return True
    if actor.role == "high_court":
        return actor.court_id == alert.high_court_id
    return actor.role == "court" and actor.court_id == alert.court_id


def state_of(history: list[Action]) -> str:
    return history[-1].state_after if history else "new"


def decide(actor: Actor, alert: Alert, history: list[Action], action: str, fields: dict,
           now: datetime) -> Action:
    """The action to append, or Refused: 404 (may not see it), 422 (no such action), 403 (not this
    role's), 409 (not from this state), 422 (a field missing, malformed or not this action's)."""
    if not sees(actor, alert):
        raise Refused(404, f"no alert {alert.alert_id}")
    rule = ACTIONS.get(action)
    if rule is None:
        raise Refused(422, f"action: one of {', '.join(ACTIONS)}", field="action")
    if rule.roles and actor.role not in rule.roles:
        raise Refused(403, f"{action} is for {' or '.join(sorted(rule.roles))}, not {actor.role}")
    state = state_of(history)
    if state not in rule.states:
        raise Refused(409, f"{action} is not allowed in state {state}", state=state)
    values = _fields(action, rule, fields, now.astimezone(CHINA).date())
    return Action(alert.alert_id, len(history) + 1, actor.account, actor.role, now, action, state,
                  rule.to or state, **values)


def _fields(action: str, rule: Rule, given: dict, today: date) -> dict:
    given = {k: v for k, v in given.items() if v is not None and v != ""}
    for k in given:
        if k not in rule.required + rule.optional:
            raise Refused(422, f"{k}: {action} takes no {k}", field=k)
    for k in rule.required:
        if k not in given:
            raise Refused(422, f"{k}: required for {action}", field=k)
    out = {}
    if "note" in given:
        note = given["note"]
        if not isinstance(note, str) or not note.strip():
            raise Refused(422, "note: a non-empty text", field="note")
        if len(note) > NOTE_MAX:
            raise Refused(422, f"note: at most {NOTE_MAX} characters", field="note")
        out["note"] = note.strip()
    if "due_date" in given:
        try:
            due = given["due_date"] if isinstance(given["due_date"], date) else date.fromisoformat(given["due_date"])
        except (TypeError, ValueError):
            raise Refused(422, "due_date: a date, YYYY-MM-DD", field="due_date") from None
        if due < today:
            raise Refused(422, f"due_date: {due} is before today ({today})", field="due_date")
        out["due_date"] = due
    if "label" in given:
        label = given["label"]
        if label not in LABELS:
            raise Refused(422, f"label: one of {', '.join(LABELS)}", field="label")
        if action == "dismiss" and label == "true_alarm":
            raise Refused(422, "label: a dismissed alert is a false alarm or expected, not true_alarm",
                          field="label")
        out["label"] = label
    return out


# --- time limits, in working days ------------------------------------------------------------

def add_working_days(start: date, n: int) -> date:
    """The n-th working day after `start` (China's calendar, make-up working days included)."""
    d = start
    while n > 0:
        d += timedelta(days=1)
        n -= is_working_day(d)
    return d


def working_days_between(start: date, end: date) -> int:
    """Working days after `start` up to and including `end` (0 when end <= start)."""
    return sum(is_working_day(start + timedelta(days=k)) for k in range(1, (end - start).days + 1))


@dataclass(frozen=True)
class Limits:
    acknowledge: int = 1  # working days from arrival
    reply: int = 5  # working days from assignment: the due date's default
    close: int = 2  # working days from the reply

    def acknowledge_by(self, arrived: date) -> date:
        """The last day an alert that arrived on `arrived` is acknowledged in time."""
        return add_working_days(arrived, self.acknowledge)


@dataclass
class Followup:
    """What an alert's history adds up to (gold/alert_followup's row, the inbox's line)."""
    alert_id: str
    state: str = "new"
    label: str | None = None
    escalated: bool = False
    acknowledged_at: datetime | None = None
    assigned_at: datetime | None = None
    due_date: date | None = None
    replied_at: datetime | None = None
    closed_at: datetime | None = None
    overdue: bool = False
    overdue_reason: str | None = None
    history: list[Action] = field(default_factory=list, repr=False)


def followup(alert: Alert, history: list[Action], now: datetime, limits: Limits = Limits()) -> Followup:
    f = Followup(alert.alert_id, state_of(history), history=history)
    for a in history:
        if a.action == "acknowledge" and f.acknowledged_at is None:
            f.acknowledged_at = a.at
        elif a.action == "assign":
            f.assigned_at, f.due_date, f.replied_at = a.at, a.due_date, None
        elif a.action == "reply":
            f.replied_at = a.at
        elif a.action in ("close", "dismiss"):
            f.closed_at, f.label = a.at, a.label
        elif a.action == "reopen":
            f.closed_at, f.label = None, None
        elif a.action == "escalate":
            f.escalated = True
    today = now.astimezone(CHINA).date()
    deadline = {"new": lambda: limits.acknowledge_by(alert.arrived),
                "assigned": lambda: f.due_date,
                "replied": lambda: add_working_days(f.replied_at.astimezone(CHINA).date(), limits.close)}.get(f.state)
    if deadline and today > deadline():
        f.overdue = True
        f.overdue_reason = {"new": "未按时签收", "assigned": "未按期反馈", "replied": "未按时办结"}[f.state]
    return f
