"""The courts' systems, simulated day by day, vectorised with numpy.

Each new entity is drawn with its whole life (filed, closed, appealed; a call
and its work order; a mediation applied and closed). Every change of state is
a version to send, scheduled on the day it happens (or later: some courts
send late). Each day yields the versions due that day, per source.

A profile with `opening_stock_days` also sends each court's opening stock on
the first day, as a court joining the system would (issue 21): every case
filed before that day and still open on it, in its current state, in a batch
of its own (an initial load) before the day's. Without it
the warehouse never holds the years of open cases a real court carries. The
cases filed before the warm-up are drawn with their lives as any other, and
only those still open on the first day are kept (the rest cost only numbers).
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import numpy as np
import pandas as pd

from schemas.workdays import day_frame
from testbed.generate.variety import Variety

TZ = "+08:00"
CASE_TYPES = ["civil", "enforcement", "criminal", "administrative", "state_compensation", "other"]
CASE_MIX = [0.59, 0.31, 0.05, 0.02, 0.002, 0.028]
# (mean trial days, statutory limit days) for a first-instance case of each type
CASE_TIMING = {
    "civil": (67, 180), "enforcement": (80, 180), "criminal": (45, 60), "administrative": (104, 180),
    "state_compensation": (60, 90), "other": (50, 90),
}
CHANNELS = ["counter", "online", "mobile", "cross_region", "other"]
CHANNEL_MIX = [0.545, 0.35, 0.08, 0.002, 0.023]
CALL_CATEGORIES = ["consultation", "case_progress", "complaint", "urging", "suggestion", "report", "other"]
CALL_MIX = np.array([0.45, 0.25, 0.05, 0.12, 0.04, 0.02, 0.07])
DISPUTES = ["family", "labour", "contract", "loan", "traffic", "property", "neighbourhood", "other"]
MEDIATORS = ["court_mediator", "people_mediation", "industry", "lawyer", "other"]
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗")
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂")

# Baseline rates an incident moves (alerts.md: what the detector must catch).
BASE = {"answer": 0.92, "complaint": 0.05, "mediation_success": 0.69, "efile": 0.95}


DATE_COLUMNS = ("filed_date", "closed_date")


def _ts(base_days: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """Local times (datetime64[s], NaT where none): written out by _formatted only when sent,
    since most versions the warm-up makes are never sent and formatting was a third of the time."""
    return np.asarray(pd.to_datetime(base_days) + pd.to_timedelta(seconds, unit="s"), dtype="datetime64[s]")


def _iso(days: np.ndarray) -> np.ndarray:
    return np.asarray(pd.to_datetime(days), dtype="datetime64[D]")


def _formatted(versions: pd.DataFrame) -> pd.DataFrame:
    """The versions as exchange.md spells them: dates YYYY-MM-DD, times ISO 8601 with +08:00."""
    out = {}
    for column in versions.columns:
        values = versions[column]
        if values.dtype.kind != "M":
            continue
        t = values.to_numpy(dtype="datetime64[s]")
        if column in DATE_COLUMNS:
            text = np.datetime_as_string(t.astype("datetime64[D]"), unit="D")
        else:  # numpy formats ISO seconds in C; pandas' strftime was half the generator's time
            text = np.char.add(np.datetime_as_string(t, unit="s"), TZ)
        out[column] = pd.Series(text, index=versions.index, dtype=object).where(~np.isnat(t), None)
    return versions.assign(**out)


class Simulator:
    def __init__(self, profile: dict, courts: pd.DataFrame, start: date, days: int, seed: int,
                 incidents: list[dict] | None = None):
        self.p = profile
        self.courts = courts.reset_index(drop=True)
        self.start, self.days = start, days
        self.warm_from = start - timedelta(days=int(profile["warmup_days"]))
        # before the warm-up only cases are drawn, and only those still open on `start` are kept
        self.first = min(self.warm_from, start - timedelta(days=int(profile.get("opening_stock_days", 0))))
        self.opening_stock = bool(profile.get("opening_stock_days"))
        self.stock: list[pd.DataFrame] = []  # per filing day, the cases still open on `start`
        self.end = start + timedelta(days=days - 1)
        self.rng = np.random.default_rng(seed)
        # far enough ahead for the longest life drawn (trial days are capped below)
        self.calendar = day_frame(self.first, self.end + timedelta(days=1000)).set_index("date")
        self.working = self.calendar["working_day"].to_numpy()
        self.day0 = np.datetime64(self.first)
        self.outbox: dict[tuple[date, str], list[pd.DataFrame]] = defaultdict(list)
        self.incidents = incidents or []
        self.seq = defaultdict(int)
        self.parent = dict(zip(courts["court_id"], courts["parent_id"]))
        self.level = courts["level"].to_numpy()
        self.ids = courts["court_id"].to_numpy()
        self.variety = Variety.draw(profile.get("variety"), self.courts, self.first, (self.end - self.first).days + 1,
                                    np.random.default_rng(seed + 101))
        self.internet = self.courts.get("internet", pd.Series(0, index=self.courts.index)).to_numpy(bool)

    # -- calendar and incidents ---------------------------------------------------------
    def _factor(self, day: date, source: str) -> float:
        c = self.calendar.loc[day]
        if source == "cases":
            f = 1.0 if c.working_day else 0.12
            if c.spring_festival:
                f *= 0.45
            f *= {2: 0.9, 3: 1.1, 12: 0.85}.get(day.month, 1.0)
        else:
            f = 1.0 if c.working_day else (0.3 if source == "hotline" else 0.2)
            if c.spring_festival:
                f *= 0.6
        return f

    def _incident(self, day: date, kind: str) -> dict[str, float]:
        """court_id -> effect, for incidents of `kind` active on `day`."""
        return {i["court_id"]: i.get("effect", 0.0) for i in self.incidents
                if i["kind"] == kind and date.fromisoformat(i["start"]) <= day <= date.fromisoformat(i["end"])}

    def _per_court(self, values: dict[str, float], default) -> np.ndarray:
        default = np.broadcast_to(default, len(self.ids))
        return np.array([values.get(c, d) for c, d in zip(self.ids, default)])

    def _counts(self, day: date, source: str, per_year: float) -> np.ndarray:
        lam = self.courts["size"].to_numpy() * per_year / 250.0 * self._factor(day, source)
        lam = lam * self.variety.volume(day, bool(self.calendar.loc[day].working_day))
        if source == "cases":
            lam = lam * self._per_court(self._incident(day, "filings_collapse"), 1.0)
        return self.rng.poisson(lam)

    def _next_working(self, days: np.ndarray) -> np.ndarray:
        out = days.astype("datetime64[D]").copy()
        for _ in range(12):
            idx = (out - self.day0).astype(int).clip(0, len(self.working) - 1)
            off = ~self.working[idx]
            if not off.any():
                break
            out[off] = out[off] + np.timedelta64(1, "D")
        return out

    def _send(self, source: str, versions: pd.DataFrame, event_day: np.ndarray) -> None:
        """Schedule versions on the day of their event, some of them late."""
        n = len(versions)
        if n == 0:
            return
        delay = np.zeros(n, dtype=int)
        late = self.rng.random(n) < self.p["late_share"]
        delay[late] = self.rng.choice([1, 2, 3, 7, 30, 95], size=late.sum(), p=[0.4, 0.2, 0.15, 0.15, 0.07, 0.03])
        send = pd.to_datetime(event_day) + pd.to_timedelta(delay, unit="D")
        versions = versions.assign(_send=send.date)
        dup = self.rng.random(n) < self.p["duplicate_share"]
        if dup.any():  # an exact duplicate, sent again a day or two later
            again = versions[dup].copy()
            again["_send"] = (pd.to_datetime(again["_send"]) + pd.to_timedelta(
                self.rng.integers(0, 3, dup.sum()), unit="D")).dt.date
            versions = pd.concat([versions, again])
        # versions sent before the window (the warm-up's own) are never written
        versions = versions[(versions["_send"] >= self.start) & (versions["_send"] <= self.end)]
        for d, part in versions.groupby("_send"):
            self.outbox[(d, source)].append(part.drop(columns="_send"))

    def _ids(self, prefix: str, courts: np.ndarray, day: date) -> np.ndarray:
        """Ids numbered per court and day, in order of appearance, after those already given."""
        stamp = day.strftime("%Y%m%d")
        s = pd.Series(courts)
        rank = s.groupby(s, sort=False).cumcount().to_numpy()
        given = {}
        for c, n in s.value_counts(sort=False).items():
            given[c] = self.seq[(prefix, c, stamp)]
            self.seq[(prefix, c, stamp)] += int(n)
        number = np.char.zfill((s.map(given).to_numpy() + rank).astype(str), 5)
        return np.char.add(np.char.add(f"{prefix}", courts.astype(str)), np.char.add(stamp, number)).astype(object)

    def _names(self, n: int) -> list:
        s = self.rng.choice(SURNAMES, (n, 2))
        g = self.rng.choice(GIVEN, (n, 2))
        full = np.char.add(s, g)
        return list(map(list, zip(full[:, 0].tolist(), full[:, 1].tolist())))

    # -- cases ------------------------------------------------------------------------------
    def _cases(self, day: date, open_on_start_only: bool = False) -> None:
        counts = self._counts(day, "cases", self.p["cases_per_year"])
        n = counts.sum()
        if n == 0:
            return
        rng = self.rng
        court_idx = np.repeat(np.arange(len(self.ids)), counts)
        court = self.ids[court_idx]
        level = self.level[court_idx]
        ctype = rng.choice(CASE_TYPES, n, p=CASE_MIX)
        procedure = np.where(ctype == "enforcement", "enforcement", "first_instance")
        # Intermediate and high courts mostly hear appeals, and some retrials.
        upper = np.isin(level, ["INTERMEDIATE", "HIGH", "SPC"])
        procedure = np.where(upper & (ctype != "enforcement"),
                             rng.choice(["first_instance", "second_instance", "retrial"], n, p=[0.3, 0.6, 0.1]),
                             procedure)
        self._emit_cases(day, court, ctype, procedure, origin=None, open_on_start_only=open_on_start_only)

    def _emit_cases(self, day, court, ctype, procedure, origin, open_on_start_only=False):
        rng, n = self.rng, len(court)
        types = pd.Series(ctype)  # mapped, not looped: the opening stock draws ~100 M national cases
        mean_days = types.map({t: m for t, (m, _) in CASE_TIMING.items()}).to_numpy(float)
        limit = types.map({t: lim for t, (_, lim) in CASE_TIMING.items()}).to_numpy(int)
        appeal = procedure != "first_instance"
        limit = np.where(appeal & (procedure != "enforcement"), 90, limit)
        # Small claims and summary procedure: shorter limits for a share of civil cases.
        summary = (ctype == "civil") & (procedure == "first_instance") & (rng.random(n) < 0.5)
        limit = np.where(summary, 90, limit)
        limit = np.where(rng.random(n) < 0.01, 0, limit)  # no statutory limit (e.g. some special procedures)
        trial = np.clip(rng.lognormal(np.log(mean_days) - 0.5, 0.9), 1, 900).astype(int)
        suspended = np.where(rng.random(n) < 0.06, rng.integers(10, 90, n), 0)
        over = (trial - suspended > limit) & (limit > 0)
        extension = np.where(over & (rng.random(n) < 0.9), np.maximum(trial - suspended - limit, 0)
                             + rng.integers(0, 30, n), 0)
        extension = np.where(~over & (rng.random(n) < 0.02), rng.integers(30, 120, n), extension)
        filed = np.datetime64(day)
        closed = self._next_working(filed + trial.astype("timedelta64[D]"))
        if open_on_start_only:  # a case of the years before the warm-up: only the opening stock needs it
            keep = closed >= np.datetime64(self.start)
            court, ctype, procedure, limit, suspended, extension, closed = (
                a[keep] for a in (court, ctype, procedure, limit, suspended, extension, closed))
            n = len(court)
            if n == 0:
                return
        efile_p = self._per_court(self._incident(day, "efile_failure"), self.variety.rate("efile", BASE["efile"]))
        court_pos = pd.Index(self.ids).get_indexer(court)
        method = np.where(
            ctype == "civil", rng.choice(["judgment", "mediation", "withdrawal", "dismissal", "other"], n,
                                         p=[0.42, 0.28, 0.22, 0.05, 0.03]),
            rng.choice(["judgment", "withdrawal", "transfer", "other"], n, p=[0.85, 0.08, 0.03, 0.04]))
        ids = self._ids("C", court, day)
        abbr = dict(zip(self.courts["court_id"], self.courts["abbr"]))
        kind = {"first_instance": "初", "second_instance": "终", "retrial": "再", "enforcement": "执", "other": "他"}
        word = {"civil": "民", "criminal": "刑", "administrative": "行"}
        parts = [np.full(n, f"({day.year})"), pd.Series(court).map(abbr).to_numpy(dtype=str),
                 pd.Series(court).str[-4:].to_numpy(dtype=str),
                 pd.Series(ctype).map(word).fillna("执").to_numpy(dtype=str),
                 pd.Series(procedure).map(kind).to_numpy(dtype=str),
                 pd.Series(ids).str[-5:].astype(int).astype(str).to_numpy(dtype=str), np.full(n, "号")]
        numbers = parts[0]
        for part in parts[1:]:
            numbers = np.char.add(numbers, part)
        numbers = numbers.astype(object)
        life = pd.DataFrame({
            "case_id": ids, "case_number": numbers, "court_id": court, "case_type": ctype,
            "procedure": procedure,
            "filing_channel": self._channels(court_pos),
            "filed_date": _iso(np.full(n, filed)), "statutory_limit_days": limit,
            "extension_days": extension, "suspended_days": suspended,
            "efile_synced": rng.random(n) < efile_p[court_pos],
            "party_names": self._names(n),
        })
        if origin is not None:
            life["origin_case_id"] = origin["case_id"].to_numpy()
            life["origin_court_id"] = origin["court_id"].to_numpy()
        filed_at = rng.integers(8 * 3600, 18 * 3600, n)
        v1 = life.assign(updated_at=_ts(np.full(n, filed), filed_at))
        self._send("cases", v1, np.full(n, filed))
        if self.opening_stock and day < self.start:  # still open on the first day: in the opening stock
            self.stock.append(v1[closed >= np.datetime64(self.start)])
        # closure
        result = np.where(procedure == "second_instance",
                          rng.choice(["upheld", "revised", "remanded", "withdrawn", "other"], n,
                                     p=[0.78, 0.1, 0.04, 0.06, 0.02]), None)
        v2 = life.assign(closed_date=_iso(closed), closing_method=method,
                         appeal_result=result, appealed=np.where(procedure == "first_instance", False, None),
                         updated_at=_ts(closed, rng.integers(9 * 3600, 20 * 3600, n)))
        self._send("cases", v2, closed)
        # appeals: a share of first-instance judgments, some days after closure
        appealed = (procedure == "first_instance") & (method == "judgment") & \
                   np.isin(ctype, ["civil", "criminal", "administrative"]) & (rng.random(n) < 0.18)
        if appealed.any():
            when = closed[appealed] + rng.integers(5, 16, appealed.sum()).astype("timedelta64[D]")
            v3 = v2[appealed].assign(appealed=True,
                                     updated_at=_ts(when, rng.integers(9 * 3600, 18 * 3600, appealed.sum())))
            self._send("cases", v3, when)
            for d in np.unique(when):
                mask = when == d
                origin = v3[mask]
                parents = np.array([self.parent.get(c) or c for c in origin["court_id"]])
                parents = np.where(parents == "SPC", origin["court_id"].to_numpy(), parents)
                self.pending_appeals[pd.Timestamp(d).date()].append(
                    (parents, origin["case_type"].to_numpy(), origin[["case_id", "court_id"]]))

    def _channels(self, court_pos: np.ndarray) -> np.ndarray:
        """Filing channels; an internet court takes nearly all its cases online."""
        channel = self.rng.choice(CHANNELS, len(court_pos), p=CHANNEL_MIX)
        if self.internet.any():
            online = self.internet[court_pos] & (self.variety.rng.random(len(court_pos)) < 0.97)
            channel = np.where(online, "online", channel)
        return channel

    def _appeal_filings(self, day: date) -> None:
        """The day's appeals, from every earlier day's judgments, filed in one go (a call per earlier
        day cost 40% of a national day's simulation once 120 days of history were pending)."""
        groups = self.pending_appeals.pop(day, [])
        if not groups:
            return
        parents = np.concatenate([g[0] for g in groups])
        ctype = np.concatenate([g[1] for g in groups])
        origin = pd.concat([g[2] for g in groups], ignore_index=True)
        self._emit_cases(day, parents, ctype, np.full(len(parents), "second_instance"), origin=origin)

    # -- hotline ----------------------------------------------------------------------------
    def _calls(self, day: date) -> None:
        counts = self._counts(day, "hotline", self.p["calls_per_year"])
        n = counts.sum()
        if n == 0:
            return
        rng = self.rng
        court = np.repeat(self.ids, counts)
        pos = pd.Index(self.ids).get_indexer(court)
        answer_p = self._per_court(self._incident(day, "answer_rate_drop"), self.variety.rate("answer", BASE["answer"]))[pos]
        surge = self._per_court(self._incident(day, "complaint_surge"), 1.0)[pos]
        # the court's own complaint share (a multiplier on the category mix, as the surge is)
        surge = surge * (self.variety.rate("complaint", BASE["complaint"]) / BASE["complaint"])[pos]
        answered = rng.random(n) < answer_p
        wait = np.where(answered, rng.exponential(14, n), rng.exponential(45, n)).astype(int)
        mix = np.tile(CALL_MIX, (n, 1))
        mix[:, 2] *= surge
        mix /= mix.sum(axis=1, keepdims=True)
        category = np.array(CALL_CATEGORIES)[(rng.random((n, 1)) > mix.cumsum(axis=1)).sum(axis=1).clip(0, 6)]
        start_s = rng.integers(8 * 3600, 18 * 3600, n)
        base = np.full(n, np.datetime64(day))
        ticket = answered & (rng.random(n) < 0.08)
        ids = self._ids("T", court, day)
        life = pd.DataFrame({
            "call_id": ids, "court_id": court, "call_start": _ts(base, start_s),
            "wait_seconds": wait, "answered": answered,
            "talk_seconds": pd.array(np.where(answered, rng.integers(30, 900, n), 0), dtype="Int64"),
            "category": category,
            "caller_phone": [f"1{x:010d}" for x in rng.integers(3_000_000_000, 9_999_999_999, n)],
        })
        life.loc[~answered, "talk_seconds"] = pd.NA
        life["ticket_id"] = np.where(ticket, np.char.add("W", ids.astype(str)), None)
        due_s = start_s + 2 * 86400
        life["ticket_due_at"] = np.where(ticket, _ts(base, due_s), np.datetime64("NaT"))
        call_v = life.assign(updated_at=_ts(base, start_s + 600))
        self._send("hotline", call_v, base)
        # return visit (satisfaction) and work-order closure: a second version
        visited = answered & (rng.random(n) < 0.6)
        later = visited | ticket
        if later.any():
            close_s = due_s + np.where(rng.random(n) < 0.93, -rng.integers(3600, 86400, n), rng.integers(3600, 3 * 86400, n))
            done = life.copy()
            done["ticket_closed_at"] = np.where(ticket, _ts(base, close_s), np.datetime64("NaT"))
            sat = rng.choice([5, 4, 3, 2, 1], n, p=[0.75, 0.17, 0.04, 0.02, 0.02])
            done["satisfaction"] = pd.array(np.where(visited, sat, 0), dtype="Int64")
            done.loc[~visited, "satisfaction"] = pd.NA
            upd_s = np.where(ticket, close_s, start_s + 86400) + 60
            done["updated_at"] = _ts(base, upd_s)
            when = (base + (upd_s // 86400).astype("timedelta64[D]"))
            self._send("hotline", done[later], when[later])

    # -- mediation --------------------------------------------------------------------------
    def _mediations(self, day: date) -> None:
        counts = self._counts(day, "mediation", self.p["mediations_per_year"])
        # Mediation is run by basic courts and their tribunals.
        counts = np.where(self.level == "BASIC", counts, 0)
        n = counts.sum()
        if n == 0:
            return
        rng = self.rng
        court = np.repeat(self.ids, counts)
        base = np.full(n, np.datetime64(day))
        applied_s = rng.integers(8 * 3600, 20 * 3600, n)
        duration_s = (np.maximum(0.2, rng.lognormal(np.log(10), 0.7, n)) * 86400).astype(int)
        close_s = applied_s + duration_s
        close_day = base + (close_s // 86400).astype("timedelta64[D]")
        # a success-rate incident shows in the mediations that close while it lasts
        court_pos = pd.Index(self.ids).get_indexer(court)
        success_p = self.variety.rate("mediation_success", BASE["mediation_success"])[court_pos]
        for i in self.incidents:
            if i["kind"] == "mediation_success_drop":
                hit = (court == i["court_id"]) & (close_day >= np.datetime64(i["start"])) & \
                      (close_day <= np.datetime64(i["end"]))
                success_p[hit] = i["effect"]
        u = rng.random(n)
        outcome = np.where(u < success_p, "success", np.where(u < success_p + (1 - success_p) * 0.8, "failure", "withdrawn"))
        confirmation = np.where(outcome == "success", rng.choice(["none", "applied", "confirmed"], n, p=[0.6, 0.05, 0.35]), "none")
        life = pd.DataFrame({
            "mediation_id": self._ids("M", court, day), "court_id": court,
            "stage": rng.choice(["pre_litigation", "in_litigation"], n, p=[0.8, 0.2]),
            "dispute_type": rng.choice(DISPUTES, n), "mediator_type": rng.choice(MEDIATORS, n, p=[0.25, 0.4, 0.15, 0.1, 0.1]),
            "channel": rng.choice(["online", "offline"], n, p=[0.7, 0.3]),
            "applied_at": _ts(base, applied_s), "accepted_at": _ts(base, applied_s + 3600),
            "judicial_confirmation": "none",
            "party_id_number": [f"{x:017d}X" for x in rng.integers(10**16, 10**17 - 1, n)],
        })
        self._send("mediation", life.assign(updated_at=_ts(base, applied_s + 3600)), base)
        closed = life.assign(closed_at=_ts(base, close_s), outcome=outcome,
                             judicial_confirmation=confirmation,
                             litigation_case_id=None,
                             updated_at=_ts(base, close_s + 60))
        self._send("mediation", closed, close_day)

    # -- the clock --------------------------------------------------------------------------
    def _opening_stock(self, rows_per_part: int = 400_000):
        """The opening stock in parts of whole courts: a national one is ~6.5 M cases, and
        serialised in one piece it took more memory than the machine has."""
        counts = pd.concat([f["court_id"] for f in self.stock]).value_counts().sort_index()
        part = (counts.cumsum() // rows_per_part).to_numpy()
        for i in np.unique(part):
            courts = counts.index[part == i]
            yield _formatted(pd.concat([f[f["court_id"].isin(courts)] for f in self.stock], ignore_index=True))
        self.stock = []

    def run(self):
        """Yield (day, {source: versions sent that day}) for each day from `start`; before the
        first day's, (start, {"opening_stock": cases}) for each part of the opening stock."""
        self.pending_appeals = defaultdict(list)
        day = self.first
        while day <= self.end:
            self._appeal_filings(day)
            if day < self.warm_from:
                self._cases(day, open_on_start_only=True)
                day += timedelta(days=1)
                continue
            self._cases(day)
            self._calls(day)
            self._mediations(day)
            if day == self.start and self.stock:
                for part in self._opening_stock():
                    yield day, {"opening_stock": part}
            if day >= self.start:
                sent = {s: _formatted(pd.concat(self.outbox.pop((day, s)), ignore_index=True))
                        for s in ("cases", "hotline", "mediation") if (day, s) in self.outbox}
                yield day, sent
            else:
                for s in ("cases", "hotline", "mediation"):
                    self.outbox.pop((day, s), None)
            day += timedelta(days=1)
