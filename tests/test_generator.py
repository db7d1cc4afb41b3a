"""The demo generator's opening stock (issue 21): on its first day a court sends every case still
open on that day, in its current state, as a court joining the system would; later days do not."""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from testbed.generate.landing_zone import load_profile, make_registry
from testbed.generate.simulate import Simulator

pytestmark = pytest.mark.unit
START = date(2026, 9, 1)


@pytest.fixture(scope="module")
def sent():
    # tiny sends no stock (the suite's runs stay small); 400 days reach cases pending over a year
    profile = load_profile("tiny") | {"opening_stock_days": 400}
    courts = make_registry(profile, np.random.default_rng(3))
    days, stock = {}, []
    for day, sent in Simulator(profile, courts, START, 2, seed=3).run():
        if "opening_stock" in sent:
            assert not days, "the stock comes before the first day's own batches"
            stock.append(sent["opening_stock"])
        else:
            days[day] = sent
    return profile, pd.concat(stock, ignore_index=True), days


def _open_filed_before_start(cases):
    return cases[cases["closed_date"].isna() & (cases["filed_date"] < START.isoformat())]


def test_the_first_day_sends_the_open_cases_of_years_before(sent):
    profile, stock, _ = sent
    assert "closed_date" not in stock and (stock["filed_date"] < START.isoformat()).all()
    ages = (np.datetime64(START) - stock["filed_date"].to_numpy(dtype="datetime64[D]")).astype(int)
    assert stock["case_id"].nunique() > 1000
    assert ages.max() > 365, "the stock reaches cases pending over a year"
    assert (ages > profile["warmup_days"]).any(), "and cases filed before the simulated warm-up"


def test_the_stock_holds_open_cases_only(sent):
    _, stock, days = sent
    later = pd.concat([days[d]["cases"] for d in days])
    closed = later[later["case_id"].isin(set(stock["case_id"])) & later["closed_date"].notna()]
    assert len(closed) > 0
    assert (closed["closed_date"] >= START.isoformat()).all(), "a stock case closes on the first day or later"


def test_the_days_send_no_second_stock(sent):
    _, stock, days = sent
    for day in (START, START + timedelta(days=1)):
        late = _open_filed_before_start(days[day]["cases"])["case_id"].nunique()
        assert late < len(stock) / 20  # the late filings of the days before, not a second stock


def test_incidents_of_mediation_go_to_courts_that_mediate():
    from testbed.generate.landing_zone import pick_incidents

    courts = make_registry(load_profile("eval-holdout-4"), np.random.default_rng(0))
    level = dict(zip(courts["court_id"], courts["level"]))
    for seed in range(20):
        for i in pick_incidents(courts, date(2026, 1, 15), 120, 12, np.random.default_rng(seed), varied=True):
            if i["kind"] == "mediation_success_drop":
                assert level[i["court_id"]] == "BASIC", (seed, i)
