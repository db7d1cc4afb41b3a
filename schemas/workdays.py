"""China's working-day calendar, from the maintained `holidays` library.

Statutory days off come from holidays.China; the weekend days that become
working days to make up for them (调休) are named in those entries
("Day off (substituted from MM/DD/YYYY)"). Shared by the demo generator and
the anomaly detector, so both see the same calendar.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import holidays

if TYPE_CHECKING:
    import pandas as pd

CHINA = ZoneInfo("Asia/Shanghai")  # the courts' time zone: business dates and local times

_SUBSTITUTED = re.compile(r"substituted from (\d{2}/\d{2}/\d{4})")


@cache
def _year(year: int) -> tuple[dict[date, str], frozenset[date]]:
    days_off = dict(holidays.China(years=year).items())
    makeup = set()
    for name in days_off.values():
        for m in _SUBSTITUTED.finditer(name):
            makeup.add(datetime.strptime(m.group(1), "%m/%d/%Y").date())
    return days_off, frozenset(makeup)


def holiday_name(d: date) -> str | None:
    return _year(d.year)[0].get(d)


def is_working_day(d: date) -> bool:
    days_off, makeup = _year(d.year)
    if d in days_off:
        return False
    return d.weekday() < 5 or d in makeup


def is_spring_festival(d: date) -> bool:
    """The Spring Festival fortnight: the statutory days off and a week either side."""
    for k in range(-7, 8):
        name = holiday_name(d + timedelta(days=k))
        if name and ("Chinese New Year" in name or "Spring Festival" in name):
            return True
    return False


def is_festival(d: date) -> bool:
    """Days whose volumes neither an ordinary working day nor a day off predict:
    the Spring Festival fortnight, whose working days run at a fraction of normal.
    (The National Day week is days off, which the day type already covers.)"""
    return is_spring_festival(d)


def day_frame(start: date, end: date) -> pd.DataFrame:
    """One row per date with the calendar facts models need."""
    import pandas as pd  # here: the settings read the calendar, and the command line need not load pandas

    days = pd.date_range(start, end, freq="D")
    rows = [(d.date(), d.weekday(), is_working_day(d.date()), holiday_name(d.date()) is not None,
             is_spring_festival(d.date()), is_festival(d.date())) for d in days]
    return pd.DataFrame(rows, columns=["date", "weekday", "working_day", "holiday", "spring_festival", "festival"])
