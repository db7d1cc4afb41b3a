"""The guidance loop's contract (../shared/spec/guidance.md) on literal alerts and histories."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from jobs.guidance.loop import Actor, Alert, Limits, Refused, add_working_days, decide, followup, sees

pytestmark = pytest.mark.unit
ALERT = Alert("a1", court_id="B310101", high_court_id="H31", arrived=date(2026, 3, 2))
OTHER = Alert("a2", court_id="B110101", high_court_id="H11", arrived=date(2026, 3, 2))
HIGH = Actor("h31-01", "high_court", "H31")
HIGH_ELSEWHERE = Actor("h11-01", "high_court", "H11")
COURT = Actor("b310101-01", "court", "B310101")
NEIGHBOUR = Actor("b310102-01", "court", "B310102")
GUIDANCE = Actor("guidance-01", "guidance")
NOW = datetime(2026, 3, 3, 2, 0, tzinfo=timezone.utc)  # 10:00 in China, a Tuesday


def _run(steps, alert=ALERT, start=NOW):
    """Take (actor, action, fields) steps one after the other, a minute apart; the history."""
    history = []
    for k, (actor, action, fields) in enumerate(steps):
        history.append(decide(actor, alert, history, action, fields, start + timedelta(minutes=k)))
    return history


def _refusal(steps, actor, action, fields, alert=ALERT):
    with pytest.raises(Refused) as e:
        decide(actor, alert, _run(steps, alert), action, fields, NOW + timedelta(hours=1))
    return e.value


LOOP = [(HIGH, "acknowledge", {}),
        (HIGH, "assign", {"due_date": "2026-03-10", "note": "请核查收案骤降原因并整改"}),
        (COURT, "reply", {"note": "系统迁移导致网上立案中断，已恢复"}),
        (HIGH, "close", {"label": "true_alarm"})]


def test_the_whole_loop_from_new_to_closed():
    history = _run(LOOP)
    assert [(a.state_before, a.state_after) for a in history] == [
        ("new", "acknowledged"), ("acknowledged", "assigned"), ("assigned", "replied"), ("replied", "closed")]
    assert [a.seq for a in history] == [1, 2, 3, 4] and history[1].due_date == date(2026, 3, 10)
    f = followup(ALERT, history, NOW + timedelta(hours=1))
    assert (f.state, f.label, f.overdue) == ("closed", "true_alarm", False)
    assert f.acknowledged_at and f.assigned_at and f.replied_at and f.closed_at


def test_a_reply_can_be_sent_back_and_a_closed_alert_reopened():
    history = _run(LOOP[:3] + [(HIGH, "assign", {"due_date": "2026-03-12", "note": "措施不足，请补充"}),
                               (COURT, "reply", {"note": "已补充培训"}), (HIGH, "close", {"label": "true_alarm"}),
                               (GUIDANCE, "reopen", {"note": "再次出现，请复查"})])
    assert history[3].state_before == "replied" and history[3].state_after == "assigned"
    f = followup(ALERT, history, NOW + timedelta(hours=1))
    assert (f.state, f.label, f.closed_at) == ("acknowledged", None, None)


def test_dismissal_needs_a_label_that_is_not_a_true_alarm():
    history = _run([(HIGH, "dismiss", {"note": "法院合并，预期内", "label": "expected"})])
    assert history[-1].state_after == "dismissed"
    e = _refusal([], HIGH, "dismiss", {"note": "x", "label": "true_alarm"})
    assert (e.status, e.extra["field"]) == (422, "label")
    assert _refusal([], HIGH, "dismiss", {"note": "x"}).extra["field"] == "label"


def test_who_may_not_see_an_alert_is_told_it_does_not_exist():
    for actor in (HIGH_ELSEWHERE, NEIGHBOUR):
        assert not sees(actor, ALERT)
        assert _refusal([], actor, "comment", {"note": "?"}).status == 404
    assert sees(GUIDANCE, ALERT) and sees(GUIDANCE, OTHER) and sees(COURT, ALERT) and not sees(COURT, OTHER)


@pytest.mark.parametrize("actor, action, fields, steps", [
    (COURT, "acknowledge", {}, []),
    (GUIDANCE, "assign", {"due_date": "2026-03-10", "note": "x"}, LOOP[:1]),
    (HIGH, "reply", {"note": "x"}, LOOP[:2]),
    (COURT, "close", {"label": "true_alarm"}, LOOP[:3]),
    (COURT, "reopen", {"note": "x"}, LOOP),
    (HIGH, "escalate", {"note": "x"}, []),
])
def test_an_action_of_another_role_is_forbidden(actor, action, fields, steps):
    assert _refusal(steps, actor, action, fields).status == 403


@pytest.mark.parametrize("actor, action, fields, steps, state", [
    (HIGH, "assign", {"due_date": "2026-03-10", "note": "x"}, [], "new"),
    (COURT, "reply", {"note": "x"}, LOOP[:1], "acknowledged"),
    (HIGH, "close", {"label": "true_alarm"}, LOOP[:2], "assigned"),
    (HIGH, "acknowledge", {}, LOOP[:1], "acknowledged"),
    (HIGH, "dismiss", {"note": "x", "label": "false_alarm"}, LOOP[:2], "assigned"),
    (HIGH, "reopen", {"note": "x"}, LOOP[:3], "replied"),
    (GUIDANCE, "escalate", {"note": "x"}, LOOP, "closed"),
])
def test_an_action_in_the_wrong_state_is_a_conflict_naming_the_state(actor, action, fields, steps, state):
    e = _refusal(steps, actor, action, fields)
    assert (e.status, e.extra["state"]) == (409, state)


@pytest.mark.parametrize("action, fields, steps, field", [
    ("assign", {"note": "x"}, LOOP[:1], "due_date"),
    ("assign", {"due_date": "2026-03-10"}, LOOP[:1], "note"),
    ("assign", {"due_date": "2026-03-10", "note": "   "}, LOOP[:1], "note"),
    ("assign", {"due_date": "10/03/2026", "note": "x"}, LOOP[:1], "due_date"),
    ("assign", {"due_date": "2026-03-02", "note": "x"}, LOOP[:1], "due_date"),  # before today (China time)
    ("close", {}, LOOP[:3], "label"),
    ("close", {"label": "maybe"}, LOOP[:3], "label"),
    ("acknowledge", {"label": "true_alarm"}, [], "label"),  # not this action's field
    ("frobnicate", {}, [], "action"),
])
def test_a_missing_or_malformed_field_is_unprocessable_naming_it(action, fields, steps, field):
    actor = COURT if action == "reply" else HIGH
    e = _refusal(steps, actor, action, fields)
    assert (e.status, e.extra["field"]) == (422, field)


def test_anyone_who_sees_an_alert_may_comment_in_any_state_without_moving_it():
    history = _run(LOOP + [(COURT, "comment", {"note": "补充说明"}), (GUIDANCE, "comment", {"note": "已阅"})])
    assert [a.state_after for a in history[-2:]] == ["closed", "closed"]


def test_escalation_flags_the_alert_for_the_guidance_center():
    history = _run(LOOP[:2] + [(GUIDANCE, "escalate", {"note": "督办未果，中心跟进"})])
    f = followup(ALERT, history, NOW)
    assert f.escalated and f.state == "assigned"


def test_time_limits_count_working_days_across_a_holiday():
    # Qingming 2026: Saturday 4 April to Monday 6 April off; an alert arriving on Friday 3 April
    # is due for acknowledgement on Tuesday 7 April, the next working day
    arrived = Alert("a3", "B310101", "H31", arrived=date(2026, 4, 3))
    assert add_working_days(date(2026, 4, 3), 1) == date(2026, 4, 7)
    on_tuesday = datetime(2026, 4, 7, 8, 0, tzinfo=timezone.utc)
    assert not followup(arrived, [], on_tuesday).overdue
    f = followup(arrived, [], on_tuesday + timedelta(days=1))
    assert f.overdue and f.overdue_reason == "未按时签收"
    # Spring Festival 2026 (15-23 February off, Saturday 14 and 28 February worked): a reply on
    # Friday 13 February is to be closed within 2 working days: by Saturday 14 and Tuesday 24
    assert add_working_days(date(2026, 2, 13), 2) == date(2026, 2, 24)
    steps = [(HIGH, "acknowledge", {}), (HIGH, "assign", {"due_date": "2026-02-13", "note": "x"}),
             (COURT, "reply", {"note": "y"})]
    history = _run(steps, arrived, datetime(2026, 2, 13, 1, 0, tzinfo=timezone.utc))
    assert not followup(arrived, history, datetime(2026, 2, 24, 8, 0, tzinfo=timezone.utc)).overdue
    assert followup(arrived, history, datetime(2026, 2, 25, 8, 0, tzinfo=timezone.utc)).overdue


def test_a_reply_not_in_by_its_due_date_is_overdue():
    history = _run(LOOP[:2])  # due 10 March
    assert not followup(ALERT, history, datetime(2026, 3, 10, 15, 0, tzinfo=timezone.utc)).overdue  # 23:00 China
    f = followup(ALERT, history, datetime(2026, 3, 10, 16, 30, tzinfo=timezone.utc))  # 11 March in China
    assert f.overdue and f.overdue_reason == "未按期反馈"
    assert Limits().reply == 5
