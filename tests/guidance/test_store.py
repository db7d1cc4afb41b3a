"""The guidance loop's action log in a real database: SQLite (the default) and a PostgreSQL server
the test starts. Migrated by Alembic, appended only, and one of two concurrent actions refused."""
from __future__ import annotations

import threading
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DatabaseError

from courtwatch.guidance import store
from jobs.guidance.loop import Actor, Alert, Refused

ALERT = Alert("a1", court_id="B310101", high_court_id="H31", arrived=date(2026, 3, 2))
HIGH = Actor("h31-01", "high_court", "H31")
COLLEAGUE = Actor("h31-02", "high_court", "H31")
COURT = Actor("b310101-01", "court", "B310101")
NOW = datetime(2026, 3, 3, 2, 0, tzinfo=timezone.utc)
ASSIGN = {"due_date": "2026-03-10", "note": "请核查并整改"}


def _loop_and_race(e):
    """The loop's first steps, then two high-court users assigning at once: one wins, one gets 409."""
    store.take(e, HIGH, ALERT, "acknowledge", {}, NOW)
    barrier, outcomes = threading.Barrier(2), []

    def assign(actor):
        barrier.wait()
        try:
            outcomes.append(store.take(e, actor, ALERT, "assign", {**ASSIGN, "note": f"{actor.account} 督办"}, NOW))
        except Refused as r:
            outcomes.append(r)

    threads = [threading.Thread(target=assign, args=(a,)) for a in (HIGH, COLLEAGUE)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = [o for o in outcomes if not isinstance(o, Refused)]
    refused = [o for o in outcomes if isinstance(o, Refused)]
    assert len(done) == 1 and len(refused) == 1 and (refused[0].status, refused[0].extra["state"]) == (409, "assigned")
    history = store.history(e, ALERT.alert_id)
    assert [(a.seq, a.action) for a in history] == [(1, "acknowledge"), (2, "assign")]
    assert history[1].account == done[0].account and history[1].due_date == date(2026, 3, 10)
    assert history[0].at == NOW  # the instant, back in UTC


def _append_only(e):
    for statement in ("UPDATE alert_actions SET note = 'edited'", "DELETE FROM alert_actions"):
        with pytest.raises(DatabaseError, match="append-only"):
            with e.begin() as c:
                c.execute(text(statement))
    assert len(store.history(e, ALERT.alert_id)) == 2


@pytest.mark.unit
def test_sqlite_is_migrated_appended_only_and_serialises_concurrent_actions(tmp_path):
    url = f"sqlite:///{tmp_path / 'guidance' / 'guidance.sqlite'}"
    e = store.engine(url)
    assert "alert_actions" in inspect(e).get_table_names()
    with e.connect() as c:
        assert c.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0001"
    _loop_and_race(e)
    _append_only(e)
    store.take(e, COURT, ALERT, "reply", {"note": "已整改"}, NOW)
    e.dispose()
    again = store.engine(url)  # a restart migrates nothing and keeps every action
    assert [a.action for a in store.histories(again)["a1"]] == ["acknowledge", "assign", "reply"]


@pytest.mark.system
def test_postgresql_the_same(postgres):
    e = store.engine(postgres.replace("postgresql://", "postgresql+psycopg://"))
    try:
        _loop_and_race(e)
        _append_only(e)
    finally:
        e.dispose()
