"""Alerts inside `courtwatch run`: a silent feed is raised to its high court,
notified once, and a rerun neither duplicates nor re-sends it."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from datetime import date, timedelta

import pytest

from tests.conftest import run_pipeline, table

pytestmark = pytest.mark.integration
START = date(2026, 9, 1)


@pytest.fixture(scope="module")
def stack(spark, profile, tmp_path_factory):
    from testbed.generate.landing_zone import generate

    root = tmp_path_factory.mktemp("alerts")
    land = root / "landing"
    generate("tiny", str(land), START, 16, seed=5)
    for d in range(11, 14):  # B110002's hotline is silent for 3 business dates
        shutil.rmtree(land / "hotline" / "B110002" / (START + timedelta(days=d)).isoformat())
    rules = profile.alert_rules()
    cfg = rules.model_copy(update={"notify": rules.notify.model_copy(update={"outbox_dir": str(root / "outbox")})})
    wh = str(root / "warehouse")
    first = run_pipeline(spark, land, wh, alert_rules=cfg)
    return {"root": root, "wh": wh, "cfg": cfg, "first": first,
            "run": lambda: run_pipeline(spark, land, wh, alert_rules=cfg)}


def test_silent_feed_alert_routed_to_its_high_court(spark, stack):
    rows = table(spark, stack["wh"], "gold/alerts").where("kind = 'feed'").collect()
    [a] = [r for r in rows if r["court_id"] == "B110002"]
    assert (a["source"], a["high_court_id"], a["rule_id"], a["metric_id"]) == ("hotline", "H11", "feed_silence", None)
    assert a["window_start"] == START + timedelta(days=12)  # the second silent business date
    assert a["window_end"] == START + timedelta(days=13)
    assert a["status"] == "resolved"  # batches arrived again on the 14th and 15th
    assert "12368热线" in a["message"]


def test_alerts_table_has_the_contract_columns(spark, stack):
    cols = table(spark, stack["wh"], "gold/alerts").columns
    # alerts.md's columns in its order; columns added since come after them
    assert cols[:16] == ["alert_id", "kind", "rule_id", "court_id", "high_court_id", "metric_id", "source",
                         "window_start", "window_end", "status", "severity", "observed", "expected", "message",
                         "first_detected_at", "updated_at"]
    assert cols[16:] == ["inhibited_by"]


def test_every_alert_has_its_follow_up_new_until_a_high_court_takes_it_up(spark, stack):
    alerts = {r["alert_id"]: r for r in table(spark, stack["wh"], "gold/alerts").collect()}
    follow = table(spark, stack["wh"], "gold/alert_followup").collect()
    assert sorted(f["alert_id"] for f in follow) == sorted(alerts) and {f["state"] for f in follow} == {"new"}
    for f in follow:
        a = alerts[f["alert_id"]]
        assert (f["high_court_id"], f["alert_status"], f["arrived_on"]) == \
            (a["high_court_id"], a["status"], a["first_detected_at"].date())
    assert table(spark, stack["wh"], "ops/alert_actions").count() == 0
    months = table(spark, stack["wh"], "gold/guidance_metrics").collect()
    assert sum(m["alerts_received"] for m in months) == len(alerts)


def test_digest_in_the_outbox_once(spark, stack):
    digest = json.loads((stack["root"] / "outbox" / "2026-09-16" / "H11.json").read_text())
    assert any(a["court_id"] == "B110002" for a in digest["resolved"])
    sent = table(spark, stack["wh"], "ops/notifications").count()
    assert sent >= 1
    again = stack["run"]()
    assert again.notified == {} and again.alerts_changed == []
    assert table(spark, stack["wh"], "ops/notifications").count() == sent


def _version(spark, warehouse, path):
    return spark.sql(f"DESCRIBE HISTORY delta.`{warehouse}/{path}` LIMIT 1").first()["version"]


def test_rerun_yields_the_same_alerts_and_with_nothing_new_does_not_evaluate_again(spark, stack):
    before = sorted(r["alert_id"] for r in table(spark, stack["wh"], "gold/alerts").collect())
    kept = {p: _version(spark, stack["wh"], p) for p in ("gold/alerts", "gold/alert_causes", "gold/guidance_metrics")}
    store = Path(stack["first"].serving_store)
    published = store.stat().st_ino, store.stat().st_mtime_ns
    again = stack["run"]()
    assert sorted(r["alert_id"] for r in table(spark, stack["wh"], "gold/alerts").collect()) == before
    # the same gold, batches, registry and rules as the last evaluation: neither the alerts nor the
    # loop's follow-up of them is derived or written again
    assert {p: _version(spark, stack["wh"], p) for p in kept} == kept
    assert again.alerts_changed == []
    # nor is the serving store made again from the same inputs
    assert (store.stat().st_ino, store.stat().st_mtime_ns) == published
    # a new version of any of its inputs (here a commit that changes no row) publishes it again
    spark.sql(f"ALTER TABLE delta.`{stack['wh']}/gold/court_metrics` SET TBLPROPERTIES ('test.touched' = 'yes')")
    run_pipeline(spark, stack["root"] / "landing", stack["wh"], alert_rules=stack["cfg"], steps=("publish",))
    assert store.stat().st_ino != published[0]
