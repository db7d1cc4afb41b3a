"""Each formula of metrics.md on hand-made records with answers worked out by hand."""
from __future__ import annotations

import pytest

from tests import handmade as L
from tests.conftest import run_pipeline, table

pytestmark = pytest.mark.integration

AS_OF = "2026-03-31"


@pytest.fixture(scope="module")
def gold(spark, tmp_path_factory):

    root = tmp_path_factory.mktemp("formulas")
    land = L.Landing(root / "landing")
    b = "B110001"
    land.batch("cases", b, "2026-03-02", [
        # A: mediated civil case, 10 trial days within a 90-day limit
        L.case("A", filed_date="2026-03-02", closed_date="2026-03-12", closing_method="mediation",
               statutory_limit_days=90, filing_channel="online"),
        # B: judgment, 18 days less 5 suspended = 13 > limit 10 (+0): late; then appealed
        L.case("B", filed_date="2026-03-02", closed_date="2026-03-20", closing_method="judgment",
               statutory_limit_days=10, suspended_days=5, appealed=True, filing_channel="mobile"),
        # C: no statutory limit: not in the on-time denominator
        L.case("C", case_type="criminal", filed_date="2026-03-05", closed_date="2026-03-06",
               closing_method="judgment", statutory_limit_days=0, efile_synced=False),
        # D, E: old open cases; E is exactly 366 days old on 03-31, 365 on 03-30
        L.case("D", filed_date="2025-01-10", updated_at="2025-01-10T09:00:00+08:00"),
        L.case("E", filed_date="2025-03-30", updated_at="2025-03-30T09:00:00+08:00"),
        # F: filed in February, closed in March: pending at the start of March
        L.case("F", filed_date="2026-02-20", closed_date="2026-03-03", closing_method="withdrawal",
               extension_days=30, statutory_limit_days=5),
        # I: filed and still open in this batch; closed by a late update below
        L.case("I", filed_date="2026-03-03", filing_channel="cross_region", case_type="enforcement",
               procedure="enforcement"),
    ])
    land.batch("cases", "I1101", "2026-03-02", [
        L.case("G", court="I1101", procedure="second_instance", filed_date="2026-03-02", closed_date="2026-03-15",
               closing_method="judgment", appeal_result="revised", origin_case_id="Z1", origin_court_id=b),
        L.case("H", court="I1101", procedure="second_instance", filed_date="2026-03-02", closed_date="2026-03-16",
               closing_method="judgment", appeal_result="upheld", origin_case_id="Z2", origin_court_id="B110002"),
    ])
    land.batch("hotline", b, "2026-03-10", [
        L.call("T1", call_start="2026-03-10T09:00:00+08:00", wait_seconds=10, satisfaction=5),
        L.call("T2", call_start="2026-03-10T09:30:00+08:00", wait_seconds=50, answered=False, talk_seconds=None,
               category="complaint"),
        # 16:30 UTC is 00:30 on the 11th in China: the 11th's call
        L.call("T3", call_start="2026-03-10T16:30:00Z", wait_seconds=30, satisfaction=2,
               ticket_id="W3", ticket_due_at="2026-03-12T10:00:00+08:00", ticket_closed_at="2026-03-12T10:00:00+08:00"),
        L.call("T4", call_start="2026-03-10T11:00:00+08:00", wait_seconds=0,
               ticket_id="W4", ticket_due_at="2026-03-12T18:00:00+08:00", ticket_closed_at="2026-03-13T09:00:00+08:00"),
    ])
    land.batch("mediation", b, "2026-03-10", [
        L.mediation("M1", applied_at="2026-03-02T10:00:00+08:00", closed_at="2026-03-04T22:00:00+08:00",
                    outcome="success", judicial_confirmation="confirmed"),
        L.mediation("M2", applied_at="2026-03-03T10:00:00+08:00", closed_at="2026-03-04T10:00:00+08:00",
                    outcome="failure", stage="in_litigation"),
        L.mediation("M3", applied_at="2026-03-05T10:00:00+08:00"),
    ])
    # a late update: case I was closed on 03-04, reported on 03-25
    land.batch("cases", b, "2026-03-25", [
        L.case("I", filed_date="2026-03-03", filing_channel="cross_region", case_type="enforcement",
               procedure="enforcement", closed_date="2026-03-04", closing_method="other",
               updated_at="2026-03-25T09:00:00+08:00"),
    ])
    run_pipeline(spark, land, str(root / "wh"), steps=("ingest", "quality", "metrics"),
                 as_of=__import__("datetime").date.fromisoformat(AS_OF))
    rows = table(spark, str(root / "wh"), "gold/court_metrics").collect()
    regions = table(spark, str(root / "wh"), "gold/region_metrics").collect()
    return ({(r["court_id"], r["period"], str(r["period_start"]), r["metric_id"]): r for r in rows},
            {(r["region_id"], r["period"], str(r["period_start"]), r["metric_id"]): r for r in regions})


def month(gold, metric, court="B110001"):
    return gold[0][(court, "month", "2026-03-01", metric)]


def day(gold, metric, d, court="B110001"):
    return gold[0][(court, "day", d, metric)]


def nd(r):
    return (r["numerator"], r["denominator"])


def test_grid_every_court_metric_day_and_month(gold):
    courts = {k[0] for k in gold[0]}
    assert courts == {c[0] for c in L.REGISTRY}
    days = {k[2] for k in gold[0] if k[1] == "day"}
    # from the earliest business date (03-02) to the as-of date
    assert min(days) == "2026-03-02" and max(days) == AS_OF and len(days) == 30
    assert len(gold[0]) == len(courts) * 26 * (30 + 1)


def test_case_counts_and_stocks(gold):
    assert month(gold, "case_filed")["value"] == 4  # A B C I (F was filed in February)
    assert month(gold, "case_closed")["value"] == 5  # A B C F, and I by the late update
    assert month(gold, "case_pending_end")["value"] == 2  # D E
    assert nd(month(gold, "clearance_rate")) == (5, 4)
    # pending at the start of March: D E F; plus 4 filed
    assert nd(month(gold, "closure_rate")) == (5, 7)
    assert month(gold, "cross_region_filed")["value"] == 1
    r = month(gold, "case_filed")
    assert r["numerator"] == 4 and r["denominator"] is None


def test_late_update_changes_the_history_it_touches(gold):
    assert day(gold, "case_closed", "2026-03-04")["value"] == 1
    assert day(gold, "case_pending_end", "2026-03-03")["value"] == 5  # A B D E I
    assert day(gold, "case_pending_end", "2026-03-04")["value"] == 4


def test_statutory_limit_suspension_and_extension(gold):
    # A 10 <= 90; B 18-5=13 > 10; C has no limit; F 11 <= 5+30; I 1 <= 180
    assert nd(month(gold, "on_time_closure_rate")) == (3, 4)
    assert nd(month(gold, "avg_trial_days")) == (10 + 13 + 1 + 11 + 1, 5)


def test_long_pending_boundary(gold):
    assert day(gold, "long_pending_12m", "2026-03-30")["value"] == 1  # E is 365 days old
    assert day(gold, "long_pending_12m", "2026-03-31")["value"] == 2  # and 366 the next day
    assert month(gold, "long_pending_12m")["value"] == 2


def test_disposition_time_uses_days_in_period(gold):
    r = month(gold, "disposition_time_days")
    assert nd(r) == (2 * 31, 5) and r["value"] == pytest.approx(62 / 5, rel=1e-12)
    assert nd(day(gold, "disposition_time_days", "2026-03-04")) == (4, 1)


def test_rates_on_closed_cases(gold):
    assert nd(month(gold, "mediation_withdrawal_rate")) == (2, 3)  # civil: A mediated, F withdrawn, B judged
    assert nd(month(gold, "appeal_rate")) == (1, 4)  # first instance A B C F; B appealed
    assert nd(month(gold, "online_filing_rate")) == (2, 4)
    assert nd(month(gold, "efile_sync_rate")) == (3, 4)


def test_reversal_counted_for_the_origin_court(gold):
    assert nd(month(gold, "reversal_remand_rate")) == (1, 1)
    assert nd(month(gold, "reversal_remand_rate", "B110002")) == (0, 1)
    own = month(gold, "reversal_remand_rate", "I1101")
    assert nd(own) == (0, 0) and own["value"] is None


def test_zero_denominator_is_null_and_zero_rows_exist(gold):
    r = day(gold, "clearance_rate", "2026-03-07")
    assert r["value"] is None and nd(r) == (0, 0)
    spc = month(gold, "case_filed", "SPC")
    assert spc["value"] == 0


def test_hotline_days_are_china_dates(gold):
    assert day(gold, "hotline_calls", "2026-03-10")["value"] == 3
    assert day(gold, "hotline_calls", "2026-03-11")["value"] == 1  # 16:30Z is 00:30 on the 11th
    assert nd(day(gold, "hotline_answer_rate", "2026-03-10")) == (2, 3)
    assert nd(day(gold, "hotline_avg_wait_s", "2026-03-10")) == (60, 3)
    assert nd(day(gold, "hotline_complaint_share", "2026-03-10")) == (1, 3)
    assert nd(month(gold, "hotline_satisfaction")) == (7, 2)
    # work orders count on their due date; W4 closed after its due time
    assert nd(day(gold, "hotline_ticket_ontime_rate", "2026-03-12")) == (1, 2)
    assert nd(day(gold, "hotline_ticket_ontime_rate", "2026-03-10")) == (0, 0)


def test_mediation(gold):
    assert month(gold, "mediation_applied")["value"] == 3
    assert nd(month(gold, "mediation_success_rate")) == (1, 2)
    assert nd(month(gold, "mediation_avg_days")) == (3.5, 2)
    assert nd(month(gold, "judicial_confirmation_rate")) == (1, 1)
    # pre-litigation M1 M3; civil first-instance filings A B
    assert nd(month(gold, "pre_litigation_diversion_rate")) == (2, 4)


def test_regions_sum_numerators_and_denominators(gold):
    regions = gold[1]
    assert regions[("NATIONAL", "month", "2026-03-01", "case_filed")]["value"] == 6  # 4 + G + H at I1101
    r = regions[("H11", "month", "2026-03-01", "reversal_remand_rate")]
    assert nd(r) == (1, 2) and r["value"] == 0.5 and r["region_level"] == "HIGH"
    empty = regions[("H31", "month", "2026-03-01", "clearance_rate")]
    assert empty["value"] is None and nd(empty) == (0, 0)
    assert {k[0] for k in regions} == {"NATIONAL", "H11", "H31"}
