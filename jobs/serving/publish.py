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
remake only the rows of the court-days and -months their inputs' change feeds show
changed (a province's figures, copied onto its courts' rows, are set in place), the
others are made again. The
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
from contextlib import contextmanager
from dataclasses import dataclass, field
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
class Changed:
    """What a publish brings up to date in one serving table: the `refresh_by` values whose rows are
    remade, the `update_by` values of its `update_from` rows that its `update` sets again in place."""
    remade: list[tuple]
    updated: list[tuple] = field(default_factory=list)


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
          changed: dict[str, Changed | None] | None = None) -> dict[str, int]:
    """Write a whole store into the DuckDB file `path` (which must not exist), or, with `changed`,
    bring the copy of an earlier store at `path` up to date: a table named there with what changed
    (`Changed`) has only those rows remade or updated (None, or a table not named: remade whole).
    Rows per table. `links`: the guidance loop's address, which each alert links to (its page there)."""
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


def _refresh(con: duckdb.DuckDBPyConnection, t: Table, changed: Changed) -> None:
    """Remake the rows of `t` whose `refresh_by` columns hold one of `changed.remade` (tuples in that
    order), then set again in place, by its `update`, what the `changed.updated` rows of `update_from` carry."""
    with _narrowed(con, t.refresh_by, changed.remade, t.refresh_from) as matching:
        if matching:
            con.execute(f"DELETE FROM main.{t.short_name} r WHERE {matching}")
            con.execute(f"INSERT INTO main.{t.short_name} SELECT * FROM ({t.query}) r WHERE {matching}")
    with _narrowed(con, t.update_by, changed.updated, (t.update_from,)) as matching:
        if matching:
            con.execute(t.update)


@contextmanager
def _narrowed(con: duckdb.DuckDBPyConnection, cols: tuple[str, ...], values: list[tuple], inputs: tuple[str, ...]):
    """For a while: the `values` of the columns `cols` as the table `_changed`, the input views `inputs`
    narrowed to the rows holding them, and the condition that picks those rows (aliased `r`) given.

    The values are matched with a semi-join (a national day changes some 30k court-days of breakdowns:
    too many for a WHERE clause); the last column's values also stand alone as an IN list, which DuckDB
    hands down to the Delta scan (fewer files read). The inputs are narrowed because their rows of other
    values make none of the rows remade (the declaration's promise): the query's joins and groups then
    work on those rows only, not on the whole history. No values: nothing to do (None given)."""
    if not values:
        yield None
        return
    import pyarrow as pa

    con.register("_changed", pa.table({c: [v[i] for v in values] for i, c in enumerate(cols)}))
    last = f"{cols[-1]} IN ({', '.join(sorted({_literal(v[-1]) for v in values}))})"
    matching = f"{last} AND EXISTS (SELECT 1 FROM _changed c WHERE {' AND '.join(f'c.{c} = r.{c}' for c in cols)})"
    try:
        for name in inputs:
            con.execute(f"CREATE OR REPLACE VIEW {name} AS FROM {_whole(name)} r WHERE {matching}")
        yield matching
    finally:
        for name in inputs:
            con.execute(f"CREATE OR REPLACE VIEW {name} AS FROM {_whole(name)}")
        con.unregister("_changed")


def _literal(v) -> str:
    if isinstance(v, date):
        return f"DATE '{v.isoformat()}'"
    return "'" + str(v).replace("'", "''") + "'"


MAX_REFRESHED = 100_000  # more changed values than this (a full refresh of gold): the table is remade whole


def changed_values(spark, warehouse: str, before: dict, now: dict) -> dict[str, Changed | None]:
    """Per serving table declared with `refresh_by`: what changed in its inputs between the input
    versions `before` and `now` (their change feeds), or None where that cannot be told (no feed for
    those versions, or too much changed: it is remade whole)."""
    out = {}
    for t in serving_tables():
        if not t.refresh_by:
            continue
        remade = _changed_keys(spark, warehouse, before, now, t.refresh_from, t.refresh_by)
        updated = _changed_keys(spark, warehouse, before, now, (t.update_from,), t.update_by) if t.update_from else set()
        out[t.name] = None if remade is None or updated is None else Changed(sorted(remade), sorted(updated))
    return out


def _changed_keys(spark, warehouse: str, before: dict, now: dict, names: tuple[str, ...],
                  cols: tuple[str, ...]) -> set[tuple] | None:
    """The values of `cols` in the rows of the tables `names` that changed from `before` to `now`."""
    from pyspark.errors import PySparkException

    values = set()
    for name in names:
        first, last = before.get(name, -1) + 1, now[name]
        if first > last:
            continue
        if first <= 0:
            return None
        try:
            changes = (spark.read.format("delta").option("readChangeFeed", "true")
                       .option("startingVersion", first).option("endingVersion", last)
                       .load(table(name).location(warehouse)))
            values |= {tuple(r) for r in changes.select(*cols).distinct().collect()}
        except PySparkException as exc:  # no change feed for those versions (vacuumed, or not yet on)
            log.info("%s has no change feed from version %d: what it feeds is remade whole (%s)",
                     name, first, str(exc).splitlines()[0][:200])
            return None
    return None if len(values) > MAX_REFRESHED else values


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
