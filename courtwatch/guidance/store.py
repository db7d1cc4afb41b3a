"""The guidance loop's state: every accepted action, appended to one table of a transactional
database (SQLite by default, PostgreSQL by configuration), whose schema Alembic migrates
(courtwatch/guidance/migrations/).

Actions on one alert are serialised by their sequence number: the next action of an alert is
number len(history) + 1, unique per alert, so of two users who assign at once one insert wins and
the other, deciding again on the history it now sees, is refused with 409. No lock is held
across the decision, and it works the same on both databases.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    insert,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from jobs.guidance.loop import Action, Actor, Alert, decide

MIGRATIONS = Path(__file__).parent / "migrations"
metadata = MetaData()
# mirrors migrations/versions/0001_alert_actions.py: the migration is what makes the table
alert_actions = Table(
    "alert_actions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("account", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("action", String(16), nullable=False),
    Column("state_before", String(16), nullable=False),
    Column("state_after", String(16), nullable=False),
    Column("note", Text),
    Column("due_date", Date),
    Column("label", String(16)),
    UniqueConstraint("alert_id", "seq", name="alert_actions_one_next_action"),
)


def engine(url: str) -> Engine:
    """The loop's database, its schema brought up to date."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    e = create_engine(url)
    if e.dialect.name == "sqlite":
        _sqlite_transactions(e)
    migrate(e)
    return e


def _sqlite_transactions(e: Engine) -> None:
    """SQLite: readers do not block the writer (WAL), and a transaction that will write takes the
    write lock when it begins (BEGIN IMMEDIATE; a second one waits): a deferred one that read first
    could not upgrade once another had written (SQLAlchemy's pysqlite recipe for transactions)."""
    @event.listens_for(e, "connect")
    def _connect(dbapi, _):
        dbapi.isolation_level = None  # SQLAlchemy's BEGIN below, not the driver's own
        dbapi.execute("PRAGMA journal_mode=WAL")
        dbapi.execute("PRAGMA busy_timeout=10000")

    @event.listens_for(e, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.get_execution_options().get("writes")
                                   else "BEGIN")


def migrate(e: Engine) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with e.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def history(e: Engine, alert_id: str) -> list[Action]:
    with e.connect() as c:
        return _history(c, alert_id)


def histories(e: Engine, alert_ids: list[str] | None = None) -> dict[str, list[Action]]:
    """Every alert's actions (or those of `alert_ids`), in order."""
    q = select(alert_actions).order_by(alert_actions.c.alert_id, alert_actions.c.seq)
    if alert_ids is not None:
        q = q.where(alert_actions.c.alert_id.in_(alert_ids))
    out: dict[str, list[Action]] = {}
    with e.connect() as c:
        for row in c.execute(q).mappings():
            out.setdefault(row["alert_id"], []).append(_action(row))
    return out


def take(e: Engine, actor: Actor, alert: Alert, action: str, fields: dict,
         now: datetime | None = None) -> Action:
    """Decide on the history as it stands and append; Refused (jobs/guidance/loop.py) if the contract says no.
    A concurrent action that took the same place first means deciding again on the new history."""
    for _ in range(5):
        with e.execution_options(writes=True).begin() as c:
            done = decide(actor, alert, _history(c, alert.alert_id), action, fields,
                          now or datetime.now(timezone.utc))
            try:
                with c.begin_nested():
                    c.execute(insert(alert_actions).values(**_row(done)))
            except IntegrityError:
                continue  # another action became number done.seq meanwhile
            return done
    raise RuntimeError(f"alert {alert.alert_id}: could not append after 5 concurrent attempts")


def _history(c, alert_id: str) -> list[Action]:
    q = select(alert_actions).where(alert_actions.c.alert_id == alert_id).order_by(alert_actions.c.seq)
    return [_action(r) for r in c.execute(q).mappings()]


def _action(row) -> Action:
    at = row["at"] if row["at"].tzinfo else row["at"].replace(tzinfo=timezone.utc)  # SQLite keeps no zone
    return Action(row["alert_id"], row["seq"], row["account"], row["role"], at, row["action"],
                  row["state_before"], row["state_after"], row["note"], row["due_date"], row["label"])


def _row(a: Action) -> dict:
    return {"alert_id": a.alert_id, "seq": a.seq, "account": a.account, "role": a.role,
            "at": a.at.astimezone(timezone.utc), "action": a.action, "state_before": a.state_before,
            "state_after": a.state_after, "note": a.note, "due_date": a.due_date, "label": a.label}
