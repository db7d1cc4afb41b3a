"""Batch-level rules of the exchange contract: every rejection reason, duplicates,
uploads in progress, and that every other batch still lands."""
from __future__ import annotations

import json
import shutil

import pytest

from tests import handmade as L
from tests.conftest import TEST_KEY, run_pipeline, table

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def scenario(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("ingest")
    land = L.Landing(root / "landing")
    wh = str(root / "warehouse")
    d1, d2 = "2026-03-02", "2026-03-03"
    land.batch("cases", "B110001", d1, [L.case("A1", party_names=["张三", " 李四"]), L.case("A2")])
    land.batch("hotline", "B110002", d1, [L.call("T1", court="B110002", caller_phone="13800138000")], gz=True)
    land.batch("cases", "B110002", d1, [L.case("X1", court="B110002")], manifest={"record_count": 5})
    land.batch("mediation", "B110001", d1, [L.mediation("X2")], manifest={"sha256": "0" * 64})
    truncated = land.batch("cases", "B310001", d1, [L.case("X3", court="B310001"), L.case("X4", court="B310001")])
    truncated.write_bytes(truncated.read_bytes()[:40])
    cut_gz = land.batch("hotline", "B310001", d1, [L.call("X9", court="B310001")], gz=True)
    cut_gz.write_bytes(cut_gz.read_bytes()[:30])
    # a broken .gz whose manifest digest matches its (broken) bytes
    broken = land.batch("cases", "H11", d1, [L.case("X10", court="H11")], gz=True)
    broken.write_bytes(broken.read_bytes()[:30])
    land.manifest("cases", "H11", d1, "C20260302", {
        "batch_id": "C20260302", "source": "cases", "court_id": "H11", "business_date": d1, "record_count": 1,
        "sha256": __import__("hashlib").sha256(broken.read_bytes()).hexdigest()})
    land.batch("hotline", "B110001", d2, [L.call("X5")], manifest={"court_id": "B110002"})
    land.batch("cases", "B110001", d2, [L.case("X6")], manifest={"business_date": "2026-03-04"})
    land.batch("mediation", "B110002", d1, [json.dumps(L.mediation("X7", court="B110002")), "not json"])
    land.batch("cases", "I1101", d1, ["[1, 2]"])
    land.batch("hotline", "I1101", d1, [None], raw=b'{"call_id": "\xff"}\n')
    land.batch("mediation", "B310001", d1, [L.mediation("X8", court="B310001")])
    (land.root / "mediation" / "B310001" / d1 / "M20260302.manifest.json").write_text("{")
    land.batch("cases", "B110002", d2, [L.case("P1", court="B110002")], with_manifest=False)
    # the same batch id again: different bytes (a conflict), identical bytes (a duplicate)
    land.batch("cases", "B110001", "2026-03-04", [L.case("A1", case_number="changed")], batch_id="C20260302")
    land.batch("hotline", "B110002", d2, [L.call("T1", court="B110002", caller_phone="13800138000")],
               batch_id="H20260302", gz=True)
    # a day without records: an empty batch (zero bytes) is a complete delivery
    land.batch("hotline", "B310001", d2, [])
    # a good batch with one invalid record among valid ones
    land.batch("mediation", "B110002", d2, [L.mediation("G1", court="B110002"),
                                            L.mediation("G2", court="B110002", stage="appeal")])
    first = run_pipeline(spark, land, wh)
    return {"land": land, "wh": wh, "first": first}


@pytest.fixture
def later(spark, scenario, tmp_path):
    """The scenario's landing zone and warehouse copied after its first run, for a test
    that delivers more and runs again: what it changes no other test sees."""
    from pyspark.sql import functions as F

    from jobs.landing.ingest import LEDGER

    shutil.copytree(scenario["land"].root, tmp_path / "landing")  # modification times kept
    shutil.copytree(scenario["wh"], tmp_path / "warehouse")
    land, wh = L.Landing.existing(tmp_path / "landing"), str(tmp_path / "warehouse")
    # the ledger knows a delivery by its manifest's path: the copy's, from now on
    moved = {c: F.replace(F.col(c), F.lit(str(scenario["land"].root)), F.lit(str(land.root)))
             for c in ("path", "manifest_path")}
    LEDGER.delta_table(spark, wh).update(set=moved)
    return {"land": land, "wh": wh, "run": lambda: run_pipeline(spark, land, wh)}


def _ledger(spark, wh):
    return {(r["source"], r["court_id"], str(r["business_date"]), r["batch_id"]): (r["status"], r["reason"])
            for r in table(spark, wh, "ops/batches").collect()}


EXPECTED = {
    ("cases", "B110001", "2026-03-02", "C20260302"): ("accepted", None),
    ("hotline", "B110002", "2026-03-02", "H20260302"): ("accepted", None),
    ("cases", "B110002", "2026-03-02", "C20260302"): ("rejected", "count_mismatch"),
    ("mediation", "B110001", "2026-03-02", "M20260302"): ("rejected", "checksum_mismatch"),
    ("cases", "B310001", "2026-03-02", "C20260302"): ("rejected", "checksum_mismatch"),
    ("hotline", "B310001", "2026-03-02", "H20260302"): ("rejected", "checksum_mismatch"),
    ("cases", "H11", "2026-03-02", "C20260302"): ("rejected", "unparseable"),
    ("hotline", "B110001", "2026-03-03", "H20260303"): ("rejected", "path_mismatch"),
    ("cases", "B110001", "2026-03-03", "C20260303"): ("rejected", "path_mismatch"),
    ("mediation", "B110002", "2026-03-02", "M20260302"): ("rejected", "unparseable"),
    ("cases", "I1101", "2026-03-02", "C20260302"): ("rejected", "unparseable"),
    ("hotline", "I1101", "2026-03-02", "H20260302"): ("rejected", "unparseable"),
    ("mediation", "B310001", "2026-03-02", "M20260302"): ("rejected", "unparseable"),
    ("cases", "B110001", "2026-03-04", "C20260302"): ("rejected", "conflicting_resend"),
    ("hotline", "B110002", "2026-03-03", "H20260302"): ("duplicate", None),
    ("mediation", "B110002", "2026-03-03", "M20260303"): ("accepted", None),
    ("hotline", "B310001", "2026-03-03", "H20260303"): ("accepted", None),
}


def test_every_batch_gets_its_verdict(spark, scenario):
    assert _ledger(spark, scenario["wh"]) == EXPECTED


def test_rejected_batches_are_kept_for_review(spark, scenario):
    rejected = table(spark, scenario["wh"], "ops/rejected_batches").collect()
    assert len(rejected) == sum(s == "rejected" for s, _ in EXPECTED.values())
    conflict = next(r for r in rejected if r["reason"] == "conflicting_resend")
    assert "C20260302" in conflict["manifest"] and conflict["detail"]


def test_nothing_of_a_rejected_batch_goes_further(spark, scenario):
    wh = scenario["wh"]
    assert sorted(r["case_id"] for r in table(spark, wh, "silver/cases").collect()) == ["A1", "A2"]
    assert [r["call_id"] for r in table(spark, wh, "silver/hotline").collect()] == ["T1"]
    assert [r["mediation_id"] for r in table(spark, wh, "silver/mediation").collect()] == ["G1"]
    # the conflicting re-send did not replace the case
    a1 = table(spark, wh, "silver/cases").where("case_id = 'A1'").collect()[0]
    assert a1["case_number"] != "changed"
    bronze = {s: table(spark, wh, f"bronze/{s}").count() for s in ("cases", "hotline", "mediation")}
    assert bronze == {"cases": 2, "hotline": 1, "mediation": 2}


def test_bronze_keeps_records_as_received_with_lineage(spark, scenario):
    rows = table(spark, scenario["wh"], "bronze/cases").orderBy("line_no").collect()
    assert json.loads(rows[0]["record"])["party_names"] == ["张三", " 李四"]
    assert rows[0]["batch_id"] == "C20260302" and rows[0]["court_id"] == "B110001"
    assert str(rows[0]["business_date"]) == "2026-03-02" and rows[0]["source_file"].endswith(".jsonl")
    assert [r["line_no"] for r in rows] == [1, 2]


def test_invalid_record_is_quarantined_and_its_batch_proceeds(spark, scenario):
    q = table(spark, scenario["wh"], "ops/quarantine").collect()
    assert len(q) == 1
    assert (q[0]["source"], q[0]["court_id"], q[0]["batch_id"], q[0]["line_no"], q[0]["rule"]) == \
        ("mediation", "B110002", "M20260303", 2, "enum:stage")
    assert json.loads(q[0]["record"])["mediation_id"] == "G2"


def test_personal_data_only_as_keyed_hash(spark, scenario):
    from jobs.silver.personal_data import hmac_hex

    wh = scenario["wh"]
    for source, field in (("cases", "party_names"), ("hotline", "caller_phone"), ("mediation", "party_id_number")):
        cols = table(spark, wh, f"silver/{source}").columns
        assert field not in cols and f"{field}_hash" in cols
    a1 = table(spark, wh, "silver/cases").where("case_id = 'A1'").collect()[0]
    assert a1["party_names_hash"] == [hmac_hex(TEST_KEY, "张三"), hmac_hex(TEST_KEY, "李四")]
    t1 = table(spark, wh, "silver/hotline").collect()[0]
    assert t1["caller_phone_hash"] == hmac_hex(TEST_KEY, "13800138000") != "13800138000"
    for t in ("silver/cases", "silver/hotline", "gold/court_metrics"):
        text = "\n".join(str(r) for r in table(spark, wh, t).collect())
        assert "张三" not in text and "13800138000" not in text


def test_upload_in_progress_is_left_for_later(spark, later):
    land, wh = later["land"], later["wh"]
    key = ("cases", "B110002", "2026-03-03", "C20260303")
    assert key not in _ledger(spark, wh)
    # the manifest arrives: the next run takes the batch
    land.batch("cases", "B110002", "2026-03-03", [L.case("P1", court="B110002")])
    later["run"]()
    assert _ledger(spark, wh)[key] == ("accepted", None)
    assert table(spark, wh, "silver/cases").where("case_id = 'P1'").count() == 1


def test_no_new_batches_changes_nothing(spark, later):
    from schemas.warehouse import table as declared

    wh = later["wh"]
    names = ["silver.cases", "silver.hotline", "silver.mediation", "ops.batches", "ops.quarantine",
             "bronze.cases", "gold.court_metrics", "gold.region_metrics", "work.daily_measures", "silver.courts"]
    before = {n: declared(n).version(spark, wh) for n in names}
    result = later["run"]()
    assert result.landed.deliveries == []
    assert {n: declared(n).version(spark, wh) for n in names} == before


def test_same_manifest_written_again_is_a_duplicate(spark, later):
    import os
    import time

    land, wh = later["land"], later["wh"]
    m = land.root / "cases" / "B110001" / "2026-03-02" / "C20260302.manifest.json"
    newer = time.time() + 5
    os.utime(m, (newer, newer))
    later["run"]()
    rows = [r for r in table(spark, wh, "ops/batches").collect()
            if r["manifest_path"].endswith("B110001/2026-03-02/C20260302.manifest.json")]
    assert sorted(r["status"] for r in rows) == ["accepted", "duplicate"]
    assert sorted(r["case_id"] for r in table(spark, wh, "silver/cases").collect()) == ["A1", "A2"]


def test_listing_dates_run_from_the_lookback_to_tomorrow(spark):
    from datetime import date

    from jobs.landing.ingest import LEDGER, listing_dates

    def ledger(*rows):
        return spark.createDataFrame([(None, None, date.fromisoformat(d), None, None, None, None, status)
                                      + (None,) * 6 for d, status in rows], LEDGER.schema)

    assert listing_dates(ledger(), 3) is None  # nothing taken yet: look everywhere
    assert listing_dates(ledger(("2026-03-10", "accepted")), None) is None  # a rescan
    taken = ledger(("2026-03-10", "accepted"), ("2026-03-08", "accepted"), ("2099-01-01", "rejected"))
    assert listing_dates(taken, 3, today=date(2026, 3, 11)) == [
        "2026-03-07", "2026-03-08", "2026-03-09", "2026-03-10", "2026-03-11", "2026-03-12"]
    # a run after a pause looks from before the newest batch taken up to today
    assert listing_dates(taken, 1, today=date(2026, 3, 13))[::4] == ["2026-03-09", "2026-03-13"]


def test_a_straggler_older_than_the_lookback_waits_for_a_rescan(spark, tmp_path):
    from jobs.landing.ingest import ingest, update_registry
    from jobs.silver.intake import take_landed

    land, wh = L.Landing(tmp_path / "landing"), str(tmp_path / "warehouse")
    land.batch("cases", "B110001", "2026-03-10", [L.case("A1")])
    assert ingest(spark, str(land.root), wh, "r1", lookback_days=7).count("accepted") == 1
    land.batch("cases", "B110001", "2026-03-04", [L.case("A2")])  # 6 days before the newest: looked at
    land.batch("cases", "B110002", "2026-01-05", [L.case("A3", court="B110002")])  # long before: not
    daily = ingest(spark, str(land.root), wh, "r2", lookback_days=7)
    assert [(d.court_id, d.status) for d in daily.deliveries] == [("B110001", "accepted")]
    rescan = ingest(spark, str(land.root), wh, "r3", lookback_days=None)
    assert [(d.court_id, d.status) for d in rescan.deliveries] == [("B110002", "accepted")]
    # silver's intake takes what the three landed, once
    courts = update_registry(spark, str(land.root), wh)
    assert [(s.source, s.records) for s in take_landed(spark, wh, TEST_KEY, "r4", courts).sources] == [("cases", 3)]
    assert {r["case_id"] for r in table(spark, wh, "silver/cases").collect()} == {"A1", "A2", "A3"}


def test_the_registry_is_rewritten_only_when_it_changes(spark, tmp_path):
    from jobs.landing.ingest import COURTS, update_registry

    land, wh = L.Landing(tmp_path / "landing"), str(tmp_path / "warehouse")
    update_registry(spark, str(land.root), wh)
    first = COURTS.version(spark, wh)
    update_registry(spark, str(land.root), wh)
    assert COURTS.version(spark, wh) == first
    renamed = [(c, f"{name}（新）" if c == "B110002" else name, *rest) for c, name, *rest in L.REGISTRY]
    L.Landing(tmp_path / "landing", registry=renamed)  # the centre sends a new courts.csv
    courts = update_registry(spark, str(land.root), wh)
    assert COURTS.version(spark, wh) == first + 1
    assert {r["court_id"]: r["name"] for r in courts.collect()}["B110002"] == "北京市西城区人民法院（新）"


def test_digests_on_the_driver_agree_with_spark(spark, tmp_path):
    """Local files are hashed on the driver, object-store files by Spark: one verdict either way."""
    import gzip

    from jobs.landing import deliveries

    files = {"plain.jsonl": b'{"a": 1}\n', "empty.jsonl": b"", "whole.jsonl.gz": gzip.compress(b'{"a": 1}\n'),
             "cut.jsonl.gz": gzip.compress(b'{"a": 1}\n' * 50)[:25], "not-gzip.jsonl.gz": b'{"a": 1}\n'}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    paths = [f"file:{tmp_path / name}" for name in files]
    on_driver, by_spark = deliveries._digests(spark, paths), deliveries._spark_digests(spark, paths)
    assert on_driver == by_spark
    assert [on_driver[p][1] for p in paths] == [True, True, True, False, False]
    assert on_driver[paths[1]][0] == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
