"""Episode lifecycle (alerts.md): gaps, resolution, deterministic ids, reruns."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from jobs.alerts import episodes as alerts

pytestmark = pytest.mark.unit

D = date(2026, 3, 1)
COURTS = {"B1": {"court_id": "B1", "name": "东城法院", "high_court_id": "H1"}}


def cond(spark, days, severity="warning", court="B1", metric="hotline_answer_rate"):
    rows = [("anomaly", "anomaly:collapse", court, metric, None, D + timedelta(days=d), severity, 0.5, 0.9)
            for d in days]
    from jobs.alerts.detectors import CONDITION

    return spark.createDataFrame(rows, CONDITION)


def test_one_day_gap_continues_two_days_end(spark):
    eps = alerts.episodes(cond(spark, [0, 1, 3, 4, 7]))
    assert [(e.window_start, e.window_end) for e in eps] == [(D, D + timedelta(days=4)), (D + timedelta(days=7),) * 2]


def test_a_breach_within_the_quiet_period_reopens_the_episode(spark):
    days = cond(spark, [0, 1, 6, 7, 20])
    eps = alerts.episodes(days, reopen_within_days=7)
    assert [(e.window_start, e.window_end) for e in eps] == [(D, D + timedelta(days=7)), (D + timedelta(days=20),) * 2]
    resolved = _reconcile([], alerts.episodes(cond(spark, [0, 1]), 7), D + timedelta(days=4))
    assert resolved[0]["status"] == "resolved"
    stored = [{**r, "first_detected_at": r["first_detected_at"]} for r in resolved]
    again = alerts.reconcile(stored, alerts.episodes(days.where("date <= '2026-03-07'"), 7), D + timedelta(days=6),
                             D - timedelta(days=120), COURTS, datetime(2026, 3, 7, tzinfo=timezone.utc), 7)
    assert len(again) == 1 and again[0]["alert_id"] == resolved[0]["alert_id"] and again[0]["status"] == "firing"


def test_severity_is_the_worst_of_the_episode(spark):
    eps = alerts.episodes(cond(spark, [0]).unionByName(cond(spark, [1], "critical")).unionByName(cond(spark, [2])))
    assert len(eps) == 1 and eps[0].severity == "critical"


def _reconcile(existing, found, as_of):
    return alerts.reconcile(existing, found, as_of, as_of - timedelta(days=120), COURTS,
                            datetime(2026, 3, 20, tzinfo=timezone.utc))


def test_status_firing_until_two_quiet_days(spark):
    eps = alerts.episodes(cond(spark, [0, 1, 2]))
    assert _reconcile([], eps, D + timedelta(days=3))[0]["status"] == "firing"  # one quiet day
    assert _reconcile([], eps, D + timedelta(days=4))[0]["status"] == "resolved"  # two


def test_ids_are_deterministic_and_episodes_keep_them(spark):
    first = _reconcile([], alerts.episodes(cond(spark, [0, 1])), D + timedelta(days=1))
    again = _reconcile([], alerts.episodes(cond(spark, [0, 1])), D + timedelta(days=1))
    assert first[0]["alert_id"] == again[0]["alert_id"]
    assert first[0]["high_court_id"] == "H1" and "东城法院" in first[0]["message"]
    # the next day the episode goes on: same alert, longer window, first detection kept
    stored = [{**first[0], "first_detected_at": datetime(2026, 3, 2)}]
    later = _reconcile(stored, alerts.episodes(cond(spark, [0, 1, 2])), D + timedelta(days=2))
    assert len(later) == 1 and later[0]["alert_id"] == first[0]["alert_id"]
    assert later[0]["window_end"] == D + timedelta(days=2) and later[0]["first_detected_at"] == datetime(2026, 3, 2)
    # a new breach after resolution opens a new episode
    new = _reconcile(stored, alerts.episodes(cond(spark, [0, 1, 9])), D + timedelta(days=9))
    assert len({r["alert_id"] for r in new}) == 2


def test_unchanged_rerun_changes_nothing(spark):
    now = datetime(2026, 3, 20, tzinfo=timezone.utc)
    rows = _reconcile([], alerts.episodes(cond(spark, [0, 1])), D + timedelta(days=1))
    stored = [{**r, "updated_at": datetime(2026, 3, 2)} for r in rows]
    again = _reconcile(stored, alerts.episodes(cond(spark, [0, 1])), D + timedelta(days=1))
    assert [r for r in again if r["updated_at"] == now] == []


def test_vanished_condition_is_resolved(spark):
    rows = _reconcile([], alerts.episodes(cond(spark, [5, 6])), D + timedelta(days=6))
    # late data shows the condition never held: the alert is resolved, not left firing
    after = _reconcile(rows, [], D + timedelta(days=7))
    assert [r["status"] for r in after] == ["resolved"]


def _episode(kind, metric=None, source=None, start=0, end=0, court="B1"):
    rule = {"feed": "feed_silence", "anomaly": "anomaly:collapse"}[kind]
    return alerts.Episode(kind, rule, court, metric, source, D + timedelta(days=start), D + timedelta(days=end),
                          "warning", 0.0, 1.0)


def test_a_feed_outage_inhibits_the_anomalies_of_its_source_at_its_court():
    outage = _episode("feed", source="cases", start=3, end=6)  # silent from day 2 (the alert opens on the 2nd day)
    filings = _episode("anomaly", "case_filed", start=2, end=4)
    efile = _episode("anomaly", "efile_sync_rate", start=8, end=9)  # in the quiet period after it
    calls = _episode("anomaly", "hotline_calls", start=3, end=5)  # another source: still an alert
    elsewhere = _episode("anomaly", "case_filed", start=3, end=5, court="B2")
    later = _episode("anomaly", "case_filed", start=12, end=14)  # long after: an alert of its own
    found = alerts.inhibit([outage, filings, efile, calls, elsewhere, later], silent_days=2, quiet_period_days=2)
    assert [e.inhibited for e in found] == [False, True, True, False, False, False]
    rows = _reconcile([], found, D + timedelta(days=14))
    feed_id = rows[0]["alert_id"]
    assert [r["inhibited_by"] for r in rows] == [None, feed_id, feed_id, None, None, None]


def test_causes_are_stored_with_the_alert_and_named_in_its_message(spark, tmp_path):
    from courtwatch.settings import load_profile
    from jobs.alerts.episodes import ALERT_CAUSES, DAILY_BREAKDOWNS

    cfg = load_profile("test").alert_rules()
    wh = str(tmp_path)
    end = D + timedelta(days=80)
    rows = []
    for i in range(81):
        day = D + timedelta(days=i)
        civil = 2.0 if i >= 78 else 30.0  # civil filings collapse over the last three days
        rows += [("B1", day, "case_type", "civil", "filed", civil), ("B1", day, "case_type", "criminal", "filed", 5.0),
                 ("B1", day, "filing_channel", "online", "filed", civil / 2 + 2),
                 ("B1", day, "filing_channel", "counter", "filed", civil / 2 + 3)]
    DAILY_BREAKDOWNS.append_rows(spark, rows, wh)
    alert = {"alert_id": "a" * 32, "kind": "anomaly", "court_id": "B1", "metric_id": "case_filed",
             "window_start": end - timedelta(days=2), "window_end": end, "expected": 35.0,
             "message": "东城法院（B1）收案数骤降：近期 7.0，通常 35.0（严重）"}
    alerts.with_causes(spark, wh, [alert], cfg)
    # civil carries the whole fall; the channels split it as they split everything (not telling)
    assert alert["message"].endswith("（严重）；主要来自 民事 −84件")
    stored = ALERT_CAUSES.read(spark, wh).orderBy("rank").collect()
    assert stored[0]["alert_id"] == "a" * 32 and {(r["breakdown"], r["member"]) for r in stored} == {
        ("case_type", "civil"), ("filing_channel", "online"), ("filing_channel", "counter")}
    # found again (the episode grew): its causes are replaced, not added to, and the message names them once
    alerts.with_causes(spark, wh, [alert], cfg)
    assert ALERT_CAUSES.read(spark, wh).count() == len(stored) and alert["message"].count("主要来自") == 1
