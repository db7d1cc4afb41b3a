"""Hand-made landing zones for tests, written exactly as exchange.md lays them out."""
from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

REGISTRY = [
    # court_id, name, level, parent_id, province_code, province_name, mobile_pilot
    ("SPC", "最高人民法院", "SPC", "", "", "", 0),
    ("H11", "北京市高级人民法院", "HIGH", "SPC", "11", "北京市", 0),
    ("I1101", "北京市第一中级人民法院", "INTERMEDIATE", "H11", "11", "北京市", 0),
    ("B110001", "北京市东城区人民法院", "BASIC", "I1101", "11", "北京市", 1),
    ("B110002", "北京市西城区人民法院", "BASIC", "I1101", "11", "北京市", 0),
    ("H31", "上海市高级人民法院", "HIGH", "SPC", "31", "上海市", 0),
    ("I3101", "上海市第一中级人民法院", "INTERMEDIATE", "H31", "31", "上海市", 0),
    ("B310001", "上海市浦东新区人民法院", "BASIC", "I3101", "31", "上海市", 1),
]


class Landing:
    def __init__(self, root: Path, registry=REGISTRY):
        self.root = Path(root)
        ref = self.root / "reference"
        ref.mkdir(parents=True, exist_ok=True)
        lines = ["court_id,name,level,parent_id,province_code,province_name,mobile_pilot"]
        lines += [",".join(str(x) for x in row) for row in registry]
        (ref / "courts.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")

    @classmethod
    def existing(cls, root: Path) -> "Landing":
        """A landing zone already written (its registry as it is)."""
        landing = cls.__new__(cls)
        landing.root = Path(root)
        return landing

    def batch(self, source: str, court: str, day: str, records: list, batch_id: str | None = None,
              gz: bool = False, manifest: dict | None = None, raw: bytes | None = None,
              with_manifest: bool = True) -> Path:
        """Write one batch; `records` are dicts (or raw strings); `manifest` overrides fields."""
        batch_id = batch_id or f"{source[0].upper()}{day.replace('-', '')}"
        folder = self.root / source / court / day
        folder.mkdir(parents=True, exist_ok=True)
        if raw is None:
            lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
            raw = ("\n".join(lines) + "\n").encode("utf-8") if lines else b""
        data = gzip.compress(raw, mtime=0) if gz else raw
        path = folder / (batch_id + (".jsonl.gz" if gz else ".jsonl"))
        path.write_bytes(data)
        m = {"batch_id": batch_id, "source": source, "court_id": court, "business_date": day,
             "record_count": len(records), "sha256": hashlib.sha256(data).hexdigest()}
        m.update(manifest or {})
        if with_manifest:
            self.manifest(source, court, day, batch_id, m)
        return path

    def manifest(self, source, court, day, batch_id, m: dict) -> None:
        (self.root / source / court / day / f"{batch_id}.manifest.json").write_text(json.dumps(m))


def case(case_id: str, court: str = "B110001", **kw) -> dict:
    """A valid civil first-instance case; keyword arguments override fields."""
    rec = {"case_id": case_id, "case_number": f"(2026)京0101民初{case_id}号", "court_id": court,
           "case_type": "civil", "procedure": "first_instance", "filing_channel": "counter",
           "filed_date": "2026-03-02", "statutory_limit_days": 180, "efile_synced": True,
           "updated_at": "2026-03-02T09:00:00+08:00"}
    rec.update(kw)
    return {k: v for k, v in rec.items() if v is not None}


def call(call_id: str, court: str = "B110001", **kw) -> dict:
    rec = {"call_id": call_id, "court_id": court, "call_start": "2026-03-02T10:00:00+08:00",
           "wait_seconds": 10, "answered": True, "talk_seconds": 120, "category": "consultation",
           "updated_at": "2026-03-02T10:05:00+08:00"}
    rec.update(kw)
    return {k: v for k, v in rec.items() if v is not None}


def mediation(mediation_id: str, court: str = "B110001", **kw) -> dict:
    rec = {"mediation_id": mediation_id, "court_id": court, "stage": "pre_litigation", "dispute_type": "loan",
           "mediator_type": "court_mediator", "channel": "online", "applied_at": "2026-03-02T10:00:00+08:00",
           "judicial_confirmation": "none", "updated_at": "2026-03-02T10:00:00+08:00"}
    rec.update(kw)
    return {k: v for k, v in rec.items() if v is not None}
