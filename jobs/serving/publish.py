"""The serving store: what the dashboards show and nothing else, published after each run.

Each table of schemas/tables/serving/ is made by its `query.sql`, which DuckDB
runs over the Delta tables this module lets it read (INPUTS: gold, the batch
ledger, the court registry; never bronze, never a silver record table), the
Chinese names of schemas/labels.yaml (`labels`), the catalog's metric names
(`metric_names`), the reference intervals (`reference_intervals`) and the
guidance loop's address (`guidance_loop`, one row: the alerts' links to their pages).

The store is built into a new DuckDB file beside the old one and moved over it
with one rename, so a reader opens either the old store or the new one, never a
half-written one (a reader that has the old file open keeps reading it). The new
file is made whole, or, when the store in place was made from earlier versions of
the same inputs by the same code, it is a copy of that store brought up to date:
the tables declared with `refresh` (the big ones: metrics per court, breakdowns)
remake only the rows of the days, months or court-days their inputs' change feeds show
changed, the others are made again. The
PostgreSQL option (jobs/serving/postgres_store.py) copies that file's tables
into a schema and swaps the schema in one transaction.

Local warehouses are read by DuckDB's signed delta extension (delta_scan),
others (s3a://, hdfs://) through the run's Spark session and Arrow.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb

from schemas import SCHEMA_DIR
from schemas.display import label_rows
from schemas.metric_catalog import catalog, reference_intervals
from schemas.warehouse import Table, serving_tables, table
from schemas.workdays import CHINA

log = logging.getLogger("courtwatch")
# Everything the store is made from. The record tables (bronze, silver per source)
# are not among them: no record, no personal field and no hash of one can reach it.
INPUTS = ("silver.courts", "work.daily_breakdowns", "gold.court_metrics", "gold.region_metrics", "gold.alerts",
          "gold.alert_causes", "gold.alert_followup", "gold.guidance_metrics", "ops.batches", "ops.quarantine")
DUCKDB_TYPES = {"string": "VARCHAR", "int": "INTEGER", "long": "BIGINT", "double": "DOUBLE", "bool": "BOOLEAN",
                "date": "DATE", "timestamp": "TIMESTAMP", "list<string>": "VARCHAR[]"}


@dataclass(frozen=True)
class Published:
    path: str
    tables: dict[str, int]  # rows per table
    seconds: float
    refreshed: bool = False  # an earlier store brought up to date, not made whole

    def summary(self) -> str:
        rows = sum(self.tables.values())
        how = "brought up to date" if self.refreshed else "made whole"
        return f"{len(self.tables)} tables, {rows:,} rows, {how} in {self.seconds:.1f}s to {self.path}"


def delta_extension() -> str:
    """The delta extension's file in the duckdb-extension-delta wheel (DuckDB's signed build)."""
    import duckdb_extension_delta

    found = sorted(Path(duckdb_extension_delta.__file__).parent.glob(
        f"extensions/v{duckdb.__version__}/delta.duckdb_extension"))
    if not found:
        raise RuntimeError(f"duckdb-extension-delta has no build for duckdb {duckdb.__version__}: pin both equal")
    return str(found[0])


def connect(path: str) -> duckdb.DuckDBPyConnection:
    """A connection that loads only signed extensions and keeps China's wall-clock time."""
    con = duckdb.connect(path, config={"allow_unsigned_extensions": "false", "autoinstall_known_extensions": "false",
                                       "autoload_known_extensions": "false"})
    con.execute("SET enable_progress_bar = false")
    # Delta's timestamps are instants; the delta extension reads Spark's INT96 ones right
    # only in UTC. The input views turn them into China's wall-clock time, as Spark shows them.
    con.execute("SET TimeZone = 'UTC'")
    return con


def _register_inputs(con: duckdb.DuckDBPyConnection, warehouse: str, spark) -> None:
    """Each input as a view `layer.table` (an in-memory catalog per layer); one not yet written is empty."""
    local = "://" not in warehouse or warehouse.startswith("file://")
    if local:
        con.execute(f"LOAD '{delta_extension()}'")
    for layer in sorted({table(name).layer for name in INPUTS}):
        con.execute(f"ATTACH ':memory:' AS {layer}")
    for name in INPUTS:
        t = table(name)
        location = t.location(warehouse).removeprefix("file://")
        exists = (Path(location) / "_delta_log").is_dir() if local else t.exists(spark, warehouse)
        if not exists:
            cols = ", ".join(f"CAST(NULL AS {DUCKDB_TYPES[c.type]}) AS {c.name}" for c in t.columns)
            whole = f"SELECT {cols} WHERE false"
        else:
            if local:
                scan = f"delta_scan('{location}')"
            else:
                scan = f"_{name.replace('.', '_')}"
                con.register(scan, t.read(spark, warehouse).toArrow())
            cols = ", ".join(f"timezone('{CHINA.key}', {c.name}) AS {c.name}" if c.type == "timestamp" else c.name
                             for c in t.columns)
            whole = f"SELECT {cols} FROM {scan}"
        con.execute(f"CREATE VIEW {_whole(name)} AS {whole}")
        con.execute(f"CREATE VIEW {name} AS FROM {_whole(name)}")  # _refresh narrows it for a while


def _whole(name: str) -> str:
    """The view of the whole input table `name`; `name` itself is a view of it."""
    return f"{name}__whole"


def _register_reference(con: duckdb.DuckDBPyConnection, links: str | None) -> None:
    con.execute("CREATE TEMP TABLE labels (kind VARCHAR, code VARCHAR, name VARCHAR)")
    con.executemany("INSERT INTO labels VALUES (?, ?, ?)", label_rows())
    con.execute("CREATE TEMP TABLE metric_names (metric_id VARCHAR, name VARCHAR, unit VARCHAR)")
    con.executemany("INSERT INTO metric_names VALUES (?, ?, ?)", [(m.id, m.zh, m.unit) for m in catalog().metrics])
    con.execute("CREATE TEMP TABLE reference_intervals (metric_id VARCHAR, low DOUBLE, high DOUBLE, "
                "min_denominator DOUBLE)")
    con.executemany("INSERT INTO reference_intervals VALUES (?, ?, ?, ?)",
                    [(i.metric_id, i.low, i.high, i.min_denominator) for i in reference_intervals()])
    con.execute("CREATE TEMP TABLE guidance_loop (url VARCHAR)")
    con.execute("INSERT INTO guidance_loop VALUES (?)", [links.rstrip("/") if links else None])


def _create(con: duckdb.DuckDBPyConnection, t: Table) -> None:
    columns = ", ".join(f"{c.name} {DUCKDB_TYPES[c.type]}" for c in t.columns)
    con.execute(f"CREATE TABLE main.{t.short_name} ({columns})")


def _fill(con: duckdb.DuckDBPyConnection, t: Table) -> None:
    """Run the table's query into it; its columns must be the declared ones, in order."""
    got = [row[0] for row in con.execute(f"DESCRIBE ({t.query})").fetchall()]
    want = [c.name for c in t.columns]
    if got != want:
        where = SCHEMA_DIR / "tables" / "serving" / t.short_name / "query.sql"
        raise ValueError(f"{where} gives columns {got}; schema.yaml declares {want}")
    con.execute(f"INSERT INTO main.{t.short_name} {t.query}")


def build(warehouse: str, path: str, spark=None, run_id: str = "", links: str | None = None,
          changed: dict[str, list[tuple] | None] | None = None) -> dict[str, int]:
    """Write a whole store into the DuckDB file `path` (which must not exist), or, with `changed`,
    bring the copy of an earlier store at `path` up to date: a table named there with the values of
    its `refresh_by` columns whose rows changed has only those rows remade (None, or a table not
    named: remade whole). Rows per table. `links`: the guidance loop's address, which each alert
    links to (its page there)."""
    con = connect(path)
    try:
        _register_inputs(con, warehouse, spark)
        _register_reference(con, links)
        rows, seconds = {}, {}
        for t in serving_tables():
            started = time.time()
            if changed is not None and changed.get(t.name) is not None:
                _refresh(con, t, changed[t.name])
            else:
                if changed is not None:
                    con.execute(f"DROP TABLE main.{t.short_name}")
                _create(con, t)
                if t.query is not None:
                    _fill(con, t)
            if t.query is not None:
                rows[t.name] = con.execute(f"SELECT count(*) FROM main.{t.short_name}").fetchone()[0]
            seconds[t.short_name] = time.time() - started
        gold_as_of = con.execute("SELECT max(period_start) FROM main.court_metrics WHERE period = 'day'").fetchone()[0]
        con.execute("INSERT INTO main.publication VALUES (?, ?, ?, ?)",
                    [datetime.now(CHINA).replace(tzinfo=None), gold_as_of, run_id, sum(rows.values())])
        rows["serving.publication"] = 1
        started = time.time()
        con.execute("CHECKPOINT")
        seconds["checkpoint"] = time.time() - started
        log.info("serving store tables, seconds: %s",
                 ", ".join(f"{k} {v:.1f}" for k, v in sorted(seconds.items(), key=lambda kv: -kv[1])))
    finally:
        con.close()
    return rows


def _refresh(con: duckdb.DuckDBPyConnection, t: Table, values: list[tuple]) -> None:
    """Remake the rows of `t` whose `refresh_by` columns hold one of `values` (tuples in that order).

    The values are handed to DuckDB as a table, matched with a semi-join (a national day changes some
    30k court-days of breakdowns: too many for a WHERE clause); the last column's values also
    stand alone as an IN list, which DuckDB hands down to the Delta scan (fewer files read)."""
    if not values:
        return
    import pyarrow as pa

    cols = t.refresh_by
    con.register("_changed", pa.table({c: [v[i] for v in values] for i, c in enumerate(cols)}))
    last = f"{cols[-1]} IN ({', '.join(sorted({_literal(v[-1]) for v in values}))})"
    matching = f"{last} AND EXISTS (SELECT 1 FROM _changed c WHERE {' AND '.join(f'c.{c} = r.{c}' for c in cols)})"
    try:
        con.execute(f"DELETE FROM main.{t.short_name} r WHERE {matching}")
        # The `refresh_from` inputs are narrowed to the changed values too: their rows of other values
        # make none of the rows remade (the declaration's promise), and the query's joins and groups
        # then work on those rows only, not on the whole history (filtered again on the way out).
        for name in t.refresh_from:
            con.execute(f"CREATE OR REPLACE VIEW {name} AS FROM {_whole(name)} r WHERE {matching}")
        con.execute(f"INSERT INTO main.{t.short_name} SELECT * FROM ({t.query}) r WHERE {matching}")
    finally:
        for name in t.refresh_from:
            con.execute(f"CREATE OR REPLACE VIEW {name} AS FROM {_whole(name)}")
        con.unregister("_changed")


def _literal(v) -> str:
    if isinstance(v, date):
        return f"DATE '{v.isoformat()}'"
    return "'" + str(v).replace("'", "''") + "'"


MAX_REFRESHED = 100_000  # more changed values than this (a full refresh of gold): the table is remade whole


def changed_values(spark, warehouse: str, before: dict, now: dict) -> dict[str, list[tuple] | None]:
    """Per serving table declared with `refresh_by`: the values of those columns whose rows changed in
    its `refresh_from` tables between the input versions `before` and `now` (the change feeds), or
    None where that cannot be told (no feed for those versions: it is remade whole)."""
    from pyspark.errors import PySparkException

    out = {}
    for t in serving_tables():
        if not t.refresh_by:
            continue
        values: set[tuple] | None = set()
        for name in t.refresh_from:
            first, last = before.get(name, -1) + 1, now[name]
            if first > last:
                continue
            if first <= 0:
                values = None
                break
            try:
                changes = (spark.read.format("delta").option("readChangeFeed", "true")
                           .option("startingVersion", first).option("endingVersion", last)
                           .load(table(name).location(warehouse)))
                values |= {tuple(r) for r in changes.select(*t.refresh_by).distinct().collect()}
            except PySparkException as exc:  # no change feed for those versions (vacuumed, or not yet on)
                log.info("serving.%s is remade whole: %s has no change feed from version %d (%s)",
                         t.short_name, name, first, str(exc).splitlines()[0][:200])
                values = None
                break
        out[t.name] = None if values is None or len(values) > MAX_REFRESHED else sorted(values)
    return out


def refreshable(before: dict | None, now: dict) -> bool:
    """Whether a store made from the inputs `before` can be brought up to `now` table by table: the same
    code, links and place, the same court registry (names are in every table), no input older."""
    if not before:
        return False
    same = ("code", "links", "store", "silver.courts")
    return all(before.get(k) == now.get(k) for k in same) and \
        all(isinstance(before.get(k), int) and before[k] <= v for k, v in now.items() if k in INPUTS)


def inputs(spark, warehouse: str, links: str | None, store: dict) -> dict:
    """Everything a store is made from: the versions of its input tables, the alerts' links,
    where it goes (`store`: e.g. the PostgreSQL schema) and the code and declarations that make
    it. Equal inputs make an equal store (no query reads the clock), so a run with nothing new
    publishes nothing: a national store took 13 s to make again."""
    code = hashlib.sha256()
    for path in (sorted(Path(__file__).parent.glob("*.py")) + sorted(SCHEMA_DIR.glob("*.yaml"))
                 + sorted((SCHEMA_DIR / "tables" / "serving").rglob("*.sql"))
                 + sorted((SCHEMA_DIR / "tables" / "serving").rglob("*.yaml"))):
        code.update(path.read_bytes())
    versions = {name: table(name).version(spark, warehouse) if table(name).exists(spark, warehouse) else -1
                for name in INPUTS}
    return {**versions, "links": links, "store": store, "code": code.hexdigest()}


def _inputs_file(store: str) -> Path:
    return Path(store).with_name(Path(store).name + ".inputs.json")


def published_inputs(store: str) -> dict | None:
    """The inputs of the store in place, as noted once it was wholly published (None: unknown)."""
    noted = _inputs_file(store)
    return json.loads(noted.read_text()) if noted.exists() and Path(store).exists() else None


def note_inputs(store: str, given: dict) -> None:
    """After the whole publish (the PostgreSQL copy too): a publish that failed half-way is
    never taken for done, since the note is the old one."""
    noted = _inputs_file(store)
    writing = noted.with_name(noted.name + f".{os.getpid()}")
    writing.write_text(json.dumps(given, sort_keys=True))
    os.replace(writing, noted)


def publish(warehouse: str, store: str, spark=None, run_id: str = "", links: str | None = None,
            before: dict | None = None, now: dict | None = None) -> Published:
    """Build a new store beside `store` and move it into place in one rename. Given the inputs of the
    store in place (`before`, as noted) and of this one (`now`, `inputs`), a copy of it is brought up
    to date instead, where it can be (`refreshable`): its big tables remake only the days and months
    whose rows changed, the rest (thousands of rows each) are made again."""
    started = time.time()
    target = Path(store)
    target.parent.mkdir(parents=True, exist_ok=True)
    building = target.with_name(f".{target.name}.{os.getpid()}.building")
    for leftover in (building, building.with_name(building.name + ".wal")):
        leftover.unlink(missing_ok=True)
    changed = None
    if now is not None and target.exists() and refreshable(before, now):
        changed = changed_values(spark, warehouse, before, now)
        shutil.copyfile(target, building)
    try:
        rows = build(warehouse, str(building), spark, run_id, links, changed)
        os.chmod(building, 0o640)
        os.replace(building, target)  # atomic on one file system: readers see the old store or the new
    finally:
        building.unlink(missing_ok=True)
    done = Published(str(target), rows, time.time() - started, refreshed=changed is not None)
    log.info("published the serving store: %s", done.summary())
    return done
