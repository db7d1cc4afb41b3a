"""How real courts differ from one another and from themselves over time.

A detector tuned on identical courts with flat weeks learns nothing about the
courts it will meet (issue 19: a quiet court after Labour Day, a small court's
handful of filings). A profile's `variety:` section turns these on; each is a
draw per court (or per court and day) from the profile's seed:

- weekday profiles that differ by court (a court that sits on Monday mornings,
  an internet court that takes filings at the weekend);
- slow trends (a court growing or shrinking over the year);
- level steps: a court whose volume steps up or down for good on some day
  (a new tribunal, a boundary change); not an incident;
- over-dispersion: a day's volume varies more than Poisson (gamma-Poisson);
- a quiet spell after each holiday of three days or more;
- base rates that differ by court (answer rate, complaints, mediation
  success, e-file), and day-to-day variation around them.

The values are multipliers on the simulator's daily means and rates.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from schemas.workdays import holiday_name, is_working_day


def _logit(p):
    return np.log(p / (1 - p))


def _expit(z):
    return 1 / (1 + np.exp(-z))


@dataclass
class Variety:
    weekday: np.ndarray  # (courts, 7) multipliers, mean 1 over Monday-Friday
    trend: np.ndarray  # (courts,) log change per year
    step_day: np.ndarray  # (courts,) days from the start of the simulation, or a large number
    step: np.ndarray  # (courts,) multiplier from step_day on
    day_cv: float  # coefficient of variation of a court-day's volume beyond Poisson
    rate_shift: dict  # rate name -> (courts,) shift on the logit scale
    rate_day_sd: float  # day-to-day logit variation of a court's rates
    rest_day: np.ndarray  # (courts,) multiplier of rest-day volume (internet courts file online)
    post_holiday: float  # multiplier of the first working days after a long holiday
    post_holiday_days: int
    first: date
    rng: np.random.Generator  # its own stream: a profile without variety draws what it always drew

    @classmethod
    def draw(cls, spec: dict | None, courts: pd.DataFrame, first: date, days: int,
             rng: np.random.Generator) -> "Variety":
        n = len(courts)
        spec = spec or {}
        wd_sd = spec.get("weekday_spread", 0.0)
        weekday = np.exp(rng.normal(0, wd_sd, (n, 7)))
        weekday /= weekday[:, :5].mean(axis=1, keepdims=True)
        step_share = spec.get("level_step_share", 0.0)
        lo, hi = spec.get("level_step_range", [1.0, 1.0])
        stepped = rng.random(n) < step_share
        internet = courts.get("internet", pd.Series(0, index=courts.index)).to_numpy(bool)
        return cls(
            weekday=weekday,
            trend=rng.normal(0, spec.get("trend_per_year", 0.0), n),
            step_day=np.where(stepped, rng.integers(0, max(days, 1), n), 10**6),
            step=np.where(stepped, np.exp(rng.uniform(np.log(lo), np.log(hi), n)), 1.0),
            day_cv=spec.get("day_cv", 0.0),
            rate_shift={k: rng.normal(0, spec.get("rate_spread", 0.0), n)
                        for k in ("answer", "complaint", "mediation_success", "efile")},
            rate_day_sd=spec.get("rate_day_sd", 0.0),
            rest_day=np.where(internet, spec.get("internet_rest_day", 1.0), 1.0),
            post_holiday=spec.get("post_holiday", 1.0),
            post_holiday_days=int(spec.get("post_holiday_days", 0)),
            first=first, rng=rng)

    def volume(self, day: date, working: bool) -> np.ndarray:
        """Each court's multiplier of its mean volume on `day`."""
        t = (day - self.first).days
        m = np.exp(self.trend * t / 365.0) * np.where(t >= self.step_day, self.step, 1.0)
        m = m * (self.weekday[:, day.weekday()] if working else self.rest_day)
        if working and self.post_holiday != 1.0 and self._after_long_holiday(day):
            m = m * self.post_holiday
        if self.day_cv > 0:
            k = 1 / self.day_cv ** 2
            m = m * self.rng.gamma(k, 1 / k, len(m))
        return m

    def rate(self, name: str, base: float) -> np.ndarray:
        """Each court's rate `name` today, around its own level."""
        if not self.rate_day_sd and not self.rate_shift[name].any():
            return np.full(len(self.rate_shift[name]), base)
        z = _logit(base) + self.rate_shift[name]
        if self.rate_day_sd > 0:
            z = z + self.rng.normal(0, self.rate_day_sd, len(z))
        return _expit(z)

    def _after_long_holiday(self, day: date) -> bool:
        """Within the first `post_holiday_days` working days after three or more days off in a row
        that include a statutory holiday."""
        back, working_seen = day - timedelta(days=1), 1
        while is_working_day(back):
            working_seen += 1
            if working_seen > self.post_holiday_days:
                return False
            back -= timedelta(days=1)
        off, named = 0, False
        while not is_working_day(back):
            off += 1
            named = named or holiday_name(back) is not None
            back -= timedelta(days=1)
        return off >= 3 and named
