"""Writing the simulated courts' output as a landing zone (exchange.md), with
the incidents and the faults a real feed has, and their ground truth."""
from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from courtwatch import ROOT
from testbed.generate.courts import make_registry
from testbed.generate.simulate import Simulator

SOURCES = ("cases", "hotline", "mediation")
INCIDENT_KINDS = {
    # kind: (metric or source it shows in, effect on the simulation)
    "filings_collapse": ("case_filed", 0.15),
    "answer_rate_drop": ("hotline_answer_rate", 0.5),
    "complaint_surge": ("hotline_complaint_share", 6.0),
    "mediation_success_drop": ("mediation_success_rate", 0.2),
    "efile_failure": ("efile_sync_rate", 0.3),
    "feed_silence": (None, None),
}
BATCH_FAULTS = ["truncated", "checksum", "count", "unparseable", "path_mismatch", "no_manifest",
                "conflicting_resend", "duplicate_resend"]
# with a profile's variety: each incident's effect is drawn from a range instead (weaker ones included)
INCIDENT_RANGES = {"filings_collapse": (0.1, 0.35), "answer_rate_drop": (0.45, 0.7), "complaint_surge": (4.0, 8.0),
                   "mediation_success_drop": (0.2, 0.45), "efile_failure": (0.3, 0.65)}
RECORD_FAULTS = ["enum", "missing_required", "wrong_type", "other_court", "closed_before_filed"]
EXPECTED_REASON = {"truncated": "checksum_mismatch", "checksum": "checksum_mismatch", "count": "count_mismatch",
                   "unparseable": "unparseable", "path_mismatch": "path_mismatch",
                   "conflicting_resend": "conflicting_resend"}


def load_profile(name: str) -> dict:
    profiles = yaml.safe_load((ROOT / "conf" / "generate.yaml").read_text())
    if name not in profiles:
        raise SystemExit(f"unknown generator profile {name!r}; conf/generate.yaml has {sorted(profiles)}")
    return profiles[name]


def pick_incidents(courts: pd.DataFrame, start: date, days: int, count: int, rng, varied: bool = False) -> list[dict]:
    """Incidents on courts big enough for a change to be visible, spread over the period."""
    if count == 0:
        return []
    eligible = courts[courts["level"].isin(["BASIC", "INTERMEDIATE"])].sort_values("size", ascending=False)
    eligible = eligible.head(max(count, len(eligible) // 2))
    chosen = rng.choice(eligible["court_id"].to_numpy(), size=count, replace=count > len(eligible))
    kinds = list(INCIDENT_KINDS)
    mediating = eligible.loc[eligible["level"] == "BASIC", "court_id"].to_numpy()
    out = []
    for i, court in enumerate(chosen):
        kind = kinds[i % len(kinds)]
        if kind == "mediation_success_drop" and court not in mediating:
            # only basic courts mediate: a drop drawn elsewhere would be an incident no data can show
            court = rng.choice(mediating)
        length = int(rng.integers(3, 7)) if kind == "feed_silence" else int(rng.integers(7, 15))
        first = start + timedelta(days=int(rng.integers(min(21, days - 1), max(22, days - length))))
        metric, effect = INCIDENT_KINDS[kind]
        if varied and kind in INCIDENT_RANGES:
            effect = round(float(rng.uniform(*INCIDENT_RANGES[kind])), 3)
        out.append({"kind": kind, "court_id": str(court), "start": first.isoformat(),
                    "end": (first + timedelta(days=length - 1)).isoformat(), "metric_id": metric,
                    "source": _silent_source(courts, court, rng) if kind == "feed_silence" else None,
                    "effect": effect})
    return out


def _silent_source(courts: pd.DataFrame, court: str, rng) -> str:
    level = courts.loc[courts["court_id"] == court, "level"].iloc[0]
    return str(rng.choice(SOURCES if level == "BASIC" else SOURCES[:2]))  # only basic courts mediate


@dataclass
class Writer:
    root: Path
    rng: np.random.Generator
    gzip_courts: set
    fault_share: float
    courts: list
    active: dict  # source -> the courts that send it
    truth_faults: list = field(default_factory=list)
    held: dict = field(default_factory=dict)  # (source, court) -> lines held back by a silent feed
    made: set = field(default_factory=set)  # folders already created

    def _serialise(self, df: pd.DataFrame) -> list[str]:
        text = df.to_json(orient="records", lines=True, force_ascii=False, date_format="iso")
        return [line for line in text.split("\n") if line]

    def _lines_by_court(self, df: pd.DataFrame) -> dict[str, list[str]]:
        df = df.sort_values("court_id", kind="stable")
        lines = self._serialise(df)  # in one go, then split where the court changes
        courts = df["court_id"].to_numpy()
        bounds = np.flatnonzero(np.r_[True, courts[1:] != courts[:-1], True])
        return {courts[a]: lines[a:b] for a, b in zip(bounds[:-1], bounds[1:])}

    def _record_fault(self, source: str, line: str, court: str) -> tuple[str, str]:
        rec = json.loads(line)
        kind = str(self.rng.choice(RECORD_FAULTS))
        if kind == "enum":
            field_ = {"cases": "case_type", "hotline": "category", "mediation": "stage"}[source]
            rec[field_] = "unknown_value"
            rule = f"enum:{field_}"
        elif kind == "missing_required":
            field_ = {"cases": "filed_date", "hotline": "call_start", "mediation": "applied_at"}[source]
            rec.pop(field_, None)
            rule = f"required:{field_}"
        elif kind == "wrong_type":
            field_ = {"cases": "statutory_limit_days", "hotline": "wait_seconds", "mediation": "stage"}[source]
            rec[field_] = str(rec[field_]) if source != "mediation" else 7
            rule = f"type:{field_}"
        elif kind == "other_court":
            rec["court_id"] = next(c for c in self.courts if c != court)
            rule = "court_mismatch"
        else:
            if source != "cases":
                rec["updated_at"] = "yesterday"
                rule = "type:updated_at"
            else:
                rec["closed_date"] = (date.fromisoformat(rec["filed_date"]) - timedelta(days=3)).isoformat()
                rec["closing_method"] = "judgment"
                rule = "not_before:closed_date:filed_date"
        return json.dumps(rec, ensure_ascii=False), rule

    def _put(self, path: Path, data: bytes) -> None:
        if path.parent not in self.made:  # 10k batches a national day: one mkdir per folder, not per file
            path.parent.mkdir(parents=True, exist_ok=True)
            self.made.add(path.parent)
        path.write_bytes(data)

    def _batch(self, source: str, court: str, day: date, lines: list[str], fault: str | None,
               number: str = "01") -> None:
        batch_id = f"{source[0].upper()}{day:%Y%m%d}{number}"
        folder = self.root / source / court / day.isoformat()
        truth = {"source": source, "court_id": court, "business_date": day.isoformat(), "batch_id": batch_id}
        if fault == "record":
            i = int(self.rng.integers(len(lines)))
            lines[i], rule = self._record_fault(source, lines[i], court)
            self.truth_faults.append({**truth, "fault": "record", "line_no": i + 1, "rule": rule})
            fault = None
        body = ("\n".join(lines) + "\n").encode("utf-8") if lines else b""
        count = len(lines)
        if fault == "unparseable":
            body += b'{"this line": is not json\n'
            count += 1
        gz = court in self.gzip_courts
        data = gzip.compress(body, compresslevel=6, mtime=0) if gz else body
        digest = hashlib.sha256(data).hexdigest()
        name = f"{batch_id}.jsonl" + (".gz" if gz else "")
        manifest = {"batch_id": batch_id, "source": source, "court_id": court, "business_date": day.isoformat(),
                    "record_count": count, "sha256": digest}
        if fault == "truncated":
            data = data[: max(1, len(data) // 2)]
        elif fault == "checksum":
            manifest["sha256"] = hashlib.sha256(b"not the data").hexdigest()
        elif fault == "count":
            manifest["record_count"] = count + 2
        elif fault == "path_mismatch":
            manifest["court_id"] = next(c for c in self.courts if c != court)
        self._put(folder / name, data)
        if fault != "no_manifest":
            self._put(folder / f"{batch_id}.manifest.json", json.dumps(manifest).encode())
        if fault:
            self.truth_faults.append({**truth, "fault": fault, "expected_status":
                                      "rejected" if fault in EXPECTED_REASON else None,
                                      "expected_reason": EXPECTED_REASON.get(fault)})
        if fault in ("conflicting_resend", "duplicate_resend"):
            # The same batch id sent again under the next day's folder.
            again_day = day + timedelta(days=1)
            again = folder.parent / again_day.isoformat()
            if fault == "duplicate_resend":
                again_data = data
            else:  # the same records, other bytes: a trailing space on each line
                again_body = ("\n".join(line + " " for line in lines) + "\n").encode("utf-8")
                again_data = gzip.compress(again_body, compresslevel=6, mtime=0) if gz else again_body
            m2 = {**manifest, "business_date": again_day.isoformat(), "sha256": hashlib.sha256(again_data).hexdigest()}
            self._put(again / name, again_data)
            self._put(again / f"{batch_id}.manifest.json", json.dumps(m2).encode())
            self.truth_faults[-1]["resent_business_date"] = again_day.isoformat()
            self.truth_faults[-1]["expected_status"] = "rejected" if fault == "conflicting_resend" else "duplicate"

    def write_opening_stock(self, day: date, cases: pd.DataFrame) -> None:
        """Each court's open cases as its initial load: a batch numbered 00, taken before the
        day's own (batches are taken in order of business date, then batch id)."""
        for court, lines in self._lines_by_court(cases).items():
            self._batch("cases", court, day, lines, None, number="00")

    def write_day(self, day: date, sent: dict[str, pd.DataFrame], silent: set) -> None:
        """One batch per active court and source, an empty one on a day without records:
        a court's export runs every day, so a missing batch means a silent feed."""
        for source in SOURCES:
            by_court: dict[str, list[str]] = {c: [] for c in self.active[source]}
            if source in sent:
                by_court.update(self._lines_by_court(sent[source]))
            for key in list(self.held):
                if key[0] == source and (key[1], source) not in silent:
                    by_court.setdefault(key[1], [])[:0] = self.held.pop(key)
            for court in sorted(by_court):
                if (court, source) in silent:
                    self.held.setdefault((source, court), []).extend(by_court[court])
                    continue
                fault = None
                if by_court[court] and self.fault_share and self.rng.random() < self.fault_share:
                    fault = str(self.rng.choice(BATCH_FAULTS + ["record"] * 4))
                self._batch(source, court, day, list(by_court[court]), fault)


def simulated_ahead(sim: Simulator, depth: int = 2):
    """The simulation's days, simulated in a child process a day or two ahead of the writing.

    Simulating and writing a national day cost about the same (~3 s and ~5 s on this
    machine's cores): side by side on two cores, 90 national days take the writing's time
    instead of the sum. The output is the same: the simulation keeps its own random numbers.
    """
    import multiprocessing

    context = multiprocessing.get_context("fork")
    queue = context.Queue(maxsize=depth)

    def simulate():
        try:
            for item in sim.run():
                queue.put(("day", item))
            queue.put(("done", None))
        except BaseException as e:  # the parent raises it: a broken simulation is never a short one
            queue.put(("failed", repr(e)))

    child = context.Process(target=simulate, name="courtwatch-simulate", daemon=True)
    child.start()
    try:
        while True:
            kind, item = queue.get()
            if kind == "done":
                return
            if kind == "failed":
                raise RuntimeError(f"the simulation failed: {item}")
            yield item
    finally:
        child.kill() if child.is_alive() else None
        child.join()


def _days(simulated, writer: Writer, write_from: date | None):
    """The simulation's days; the parts of the opening stock, which come before the first day,
    are written on the way (so that progress counts days)."""
    for day, sent in simulated:
        if "opening_stock" not in sent:
            yield day, sent
        elif write_from is None or day >= write_from:
            writer.write_opening_stock(day, sent["opening_stock"])


def generator_version(profile: dict) -> str:
    """A digest of the profile's settings and the generator's code: data generated before is
    reused (benchmarks/) only when it is what the generator would write now."""
    digest = hashlib.sha256(json.dumps(profile, sort_keys=True).encode())
    for path in sorted((ROOT / "testbed" / "generate").glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def generate(profile_name: str, landing: str, start: date, days: int, seed: int = 7, incidents: int = 0,
             fault_share: float = 0.0, write_from: date | None = None, track=None) -> dict:
    """Write the registry and `days` days of batches from `start`; returns the ground truth.
    `track(days, description, total)`, if given, shows the days' progress (courtwatch/progress.py)."""
    profile = load_profile(profile_name)
    rng = np.random.default_rng(seed)
    courts = make_registry(profile, rng)
    root = Path(landing)
    (root / "reference").mkdir(parents=True, exist_ok=True)
    courts.drop(columns=["size", "abbr", "internet"]).to_csv(root / "reference" / "courts.csv", index=False)
    chosen = pick_incidents(courts, start, days, incidents, rng, varied="variety" in profile)
    ids = courts["court_id"].tolist()
    gz = {c for c in ids if rng.random() < profile["gzip_share"]}
    active = {"cases": ids, "hotline": ids,
              "mediation": courts.loc[courts["level"] == "BASIC", "court_id"].tolist()}  # as in simulate.py
    writer = Writer(root, np.random.default_rng(seed + 1), gz, fault_share, ids, active)
    sim = Simulator(profile, courts, start, days, seed, chosen)
    simulated = _days(simulated_ahead(sim) if days > 1 else sim.run(), writer, write_from)
    simulated = simulated if track is None else track(simulated, "days simulated", total=days)
    for day, sent in simulated:
        silent = {(i["court_id"], i["source"]) for i in chosen if i["kind"] == "feed_silence"
                  and date.fromisoformat(i["start"]) <= day <= date.fromisoformat(i["end"])}
        if write_from is None or day >= write_from:
            writer.write_day(day, sent, silent)
    truth = {"profile": profile_name, "seed": seed, "start": start.isoformat(), "days": days,
             "generator": generator_version(profile), "incidents": chosen, "faults": writer.truth_faults}
    (root / "_truth").mkdir(exist_ok=True)
    (root / "_truth" / "truth.json").write_text(json.dumps(truth, indent=1, ensure_ascii=False))
    return truth
