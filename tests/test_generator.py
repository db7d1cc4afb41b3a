"""The demo generator's opening stock (issue 21): on its first day a court sends every case still
open on that day, in its current state, as a court joining the system would; later days do not."""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
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
    return profile, dict(Simulator(profile, courts, START, 2, seed=3).run())


def _open_filed_before_start(cases):
    return cases[cases["closed_date"].isna() & (cases["filed_date"] < START.isoformat())]


def test_the_first_day_sends_the_open_cases_of_years_before(sent):
    profile, days = sent
    stock = _open_filed_before_start(days[START]["cases"])
    ages = (np.datetime64(START) - stock["filed_date"].to_numpy(dtype="datetime64[D]")).astype(int)
    assert stock["case_id"].nunique() > 1000
    assert ages.max() > 365, "the stock reaches cases pending over a year"
    assert (ages > profile["warmup_days"]).any(), "and cases filed before the simulated warm-up"


def test_the_stock_holds_open_cases_only(sent):
    _, days = sent
    first = days[START]["cases"]
    stock_ids = set(_open_filed_before_start(first)["case_id"])
    closed = first[first["case_id"].isin(stock_ids) & first["closed_date"].notna()]
    assert (closed["closed_date"] >= START.isoformat()).all(), "a stock case closes on the first day or later"


def test_only_the_first_day_sends_a_stock(sent):
    _, days = sent
    stock = _open_filed_before_start(days[START]["cases"])["case_id"].nunique()
    later = _open_filed_before_start(days[START + timedelta(days=1)]["cases"])["case_id"].nunique()
    assert later < stock / 20  # the late filings of the days before, not a second stock
