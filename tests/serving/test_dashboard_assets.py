"""The committed Superset assets are what dashboards/*.yaml and the metric catalog build (no Superset needed)."""
from __future__ import annotations

import json

import pytest
import yaml

from courtwatch import dashboard_assets
from schemas.metric_catalog import catalog

pytestmark = pytest.mark.unit


def test_committed_assets_equal_a_fresh_build():
    built = {rel: dashboard_assets.dump(content) for rel, content in dashboard_assets.build().items()}
    committed = {str(p.relative_to(dashboard_assets.ASSETS_DIR)): p.read_text()
                 for p in dashboard_assets.ASSETS_DIR.rglob("*.yaml")}
    assert committed.keys() == built.keys(), "run `courtwatch dashboards build` and commit dashboards/assets"
    stale = [rel for rel in built if committed[rel] != built[rel]]
    assert not stale, f"stale assets {stale}: run `courtwatch dashboards build`"


def test_six_dashboards_every_chart_on_a_known_dataset():
    files = dashboard_assets.build()
    dashboards = {c["slug"]: c for rel, c in files.items() if rel.startswith("dashboards/")}
    assert set(dashboards) == {"overview", "court", "hotline", "mediation", "alerts", "feed"}
    datasets = {c["uuid"] for rel, c in files.items() if rel.startswith("datasets/")}
    charts = {c["uuid"]: c for rel, c in files.items() if rel.startswith("charts/")}
    assert all(c["dataset_uuid"] in datasets for c in charts.values())
    placed = [v["meta"]["uuid"] for d in dashboards.values() for v in d["position"].values()
              if isinstance(v, dict) and v.get("type") == "CHART"]
    assert sorted(placed) == sorted(charts), "every chart sits on exactly one dashboard"
    for d in dashboards.values():
        for f in d["metadata"]["native_filter_configuration"]:
            assert f["targets"][0]["datasetUuid"] in datasets


def test_metric_names_and_formulas_come_from_the_catalog():
    clearance = dashboard_assets.catalog_metric("clearance_rate")
    assert clearance["label"] == catalog().metric("clearance_rate").zh == "结收比"
    assert clearance["sql"] == ("SUM(CASE WHEN metric_id = 'clearance_rate' THEN numerator END) / "
                                "NULLIF(SUM(CASE WHEN metric_id = 'clearance_rate' THEN denominator END), 0)")
    assert clearance["format"] == ".1%"
    filed = dashboard_assets.catalog_metric("case_filed")
    assert filed["sql"] == "SUM(CASE WHEN metric_id = 'case_filed' THEN numerator END)"  # a count: no denominator
    region = dashboard_assets.catalog_metric("region:clearance_rate")
    assert "region_numerator" in region["sql"] and region["label"] == "结收比（所在省）"
    # every metric's Chinese name is in the datasets' name column
    sql = dashboard_assets.dataset_asset("region_metrics", yaml.safe_load(
        (dashboard_assets.DASHBOARDS_DIR / "datasets.yaml").read_text())["region_metrics"])["sql"]
    assert all(f"WHEN '{m.id}' THEN '{m.zh}'" in sql for m in catalog().metrics)


def test_saved_query_matches_the_chart():
    """The chart data API answers from the saved query context: same metrics and filters as the chart."""
    for rel, chart in dashboard_assets.build().items():
        if not rel.startswith("charts/"):
            continue
        qc = json.loads(chart["query_context"])
        query, params = qc["queries"][0], chart["params"]
        metrics = params.get("metrics") or ([params["metric"]] if "metric" in params else [])
        assert query["metrics"] == metrics, chart["slice_name"]
        where = [f["sqlExpression"] for f in params["adhoc_filters"]]
        assert query["extras"]["where"] == (where[0] if where else ""), chart["slice_name"]
