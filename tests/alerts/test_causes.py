"""Top contributors (jobs/alerts/causes.py) on literal breakdown rows."""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from jobs.alerts import causes

pytestmark = pytest.mark.unit
D = date(2026, 3, 2)


def _rows(spec):
    """spec: (breakdown, member, measure) -> (baseline per day, recent per day); 28 baseline days, 3 recent."""
    out = []
    for (breakdown, member, measure), (before, now) in spec.items():
        out += [(D + timedelta(days=i), breakdown, member, measure, float(before)) for i in range(28)]
        out += [(D + timedelta(days=28 + i), breakdown, member, measure, float(now)) for i in range(3)]
    return pd.DataFrame(out, columns=["date", "breakdown", "member", "measure", "value"])


RECENT, BASELINE = (D + timedelta(days=28), D + timedelta(days=30)), (D, D + timedelta(days=27))


def test_a_fall_of_filings_is_traced_to_the_members_that_fell():
    rows = _rows({("case_type", "civil", "filed"): (10, 1), ("case_type", "enforcement", "filed"): (5, 5),
                  ("filing_channel", "online", "filed"): (8, 0), ("filing_channel", "counter", "filed"): (7, 6),
                  ("procedure", "first_instance", "filed"): (15, 6)})
    top = causes.contributors(rows, "case_filed", RECENT, BASELINE)
    by = {(c.breakdown, c.member): c for c in top}
    civil = by[("case_type", "civil")]
    assert civil.observed == 3 and civil.expected == pytest.approx(30) and civil.change == pytest.approx(-27)
    assert civil.share == pytest.approx(1.0)  # enforcement did not move
    assert by[("filing_channel", "online")].share == pytest.approx(24 / 27)
    assert ("case_type", "enforcement") not in by  # only members that moved the way the metric did
    text = causes.summary(top, "case_filed")
    assert text.startswith("主要来自 ") and "民事 −27件" in text and "网上立案 −24件" in text


def test_a_rate_drop_is_traced_to_the_members_whose_own_rate_fell():
    # answer rate: consultations fall from 90% to 40% answered, case-progress calls stay at 90%
    rows = _rows({("category", "consultation", "calls"): (20, 20), ("category", "consultation", "calls_answered"): (18, 8),
                  ("category", "case_progress", "calls"): (10, 10), ("category", "case_progress", "calls_answered"): (9, 9)})
    top = causes.contributors(rows, "hotline_answer_rate", RECENT, BASELINE)
    assert [(c.breakdown, c.member) for c in top] == [("category", "consultation")]
    c = top[0]
    assert c.observed == pytest.approx(0.4) and c.expected == pytest.approx(0.9)
    assert c.change == pytest.approx((24 - 60 * 0.9) / 90) and c.share == pytest.approx(1.0)
    assert "咨询 −33.3个百分点" in causes.summary(top, "hotline_answer_rate")


def test_the_message_does_not_name_the_same_cases_twice():
    # enforcement cases fall: as a case type and as a procedure they are the same cases, 执行 both
    rows = _rows({("case_type", "enforcement", "filed"): (10, 1), ("case_type", "civil", "filed"): (10, 10),
                  ("procedure", "enforcement", "filed"): (10, 1), ("procedure", "first_instance", "filed"): (10, 10),
                  ("filing_channel", "online", "filed"): (12, 4), ("filing_channel", "counter", "filed"): (8, 7)})
    text = causes.summary(causes.contributors(rows, "case_filed", RECENT, BASELINE), "case_filed")
    assert text.count("执行") == 1 and "网上立案" in text


def test_only_days_up_to_the_episode_are_read():
    rows = _rows({("case_type", "civil", "filed"): (10, 1)})
    later = pd.DataFrame([(D + timedelta(days=31), "case_type", "civil", "filed", 500.0)], columns=rows.columns)
    top = causes.contributors(pd.concat([rows, later], ignore_index=True), "case_filed", RECENT, BASELINE)
    assert top[0].observed == 3


def test_windows():
    recent, base = causes.windows("anomaly", date(2026, 3, 20), date(2026, 3, 25), 3, 56, 7)
    assert recent == (date(2026, 3, 23), date(2026, 3, 25)) and base[1] == date(2026, 3, 12)
    assert (base[1] - base[0]).days + 1 == 56
    recent, base = causes.windows("threshold", date(2026, 3, 10), date(2026, 3, 25), 3, 56, 7)
    assert recent == (date(2026, 3, 1), date(2026, 3, 25)) and base[1] == date(2026, 2, 28)
