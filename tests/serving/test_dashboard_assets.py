"""The committed Superset assets are what dashboards/*.yaml and the metric catalog build (no Superset needed)."""
from __future__ import annotations

import json

import pytest

from courtwatch import dashboard_assets
from schemas.metric_catalog import catalog
from schemas.warehouse import serving_tables

pytestmark = pytest.mark.unit


def test_committed_assets_equal_a_fresh_build():
    built = {rel: dashboard_assets.dump(content) for rel, content in dashboard_assets.build().items()}
    committed = {str(p.relative_to(dashboard_assets.ASSETS_DIR)): p.read_text()
                 for p in dashboard_assets.ASSETS_DIR.rglob("*.yaml")}
    assert committed.keys() == built.keys(), "run `courtwatch dashboards build` and commit dashboards/assets"
    stale = [rel for rel in built if committed[rel] != built[rel]]
    assert not stale, f"stale assets {stale}: run `courtwatch dashboards build`"


def test_the_dashboards_every_chart_on_a_serving_table():
    files = dashboard_assets.build()
    dashboards = {c["slug"]: c for rel, c in files.items() if rel.startswith("dashboards/")}
    assert set(dashboards) == {"overview", "intervals", "court", "hotline", "mediation", "alerts", "followup", "feed"}
    datasets = {c["uuid"] for rel, c in files.items() if rel.startswith("datasets/")}
    # every dataset is a table of the serving store, on the serving database: none reads the warehouse
    serving = {t.short_name for t in serving_tables()}
    for rel, d in files.items():
        if rel.startswith("datasets/"):
            assert d["sql"] is None and d["table_name"] in serving, rel
            assert d["database_uuid"] == dashboard_assets.uid("database", dashboard_assets.DATABASE_NAME)
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


def test_no_chart_ranks_courts_or_provinces():
    """SPC policy (坚决杜绝排名排序): categories in their own order, tables of courts and provinces in code order."""
    for rel, chart in dashboard_assets.build().items():
        if not rel.startswith("charts/"):
            continue
        params = chart["params"]
        if params["viz_type"].startswith("echarts_timeseries") and "x_axis_sort" in params:
            assert params["x_axis_sort"] == params["x_axis"] and params["x_axis_sort_asc"], chart["slice_name"]
        # a table whose rows are courts or provinces (not alerts or batches that name one)
        rows_are_units = (set(params.get("groupby", [])) & {"court_name", "region_name", "province_name"}
                          or "unit_name" in params.get("all_columns", []))
        if params["viz_type"] == "table" and rows_are_units:
            assert not params["order_desc"], f"{chart['slice_name']} lists courts or provinces by a value"


def test_the_serving_database_is_read_only_without_external_access():
    database = dashboard_assets.build()[f"databases/{dashboard_assets.DATABASE_NAME}.yaml"]
    args = database["extra"]["engine_params"]["connect_args"]
    assert args["read_only"] is True and args["config"]["enable_external_access"] == "false"
    assert not database["expose_in_sqllab"] and not database["allow_dml"] and not database["allow_file_upload"]
    postgres = dashboard_assets.build("postgresql+psycopg2://reader@db/courtwatch")
    assert postgres[f"datasets/{dashboard_assets.DATABASE_NAME}/court_metrics.yaml"]["schema"] == "serving"


def test_saved_query_matches_the_chart():
    """The chart data API answers from the saved query context: same metrics and filters as the chart."""
    for rel, chart in dashboard_assets.build().items():
        if not rel.startswith("charts/"):
            continue
        qc = json.loads(chart["query_context"])
        query, params = qc["queries"][0], chart["params"]
        metrics = params.get("metrics") or ([params["metric"]] if "metric" in params else [])
        assert query.get("metrics", []) == metrics, chart["slice_name"]  # a raw list has none: no GROUP BY
        if params.get("server_pagination"):  # a long list: one page from the server, then its row count
            page, count = qc["queries"]
            assert page["row_limit"] == params["server_page_length"] == 10, chart["slice_name"]
            assert count["is_rowcount"] and count["row_limit"] == params["row_limit"], chart["slice_name"]
        where = [f["sqlExpression"] for f in params["adhoc_filters"]]
        assert query["extras"]["where"] == (where[0] if where else ""), chart["slice_name"]
