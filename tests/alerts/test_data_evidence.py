"""The evaluation's measure of what the data allows (testbed/evaluation.py data_evidence), on literal rows."""
from __future__ import annotations

import math
from datetime import date, timedelta

import pandas as pd
import pytest

from testbed.evaluation import data_evidence, score

pytestmark = pytest.mark.unit
START = date(2026, 4, 13)  # a Monday; Qingming was 4-6 April


def _days(court, measure, per_day, first=START - timedelta(days=28), n=32):
    return [(court, first + timedelta(days=k), measure, per_day(first + timedelta(days=k))) for k in range(n)]


def test_a_rate_drop_holds_the_binomial_likelihood_ratio_of_what_happened():
    # 20 mediations close a day; 60% succeed before, 45% in the incident's first four days
    rows = _days("B1", "mediations_closed", lambda d: 20.0) + \
        _days("B1", "mediations_succeeded", lambda d: 12.0 if d < START else 9.0)
    incident = {"kind": "mediation_success_drop", "court_id": "B1", "metric_id": "mediation_success_rate",
                "start": START.isoformat()}
    got = data_evidence(pd.DataFrame(rows, columns=["court_id", "date", "measure", "value"]), incident)
    want = 36 * math.log(0.45 / 0.6) + 44 * math.log(0.55 / 0.4)  # 80 trials, 36 successes
    assert got == pytest.approx(want) and got < 7  # too little for a threshold of 7 within the grace days


def test_a_count_collapse_against_the_same_weekdays_before():
    rows = _days("B1", "filed", lambda d: 40.0 if d < START else 10.0)
    incident = {"kind": "filings_collapse", "court_id": "B1", "metric_id": "case_filed", "start": START.isoformat()}
    got = data_evidence(pd.DataFrame(rows, columns=["court_id", "date", "measure", "value"]), incident)
    assert got == pytest.approx(40 * math.log(40 / 160) - (40 - 160))
    # over Qingming (days off 4-6 April) only the working day of the grace days counts: Tuesday 7
    frame = pd.DataFrame(_days("B1", "filed", lambda d: 40.0 if d < date(2026, 4, 4) else 10.0, date(2026, 3, 1), 45),
                         columns=["court_id", "date", "measure", "value"])
    holiday = {**incident, "start": "2026-04-04"}
    assert data_evidence(frame, holiday) == pytest.approx(10 * math.log(10 / 40) - (10 - 40))
    assert data_evidence(pd.DataFrame(rows, columns=["court_id", "date", "measure", "value"]),
                         {"kind": "feed_silence", "court_id": "B1", "start": START.isoformat()}) is None


def test_recall_where_the_data_allows_leaves_out_the_incidents_it_does_not():
    incidents = [{"kind": "mediation_success_drop", "court_id": "B1", "metric_id": "mediation_success_rate",
                  "source": None, "start": "2026-04-06", "end": "2026-04-20", "evidence": 3.2},
                 {"kind": "filings_collapse", "court_id": "B2", "metric_id": "case_filed", "source": None,
                  "start": "2026-04-06", "end": "2026-04-20", "evidence": 80.0}]
    s = score([], incidents, threshold=7)
    assert (s["caught"], s["data_allows"], s["caught_where_data_allows"]) == (0, 1, 0)
    assert s["missed"][0].endswith("(data evidence 3.2)")
