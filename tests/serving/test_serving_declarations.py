"""The serving store's declarations: one mapping names every coded value in Chinese, the reference
intervals say what they judge, the breakdowns table holds every measure it splits."""
from __future__ import annotations

import pytest

from schemas import SOURCES, contract
from schemas.display import labels
from schemas.metric_catalog import ReferenceInterval, catalog, reference_intervals

pytestmark = pytest.mark.unit


def test_every_enum_of_the_contract_has_a_chinese_name():
    names = labels()
    for source in (*SOURCES, "courts"):
        for f in contract(source).fields:
            if f.enum:
                kind = "court_level" if f.name == "level" else f.name
                missing = set(f.enum) - set(names[kind])
                assert not missing, f"schemas/labels.yaml: {kind} lacks {sorted(missing)}"


def test_every_code_of_the_warehouse_has_a_chinese_name():
    names = labels()
    assert set(names["alert_kind"]) == {"feed", "threshold", "anomaly"}  # alerts.md
    assert set(names["alert_status"]) == {"firing", "resolved"} and set(names["severity"]) == {"warning", "critical"}
    assert set(names["batch_status"]) == {"accepted", "rejected", "duplicate"}
    assert set(names["reason"]) == {"count_mismatch", "checksum_mismatch", "path_mismatch", "unparseable",
                                    "conflicting_resend"}  # exchange.md's rejection codes
    assert set(names["source"]) == set(SOURCES)
    assert all(b.by in names for b in catalog().breakdowns), "every breakdown's values are named"
    assert {b.by for b in catalog().breakdowns} == set(names["breakdown"]), "and every breakdown itself"


def test_the_map_knows_every_province():
    from testbed.generate.courts import PROVINCES

    iso = labels()["province_iso"]
    assert set(PROVINCES) - set(iso) == {"66"}  # the Corps has no region of its own on the map
    assert len(set(iso.values())) == len(iso)


def test_reference_intervals_judge_catalog_ratios():
    intervals = reference_intervals()
    assert {i.metric_id for i in intervals} >= {"clearance_rate", "on_time_closure_rate", "hotline_answer_rate"}
    for i in intervals:
        assert isinstance(i, ReferenceInterval) and i.low <= i.high
        assert catalog().metric(i.metric_id).is_ratio


@pytest.mark.parametrize("text, error", [
    ("no_such_metric: [0, 1]\n", "no_such_metric: not a metric"),
    ("clearance_rate: [1.2, 0.8]\n", "clearance_rate: interval low 1.2 is above high 0.8"),
    ("clearance_rate: {interval: [0.8, 1.2], minimum: 3}\n", "clearance_rate: give interval"),
])
def test_a_bad_interval_fails_naming_file_and_metric(tmp_path, monkeypatch, text, error):
    from schemas import metric_catalog

    catalog()  # read from the repository before the folder is swapped
    (tmp_path / "reference_intervals.yaml").write_text(text)
    monkeypatch.setattr(metric_catalog, "SCHEMA_DIR", tmp_path)
    metric_catalog.reference_intervals.cache_clear()
    try:
        with pytest.raises(ValueError, match=error) as raised:
            metric_catalog.reference_intervals()
        assert str(tmp_path / "reference_intervals.yaml") in str(raised.value)
    finally:
        metric_catalog.reference_intervals.cache_clear()


def test_the_breakdowns_table_has_a_column_for_each_measure_it_splits():
    from schemas.warehouse import table

    columns = {c.name for c in table("serving.breakdowns").columns}
    split = {m.name for b in catalog().breakdowns for m in b.measures}
    assert split <= columns, f"serving.breakdowns lacks {sorted(split - columns)}"
