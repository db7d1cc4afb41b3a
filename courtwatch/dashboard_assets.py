"""Superset assets (databases, datasets, charts, dashboards) from dashboards/*.yaml and the declarations.

`courtwatch dashboards build` writes them to dashboards/assets/ in Superset's
import format (the same YAML `superset export-dashboards` writes), so they are
reviewed as diffs and imported by one command. Metric names, formulas and
number formats come from schemas/metrics.yaml, each dataset's columns from its
serving table's declaration (schemas/tables/serving/): each is declared once.
Identifiers are UUIDs derived from names, so a rebuild changes nothing that
did not change. A test checks the committed assets equal a fresh build.

Two databases: `courtwatch`, the serving store every dataset reads (DuckDB
opened read-only with external access off, or PostgreSQL), and
`courtwatch_warehouse`, the Spark SQL endpoint, for analysts' SQL Lab only.
"""
from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import yaml

from schemas.metric_catalog import catalog
from schemas.warehouse import table

DASHBOARDS_DIR = Path(__file__).resolve().parent.parent / "dashboards"
ASSETS_DIR = DASHBOARDS_DIR / "assets"
DATABASE_NAME = "courtwatch"  # the serving store
WAREHOUSE_DATABASE = "courtwatch_warehouse"  # the Spark SQL endpoint
# What the committed assets say; `courtwatch superset setup` imports them pointed at the profile's.
DEFAULT_URI = "duckdb:///data/warehouse-serving/courtwatch.duckdb"
DEFAULT_WAREHOUSE_URI = "hive://courtwatch@127.0.0.1:10001/default"
# DuckDB opened so that no chart, filter or expression reaches a file or anything outside the store
DUCKDB_ENGINE_PARAMS = {"connect_args": {"read_only": True, "config": {
    "enable_external_access": "false", "autoinstall_known_extensions": "false",
    "autoload_known_extensions": "false", "lock_configuration": "true"}}}
VERSION = "1.0.0"
NAMESPACE = uuid.UUID("5c0f7a52-6f1e-4c39-9d55-2a8f0d8f6c11")
FORMATS = {"ratio": ".1%", "days": ",.1f", "seconds": ",.0f", "score": ",.2f"}  # counts: Superset's smart number
COUNT_FORMAT = "SMART_NUMBER"
TIME_TYPES = ("date", "timestamp")
# Page lengths Superset's table chart offers. Lists of alerts, items or batches (a row each, wide:
# a message, dates, states) are read from the top, ten at a time, as their order puts the pressing
# first; a table of figures per province or court shows 50 (a country's provinces on one page).
# The browser draws every cell of a page: on 2 cores a 50-row list cost a dashboard ~0.4 s.
TABLE_PAGE_ROWS = 50
LIST_PAGE_ROWS = 10


def uid(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def catalog_metric(ref: str) -> dict:
    """A catalog metric as a Superset SQL aggregate over the long metric tables.

    Ratios are recomputed from summed numerators and denominators, so they stay
    right when Superset rolls days up into months or courts into provinces.
    `region:ID` reads the court's province columns of court_metrics.
    """
    prefix, metric_id = ("region_", ref.split(":", 1)[1]) if ref.startswith("region:") else ("", ref)
    m = catalog().metric(metric_id)
    num = f"SUM(CASE WHEN metric_id = '{m.id}' THEN {prefix}numerator END)"
    sql = f"{num} / NULLIF(SUM(CASE WHEN metric_id = '{m.id}' THEN {prefix}denominator END), 0)" if m.is_ratio else num
    label = f"{m.zh}（所在省）" if prefix else m.zh
    return {"label": label, "sql": sql, "format": FORMATS.get(m.unit, COUNT_FORMAT)}


def adhoc_metric(spec: dict) -> dict:
    return {"expressionType": "SQL", "sqlExpression": spec["sql"], "label": spec["label"],
            "hasCustomLabel": True, "optionName": "metric_" + uid("metric", spec["label"], spec["sql"])[:8]}


def _metrics(chart: dict) -> list[dict]:
    out = []
    for ref in chart.get("metrics", []):
        out.append(catalog_metric(ref) if isinstance(ref, str) else {"format": COUNT_FORMAT, **ref})
    return out


def _where(chart: dict) -> str | None:
    """The chart's filter; a chart of catalog metrics only also reads only their rows (each metric
    picks its rows by CASE anyway: the filter spares the store a pass over every other metric's)."""
    refs = chart.get("metrics", [])
    ids = sorted({r.split(":", 1)[-1] for r in refs}) if refs and all(isinstance(r, str) for r in refs) else []
    picked = f"metric_id IN ({', '.join(repr(i) for i in ids)})" if ids else None
    where = chart.get("where")
    return f"({where}) AND {picked}" if where and picked else where or picked


def _axis(chart: dict, time_columns: set[str]) -> dict | str | None:
    x = chart.get("x")
    if x in time_columns:
        return {"timeGrain": chart.get("grain", "P1D"), "columnType": "BASE_AXIS", "sqlExpression": x,
                "label": x, "expressionType": "SQL"}
    return x


def chart_params(chart: dict, time_columns: set[str]) -> dict:
    metrics = _metrics(chart)
    adhoc = [adhoc_metric(m) for m in metrics]
    fmt = metrics[0]["format"] if metrics else None
    where = _where(chart)
    filters = [{"expressionType": "SQL", "clause": "WHERE", "sqlExpression": where}] if where else []
    base = {"viz_type": None, "adhoc_filters": filters, "row_limit": chart.get("limit", 10000),
            "extra_form_data": {}, "dashboards": []}
    kind = chart["kind"]
    if kind == "total":
        return {**base, "viz_type": "big_number_total", "metric": adhoc[0], "y_axis_format": fmt}
    if kind == "big_number":
        return {**base, "viz_type": "big_number", "metric": adhoc[0], "x_axis": chart["x"],
                "time_grain_sqla": chart.get("grain", "P1M"), "y_axis_format": fmt, "show_trend_line": True,
                "start_y_axis_at_zero": True}  # no month-on-month: the current month is partial
    if kind in ("line", "bar"):
        params = {**base, "viz_type": f"echarts_timeseries_{kind}", "metrics": adhoc, "x_axis": chart["x"],
                  "groupby": chart.get("groupby", []), "y_axis_format": fmt, "show_legend": True,
                  "legendOrientation": "top", "rich_tooltip": True, "truncate_metric": True}
        if chart["x"] in time_columns:
            params.update(time_grain_sqla=chart.get("grain", "P1D"), x_axis_time_format="smart_date")
        else:  # categories in their own order, never ranked by the value
            params.update(x_axis_sort=chart["x"], x_axis_sort_asc=True, orientation="vertical")
        if kind == "bar" and chart.get("groupby") and chart.get("stacked", True):
            params["stack"] = "Stack"
        return params
    if kind == "map":
        return {**base, "viz_type": "country_map", "select_country": "china", "entity": "province_iso",
                "metric": adhoc[0], "number_format": fmt, "linear_color_scheme": "superset_seq_1"}
    if kind == "pie":
        return {**base, "viz_type": "pie", "metric": adhoc[0], "groupby": chart["groupby"], "number_format": fmt,
                "show_labels": True, "label_type": "key_percent", "show_legend": True, "legendOrientation": "top"}
    if kind == "table":
        # allow_render_html: the alerts' links to their pages of the guidance loop (HTML Superset sanitises)
        # page_length: the browser draws a page of what the query returned; at national a table
        # runs to thousands of rows (every court's deliveries), and drawing them all took seconds
        params = {**base, "viz_type": "table", "table_timestamp_format": "%Y-%m-%d", "server_pagination": False,
                  "page_length": TABLE_PAGE_ROWS, "order_desc": True, "show_cell_bars": False,
                  "allow_render_html": True}
        ascending = bool(chart.get("ascending"))
        params["order_desc"] = not ascending
        if "columns" in chart:
            # a list that can run long (alerts, follow-up items, batches: a `limit` over a page) pages
            # on the server: the browser receives a page and a row count, not the hundreds of rows a
            # national list holds (drawing and sorting those took ~1 s of the alerts and follow-up
            # dashboards); a short one (the publication's row) is fetched whole, with no count query
            paged = chart.get("limit", 0) > LIST_PAGE_ROWS
            params.update(query_mode="raw", all_columns=chart["columns"], page_length=LIST_PAGE_ROWS,
                          server_pagination=paged, server_page_length=LIST_PAGE_ROWS,
                          order_by_cols=[json.dumps([chart["order"], ascending])] if "order" in chart else [],
                          column_config={c: {"d3NumberFormat": f} for c, f in chart.get("formats", {}).items()})
        else:
            params.update(query_mode="aggregate", groupby=chart["groupby"], metrics=adhoc,
                          column_config={m["label"]: {"d3NumberFormat": m["format"]} for m in metrics if m["format"]})
            if "order" in chart:
                params["timeseries_limit_metric"] = _order_metric(chart, metrics)
        return params
    raise ValueError(f"unknown chart kind {kind!r} in {chart['title']}")


def _order_metric(chart: dict, metrics: list[dict]) -> dict:
    """A table's sort: one of its metrics by label, a catalog metric by id, or an SQL aggregate."""
    order = chart["order"]
    known = {m["label"]: m for m in metrics}
    if order in known:
        return adhoc_metric(known[order])
    if order in {m.id for m in catalog().metrics}:
        return adhoc_metric(catalog_metric(order))
    return adhoc_metric({"label": "排序", "sql": order})


def query_context(chart: dict, params: dict, time_columns: set[str]) -> dict:
    """What the dashboard asks the chart data API for (saved so `GET /api/v1/chart/ID/data` answers)."""
    kind = chart["kind"]
    query = {"filters": [], "extras": {"where": _where(chart) or "", "having": ""}, "applied_time_extras": {},
             "annotation_layers": [], "row_limit": params["row_limit"], "series_limit": 0, "order_desc": True,
             "url_params": {}, "custom_params": {}, "custom_form_data": {}, "time_range": "No filter"}
    axis = _axis(chart, time_columns)
    if kind == "big_number":
        query.update(columns=[axis], metrics=[params["metric"]], orderby=[])
    elif kind == "total":
        query.update(columns=[], metrics=[params["metric"]], orderby=[])
    elif kind in ("line", "bar"):
        query.update(columns=[axis, *params["groupby"]], metrics=params["metrics"], orderby=[])
    elif kind == "map":
        query.update(columns=[params["entity"]], metrics=[params["metric"]], orderby=[])
    elif kind == "pie":
        query.update(columns=params["groupby"], metrics=[params["metric"]], orderby=[[params["metric"], False]])
    elif params["query_mode"] == "raw":
        # no metrics at all, as the browser sends a raw table (an empty list makes Superset GROUP BY
        # every column, which folds identical rows together)
        query.update(columns=params["all_columns"],
                     orderby=[[chart["order"], bool(chart.get("ascending"))]] if "order" in chart else [])
        if params.get("server_pagination"):  # the first page and the row count, as the browser asks
            page = {**query, "row_limit": params["server_page_length"], "row_offset": 0}
            count = {**query, "row_offset": 0, "post_processing": [], "is_rowcount": True}
            return _context(params, [page, count])
    else:
        order = params.get("timeseries_limit_metric")
        query.update(columns=params["groupby"], metrics=params["metrics"],
                     orderby=[[order, bool(chart.get("ascending"))]] if order else [])
    return _context(params, [query])


def _context(params: dict, queries: list[dict]) -> dict:
    return {"datasource": {"id": 0, "type": "table"}, "force": False, "queries": queries,
            "form_data": params, "result_format": "json", "result_type": "full"}


def database_asset(name: str, uri: str, engine_params: dict, sql_lab: bool) -> dict:
    return {"database_name": name, "sqlalchemy_uri": uri, "cache_timeout": None,
            "expose_in_sqllab": sql_lab, "allow_run_async": False, "allow_ctas": False, "allow_cvas": False,
            "allow_dml": False, "allow_file_upload": False,
            "extra": {"allows_virtual_table_explore": sql_lab, "metadata_params": {}, "engine_params": engine_params,
                      "schemas_allowed_for_file_upload": []},
            "uuid": uid("database", name), "version": VERSION}


def serving_engine_params(uri: str) -> dict:
    return DUCKDB_ENGINE_PARAMS if uri.startswith("duckdb:") else {}


def dataset_asset(name: str, spec: dict, schema: str) -> dict:
    """A dataset over the serving table `name`: its declared columns, with their Chinese labels."""
    declared = table(f"serving.{name}")
    unknown = set(spec["labels"]) - {c.name for c in declared.columns}
    if unknown:
        raise ValueError(f"dashboards/datasets.yaml: {name}: labels of columns serving.{name} lacks: {sorted(unknown)}")
    columns = [{"column_name": c.name, "verbose_name": spec["labels"].get(c.name), "is_dttm": c.type in TIME_TYPES,
                "is_active": True, "type": c.type.upper(), "groupby": True, "filterable": True, "expression": None,
                "description": c.description, "python_date_format": None, "advanced_data_type": None, "extra": None}
               for c in declared.columns]
    return {"table_name": name, "main_dttm_col": spec.get("time_column"), "description": spec.get("description"),
            "default_endpoint": None, "offset": 0, "cache_timeout": None, "catalog": None, "schema": schema,
            "sql": None, "params": None, "template_params": None, "filter_select_enabled": True,
            "fetch_values_predicate": None, "extra": None, "normalize_columns": False,
            "always_filter_main_dttm": False, "uuid": uid("dataset", name),
            "metrics": [{"metric_name": "count", "verbose_name": "行数", "metric_type": "count",
                         "expression": "COUNT(*)", "description": None, "d3format": None, "extra": None,
                         "warning_text": None}],
            "columns": columns, "version": VERSION, "database_uuid": uid("database", DATABASE_NAME)}


def chart_asset(dashboard: str, chart: dict, datasets: dict) -> dict:
    if chart["dataset"] not in datasets:
        raise ValueError(f"chart {chart['title']!r} reads unknown dataset {chart['dataset']!r}")
    time_columns = {c.name for c in table(f"serving.{chart['dataset']}").columns if c.type in TIME_TYPES}
    params = chart_params(chart, time_columns)
    return {"slice_name": chart["title"], "description": None, "certified_by": None,
            "certification_details": None, "viz_type": params["viz_type"], "params": params,
            "query_context": json.dumps(query_context(chart, params, time_columns), ensure_ascii=False),
            "cache_timeout": None, "uuid": uid("chart", dashboard, chart["title"]), "version": VERSION,
            "dataset_uuid": uid("dataset", chart["dataset"])}


def dashboard_asset(spec: dict, charts: list[list[dict]]) -> dict:
    position = {"DASHBOARD_VERSION_KEY": "v2",
                "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
                "HEADER_ID": {"id": "HEADER_ID", "type": "HEADER", "meta": {"text": spec["title"]}},
                "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]}}
    for r, row in enumerate(charts):
        row_id = f"ROW-{spec['slug']}-{r}"
        position["GRID_ID"]["children"].append(row_id)
        position[row_id] = {"type": "ROW", "id": row_id, "children": [], "parents": ["ROOT_ID", "GRID_ID"],
                            "meta": {"background": "BACKGROUND_TRANSPARENT"}}
        for chart, asset in row:
            chart_id = f"CHART-{asset['uuid'][:8]}"
            position[row_id]["children"].append(chart_id)
            height = 26 if chart["kind"] == "big_number" else 60 if chart["kind"] == "table" else 50
            position[chart_id] = {"type": "CHART", "id": chart_id, "children": [],
                                  "parents": ["ROOT_ID", "GRID_ID", row_id],
                                  "meta": {"width": chart.get("width", 6), "height": height,
                                           "chartId": 0, "uuid": asset["uuid"], "sliceName": chart["title"]}}
    filters = [{"id": "NATIVE_FILTER-" + uid("filter", spec["slug"], f["column"])[:12], "name": f["name"],
                "filterType": "filter_select", "type": "NATIVE_FILTER", "description": "",
                "targets": [{"datasetUuid": uid("dataset", f["dataset"]), "column": {"name": f["column"]}}],
                "controlValues": {"enableEmptyFilter": bool(f.get("first")), "defaultToFirstItem": bool(f.get("first")),
                                  "multiSelect": not f.get("first"), "searchAllOptions": False,
                                  "inverseSelection": False, "sortAscending": not f.get("newest_first")},
                "defaultDataMask": {"extraFormData": {}, "filterState": {}, "ownState": {}},
                "cascadeParentIds": [], "scope": {"rootPath": ["ROOT_ID"], "excluded": []},
                # charts wait for the preselected value instead of loading unfiltered first
                **({"requiredFirst": True} if f.get("first") else {})}
               for f in spec.get("filters", [])]
    return {"dashboard_title": spec["title"], "description": spec.get("description"), "css": "",
            "slug": spec["slug"], "certified_by": "", "certification_details": "", "published": True,
            "uuid": uid("dashboard", spec["slug"]), "position": position,
            "metadata": {"native_filter_configuration": filters, "color_scheme": "supersetColors",
                         "refresh_frequency": 0, "expanded_slices": {}, "label_colors": {},
                         "timed_refresh_immune_slices": [], "cross_filters_enabled": False,
                         "default_filters": "{}", "chart_configuration": {}, "shared_label_colors": [],
                         "color_scheme_domain": []},
            "version": VERSION}


def dashboard_specs() -> list[dict]:
    """dashboards/dashboards.yaml: the dashboards, in their order."""
    return yaml.safe_load((DASHBOARDS_DIR / "dashboards.yaml").read_text())


def slugs() -> list[str]:
    return [d["slug"] for d in dashboard_specs()]


def build(uri: str = DEFAULT_URI, warehouse_uri: str = DEFAULT_WAREHOUSE_URI) -> dict[str, dict]:
    """Every asset file: path inside the export bundle -> its YAML content.

    `uri` is the serving store's (duckdb:///FILE or postgresql://...), `warehouse_uri` the SQL endpoint's."""
    datasets = yaml.safe_load((DASHBOARDS_DIR / "datasets.yaml").read_text())
    dashboards = dashboard_specs()
    schema = "main" if uri.startswith("duckdb:") else "serving"
    files = {"metadata.yaml": {"version": VERSION, "type": "assets", "timestamp": "2026-01-01T00:00:00+00:00"},
             f"databases/{DATABASE_NAME}.yaml": database_asset(DATABASE_NAME, uri, serving_engine_params(uri), False),
             f"databases/{WAREHOUSE_DATABASE}.yaml": database_asset(WAREHOUSE_DATABASE, warehouse_uri, {}, True)}
    for name, spec in datasets.items():
        files[f"datasets/{DATABASE_NAME}/{name}.yaml"] = dataset_asset(name, spec, schema)
    for spec in dashboards:
        rows = []
        for row in spec["rows"]:
            if sum(c.get("width", 6) for c in row) > 12:
                raise ValueError(f"a row of {spec['slug']} is wider than 12")
            rows.append([(chart, chart_asset(spec["slug"], chart, datasets)) for chart in row])
            for chart, asset in rows[-1]:
                files[f"charts/{spec['slug']}/{asset['uuid'][:8]}.yaml"] = asset
        files[f"dashboards/{spec['slug']}.yaml"] = dashboard_asset(spec, rows)
    return files


def dump(content: dict) -> str:
    return yaml.safe_dump(content, allow_unicode=True, sort_keys=True, width=120)


def write(directory: Path = ASSETS_DIR, uri: str = DEFAULT_URI,
          warehouse_uri: str = DEFAULT_WAREHOUSE_URI) -> list[Path]:
    shutil.rmtree(directory, ignore_errors=True)
    written = []
    for rel, content in build(uri, warehouse_uri).items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump(content))
        written.append(path)
    return written
