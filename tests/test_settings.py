"""Settings are validated once, at start-up: a bad one names its file, its key and what was wrong."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from courtwatch.settings import CONF_DIR, SettingsError, load_profile

pytestmark = pytest.mark.unit
ALERTS = yaml.safe_load((CONF_DIR / "alerts.yaml").read_text())


def _profile(tmp_path, alerts: dict | None = None, **settings) -> Path:
    """A profile file (the test profile with `settings` on top) and, if given, its own alerts file."""
    conf = {**yaml.safe_load((CONF_DIR / "test.yaml").read_text()), **settings}
    if alerts is not None:
        (tmp_path / "alerts.yaml").write_text(yaml.safe_dump(alerts))
        conf["alerts_file"] = str(tmp_path / "alerts.yaml")
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(conf))
    return path


@pytest.mark.parametrize("name", sorted(p.stem for p in CONF_DIR.glob("*.yaml")
                                        if p.stem not in ("alerts", "generate", "spark-defaults")))
def test_every_profile_in_conf_loads(name):
    profile = load_profile(name)
    assert profile.name == name and profile.warehouse and profile.alert_rules().anomaly.metrics


def test_a_misspelt_alert_setting_names_file_and_key(tmp_path):
    alerts = {**ALERTS, "anomaly": {**ALERTS["anomaly"], "g_treshold": 20}}
    with pytest.raises(SettingsError) as e:
        load_profile(str(_profile(tmp_path, alerts)))
    assert f"{tmp_path / 'alerts.yaml'}: anomaly.g_treshold: Extra inputs are not permitted" in str(e.value)


def test_a_value_out_of_range_names_key_and_value(tmp_path):
    with pytest.raises(SettingsError) as e:
        load_profile(str(_profile(tmp_path, ingest={"lookback_days": -1})))
    assert f"{tmp_path / 'profile.yaml'}: ingest.lookback_days: Input should be greater than 0; got -1" in str(e.value)


def test_an_alert_rule_on_a_metric_the_catalog_lacks_fails_at_start(tmp_path):
    rules = ALERTS["threshold"]["rules"] + [{"metric_id": "on_time_rate", "warning_below": 0.9, "critical_below": 0.8}]
    alerts = {**ALERTS, "threshold": {**ALERTS["threshold"], "rules": rules}}
    with pytest.raises(SettingsError, match=r"threshold\.rules\.4\.metric_id: .*'on_time_rate' is not a metric"):
        load_profile(str(_profile(tmp_path, alerts)))


def test_the_command_refuses_to_start_on_a_bad_setting(tmp_path):
    bad = _profile(tmp_path, spark={"master": "local[1]", "confs": {}})
    done = subprocess.run([sys.executable, "-m", "courtwatch.cli", "--conf", str(bad), "run"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert f"{bad}: spark.confs: Extra inputs are not permitted" in done.stderr


def test_relative_locations_are_taken_from_the_repository(tmp_path):
    profile = load_profile(str(_profile(tmp_path, warehouse="data/elsewhere", landing="s3a://bucket/landing/")))
    assert profile.warehouse == str(Path(__file__).resolve().parents[1] / "data" / "elsewhere")
    assert profile.landing == "s3a://bucket/landing"


def test_a_warehouse_on_object_storage_needs_a_local_serving_store(tmp_path):
    with pytest.raises(SettingsError, match=r"profile\.yaml: .*serving\.duckdb_path: give the serving store's local file"):
        load_profile(str(_profile(tmp_path, warehouse="s3a://courtwatch/warehouse")))
    on_disk = load_profile(str(_profile(tmp_path, warehouse=str(tmp_path / "warehouse"))))
    assert on_disk.serving_store() == str(tmp_path / "warehouse-serving" / "courtwatch.duckdb")
    assert on_disk.superset.cache.directory == str(Path(on_disk.superset.home) / "cache")


def test_secrets_or_data_open_to_other_accounts_fail_at_start(tmp_path):
    secrets, warehouse = tmp_path / "secrets.env", tmp_path / "warehouse"
    secrets.write_text("COURTWATCH_HASH_KEY=x\n")
    warehouse.mkdir()
    secrets.chmod(0o644)
    warehouse.chmod(0o755)
    path = _profile(tmp_path, secrets_file=str(secrets), warehouse=str(warehouse))
    with pytest.raises(SettingsError) as refused:
        load_profile(str(path))
    assert f"secrets_file: {secrets} is readable by other accounts (mode 0o644): chmod 600" in str(refused.value)
    assert f"warehouse: {warehouse} is open to every local account" in str(refused.value)
    secrets.chmod(0o600)
    warehouse.chmod(0o750)
    assert load_profile(str(path)).warehouse == str(warehouse)
