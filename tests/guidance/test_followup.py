"""gold/alert_followup and gold/guidance_metrics from literal alerts and histories, and the three
tables a run writes (jobs/guidance/followup.py)."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from jobs.guidance.followup import WarehouseAlert, copy_loop, followup_rows, metrics_rows
from jobs.guidance.loop import Action, Limits
from schemas.warehouse import table


def _utc(day, hour=2):
    return datetime(2026, 3, day, hour, 0, tzinfo=timezone.utc)  # 10:00 in China


A1 = WarehouseAlert("a1", "B310101", "H31", "anomaly:collapse", "case_filed", "firing", date(2026, 3, 5),
                    datetime(2026, 3, 2, 9, 0))
A2 = WarehouseAlert("a2", "B310101", "H31", "anomaly:collapse", "case_filed", "firing", date(2026, 3, 20),
                    datetime(2026, 3, 20, 9, 0))  # the same court, rule and metric, 14 days after a1's close
A3 = WarehouseAlert("a3", "B310102", "H31", "threshold:efile_sync_rate", "efile_sync_rate", "resolved",
                    date(2026, 3, 3), datetime(2026, 3, 3, 9, 0))
HISTORY = {"a1": [
    Action("a1", 1, "h31-01", "high_court", _utc(2), "acknowledge", "new", "acknowledged"),
    Action("a1", 2, "h31-01", "high_court", _utc(2, 3), "assign", "acknowledged", "assigned", "请核查", date(2026, 3, 6)),
    Action("a1", 3, "b310101-01", "court", _utc(5), "reply", "assigned", "replied", "已整改"),
    Action("a1", 4, "h31-01", "high_court", _utc(6), "close", "replied", "closed", label="true_alarm")]}
NOW = _utc(25)


@pytest.mark.unit
def test_each_alert_s_followup_with_its_working_days_and_recurrence():
    rows = {r["alert_id"]: r for r in followup_rows([A1, A2, A3], HISTORY, NOW, Limits(), 30)}
    a1 = rows["a1"]
    assert (a1["state"], a1["label"], a1["overdue"]) == ("closed", "true_alarm", False)
    # Monday 2 March arrived and acknowledged; assigned the same day, replied Thursday 5, closed Friday 6
    assert (a1["working_days_to_acknowledge"], a1["working_days_to_reply"], a1["working_days_to_close"]) == (0, 3, 4)
    assert a1["acknowledged_in_time"] and a1["replied_by_due_date"]
    assert a1["closed_while_firing"] and a1["recurrence"]
    a3 = rows["a3"]
    assert a3["state"] == "new" and a3["overdue"] and a3["overdue_reason"] == "未按时签收"
    assert a3["acknowledged_in_time"] is None and a3["working_days_to_close"] is None and not a3["recurrence"]


@pytest.mark.unit
def test_a_province_s_month_of_follow_up():
    follow = followup_rows([A1, A2, A3], HISTORY, NOW, Limits(), 30)
    [march] = metrics_rows([A1, A2, A3], HISTORY, follow, NOW, Limits())
    assert (march["high_court_id"], march["month"], march["alerts_received"]) == ("H31", date(2026, 3, 1), 3)
    assert march["acknowledged_in_time_share"] == pytest.approx(1 / 3)
    assert march["replied_by_due_date_share"] == 1.0 and march["median_working_days_to_close"] == 4.0
    assert (march["overdue"], march["recurrences"], march["labelled"], march["precision"]) == (2, 1, 1, 1.0)
    # an alert that arrived this morning is not late yet: it counts as received, not against the share
    a4 = WarehouseAlert("a4", "B310103", "H31", "anomaly:surge", "hotline_calls", "firing", date(2026, 3, 25),
                        datetime(2026, 3, 25, 9, 0))
    [march] = metrics_rows([A1, A2, A3, a4], HISTORY, followup_rows([A1, A2, A3, a4], HISTORY, NOW), NOW)
    assert march["alerts_received"] == 4 and march["acknowledged_in_time_share"] == pytest.approx(1 / 3)
    # judged at the month's end once it is over: on 10 April, March's figure is still that of 31 March
    april = datetime(2026, 4, 10, 2, 0, tzinfo=timezone.utc)
    [then] = metrics_rows([A1, A2, A3], HISTORY, followup_rows([A1, A2, A3], HISTORY, april), april)
    assert then["overdue"] == 2


@pytest.mark.integration
def test_a_run_writes_the_three_tables(spark, tmp_path):
    warehouse = str(tmp_path / "warehouse")
    said = copy_loop(spark, warehouse, HISTORY, Limits(), 30, NOW)  # no gold/alerts yet: no alert followed up
    assert said.startswith("4 loop actions; 0 alerts")
    actions = table("ops.alert_actions").read(spark, warehouse).orderBy("seq").collect()
    assert [a["action"] for a in actions] == ["acknowledge", "assign", "reply", "close"]
    assert actions[1]["due_date"] == date(2026, 3, 6)
    assert table("gold.alert_followup").read(spark, warehouse).count() == 0
    assert table("gold.guidance_metrics").exists(spark, warehouse)
