"""The dashboards' connection to the DuckDB store reads the store and nothing else.

It is opened as courtwatch/dashboard_assets.py tells Superset to open it (duckdb-engine
passes these connect arguments to duckdb.connect): read-only, external access off,
no extension loading, configuration locked.
"""
from __future__ import annotations

import duckdb
import pytest

from courtwatch.dashboard_assets import DUCKDB_ENGINE_PARAMS

pytestmark = pytest.mark.unit

ATTEMPTS = {
    "a file on the server": "SELECT * FROM read_csv('/etc/passwd')",
    "a file as text": "SELECT content FROM read_text('/etc/hostname')",
    "a parquet file": "SELECT * FROM read_parquet('/tmp/*.parquet')",
    "writing a file": "COPY (SELECT 1) TO '/tmp/courtwatch-leak.csv'",
    "another database": "ATTACH '/tmp/other.duckdb' AS other",
    "an extension": "INSTALL httpfs",
    "loading an extension": "LOAD delta",
    "turning access back on": "SET enable_external_access = true",
    "writing the store": "CREATE TABLE leak AS SELECT 1 AS x",
    "changing the store": "DELETE FROM court_metrics",
    "the warehouse's Delta tables": "SELECT * FROM delta_scan('/work/data/warehouse/bronze/cases')",
}


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "courtwatch.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE court_metrics AS SELECT 'B110001' AS court_id, 0.9 AS value")
    con.close()
    return str(path)


def _dashboards_connection(store):
    args = DUCKDB_ENGINE_PARAMS["connect_args"]
    return duckdb.connect(store, read_only=args["read_only"], config=dict(args["config"]))


def test_the_store_answers(store):
    assert _dashboards_connection(store).execute("SELECT count(*) FROM court_metrics").fetchone() == (1,)


@pytest.mark.parametrize("what", sorted(ATTEMPTS))
def test_nothing_outside_the_store(store, what):
    con = _dashboards_connection(store)
    with pytest.raises(duckdb.Error):
        con.execute(ATTEMPTS[what]).fetchall()
