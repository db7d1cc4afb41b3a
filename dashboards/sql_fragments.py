"""The SQL a chart request would put into its statement, and the SQL a saved chart holds.

Plain functions on the request's dicts, for dashboards/security_manager.py (run in
Superset's environment) and for the unit tests (run in courtwatch's).
"""
from __future__ import annotations

import json

SQL_KEYS = {"sqlExpression", "where", "having"}  # values Superset pastes into the query as SQL
# positions where a plain string is a name (a name the dataset does not have, Superset pastes in as SQL)
NAMED = ("columns", "groupby", "series_columns", "metrics", "granularity", "granularity_sqla", "x_axis",
         "entity", "series", "metric", "secondary_metric", "timeseries_limit_metric", "series_limit_metric",
         "all_columns", "order_by_cols", "percent_metrics", "x", "y", "size",
         "groupbyColumns", "groupbyRows")


def _strings(value, found: set[str]) -> set[str]:
    if isinstance(value, str):
        found.add(value.strip())
    elif isinstance(value, dict):
        for v in value.values():
            _strings(v, found)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _strings(v, found)
    return found


def requested_sql(query: dict, names: set[str]) -> set[str]:
    """Every SQL fragment a query (a query object's or a form data's dict) would put into the statement."""
    found: set[str] = set()

    def walk(value, key=None):
        if isinstance(value, dict):
            for k, v in value.items():
                if k in SQL_KEYS and isinstance(v, str):
                    found.add(v.strip())
                elif k in ("col", "column") and isinstance(v, str):
                    found.add(v.strip())
                else:
                    walk(v, k)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and key in NAMED + ("orderby",):
            found.add(value.strip())

    walk(query)
    return {s for s in found if s and s not in names}


def saved_sql(chart) -> set[str]:
    """Every string of a saved chart (its form data and its query context), and its SQL filters as the
    browser and the legacy API send them on: each in parentheses, all joined by AND."""
    found = _strings(chart.params_dict, set())
    if chart.query_context:
        _strings(json.loads(chart.query_context), found)
    for clause in ("WHERE", "HAVING"):
        own = [f["sqlExpression"].strip() for f in chart.params_dict.get("adhoc_filters") or []
               if f.get("expressionType") == "SQL" and f.get("clause") == clause and f.get("sqlExpression")]
        found |= {f"({w})" for w in own} | {" AND ".join(f"({w})" for w in own)}
    return found
