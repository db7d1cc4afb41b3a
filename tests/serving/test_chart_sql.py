"""Which SQL a chart request carries (dashboards/sql_fragments.py): the rule the chart guard enforces."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.unit

_spec = importlib.util.spec_from_file_location("sql_fragments", Path("dashboards/sql_fragments.py"))
fragments = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fragments)

NAMES = {"court_id", "court_name", "province_code", "batches", "period_start"}
SAVED = SimpleNamespace(
    params_dict={"metrics": [{"expressionType": "SQL", "sqlExpression": "SUM(batches)", "label": "批次数"}],
                 "groupby": ["court_id"],
                 "adhoc_filters": [{"expressionType": "SQL", "clause": "WHERE", "sqlExpression": "status = 'ok'"}]},
    query_context=json.dumps({"queries": [{"extras": {"where": "status = 'ok'"}}]}))


def asked(query: dict) -> set[str]:
    return fragments.requested_sql(query, NAMES) - fragments.saved_sql(SAVED)


def test_the_saved_charts_own_query_asks_for_nothing_more():
    as_the_browser_sends_it = {
        "columns": ["court_id", {"expressionType": "SQL", "sqlExpression": "period_start", "label": "period_start",
                                 "columnType": "BASE_AXIS", "timeGrain": "P1D"}],
        "metrics": [{"expressionType": "SQL", "sqlExpression": "SUM(batches)", "label": "批次数"}],
        "orderby": [[{"expressionType": "SQL", "sqlExpression": "SUM(batches)", "label": "批次数"}, False]],
        "filter": [{"col": "court_name", "op": "IN", "val": ["任何法院' OR '1'='1"]}],  # a value is bound, not SQL
        "extras": {"where": "(status = 'ok')", "having": ""},
        "post_processing": [{"operation": "pivot", "options": {"columns": ["anything"]}}]}
    assert asked({k: v for k, v in as_the_browser_sends_it.items() if k != "post_processing"}) == set()


@pytest.mark.parametrize("query", [
    {"columns": [{"expressionType": "SQL", "sqlExpression": "court_id FROM x UNION ALL SELECT court_id"}]},
    {"groupby": ["court_id FROM x UNION ALL SELECT court_id"]},  # an unknown name is pasted in as SQL
    {"metrics": [{"expressionType": "SQL", "sqlExpression": "COUNT(*)"}]},
    {"metrics": ["max(province_code)"]},
    {"extras": {"where": "1 = 1 OR TRUE"}},
    {"extras": {"having": "COUNT(*) > 0"}},
    {"filter": [{"col": {"sqlExpression": "(SELECT 1)"}, "op": "IS NOT NULL"}]},
    {"filter": [{"col": "lower(court_id)", "op": "==", "val": "x"}]},
    {"orderby": [["random()", True]]},
    {"adhoc_filters": [{"expressionType": "SQL", "clause": "WHERE", "sqlExpression": "status = 'ok' OR 1=1"}]},
])
def test_any_other_sql_is_found(query):
    assert asked(query), query
