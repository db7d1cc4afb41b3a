"""Every record rule of the contract, driven by tests/data/record_rules.yaml."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests import handmade as L

pytestmark = pytest.mark.unit

CASES = yaml.safe_load((Path(__file__).parent / "data" / "record_rules.yaml").read_text())
BASE = {"cases": L.case, "hotline": L.call, "mediation": L.mediation}


def _record(c: dict) -> str:
    rec = BASE[c["source"]]("X1")
    for k in c.get("unset", []):
        rec.pop(k)
    rec.update(c.get("set", {}))
    return json.dumps(rec, ensure_ascii=False)


@pytest.fixture(scope="module")
def checked(spark):
    """All the data-driven records checked at once: name -> rules broken."""
    from jobs.landing import court_registry
    from jobs.silver import record_rules
    from schemas import contract

    courts = spark.createDataFrame([(r[0],) for r in L.REGISTRY], "court_id string")
    out = {}
    for source in ("cases", "hotline", "mediation"):
        rows = [(c["name"], _record(c), c.get("batch_court", "B110001")) for c in CASES if c["source"] == source]
        lines = spark.createDataFrame(rows, "name string, record string, batch_court_id string")
        for r in record_rules.check_records(lines, contract(source), courts).select("name", "rules").collect():
            out[r["name"]] = list(r["rules"])
    assert court_registry  # the registry module is what feeds `courts` in the pipeline
    return out


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_rule(checked, case):
    assert checked[case["name"]] == case["expect"]


def test_typed_values(spark):
    """A valid record comes out in the contract's types, with timestamps as instants."""
    from jobs.silver import record_rules
    from schemas import contract

    courts = spark.createDataFrame([("B110001",)], "court_id string")
    rec = L.call("C9", call_start="2026-03-02T01:30:00Z", wait_seconds=7, answered=True)
    lines = spark.createDataFrame([(json.dumps(rec), "B110001")], "record string, batch_court_id string")
    row = record_rules.check_records(lines, contract("hotline"), courts).selectExpr(
        "wait_seconds", "answered", "date_format(call_start, 'yyyy-MM-dd HH:mm') AS local_start").collect()[0]
    assert row["wait_seconds"] == 7 and row["answered"] is True
    # 01:30 UTC is 09:30 in China Standard Time, the session's zone
    assert row["local_start"] == "2026-03-02 09:30"
