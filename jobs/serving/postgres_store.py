"""The serving store in PostgreSQL (production, for several Superset nodes): the same tables, indexed.

A published DuckDB store (jobs/serving/publish.py) is copied table by table
into a fresh schema `serving_next` (COPY in CSV, the fastest path into
PostgreSQL), indexed as each table's metadata.yaml says and analysed; then one
transaction renames it to `serving`. Readers see the old schema or the new
one, never a half-copied table; one still reading the old schema finishes
first (the swap waits for it).
"""
from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import duckdb
import psycopg
from psycopg import sql

from schemas.warehouse import serving_tables

log = logging.getLogger("courtwatch")
SCHEMA = "serving"
POSTGRES_TYPES = {"string": "text", "int": "integer", "long": "bigint", "double": "double precision",
                  "bool": "boolean", "date": "date", "timestamp": "timestamp", "list<string>": "text[]"}


def copy_store(store: str, dsn: str, reader_role: str | None = None, schema: str = SCHEMA) -> dict[str, int]:
    """Copy every table of the DuckDB store at `store` into `schema`, swapped in whole. Rows per table."""
    started = time.time()
    staging = f"{schema}_next"
    rows = {}
    source = duckdb.connect(store, read_only=True)
    try:
        with psycopg.connect(dsn) as pg, tempfile.TemporaryDirectory() as tmp:
            pg.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(staging)))
            pg.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(staging)))
            for t in serving_tables():
                name = t.short_name
                target = sql.Identifier(staging, name)
                columns = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c.name),
                                                                     sql.SQL(POSTGRES_TYPES[c.type]))
                                             for c in t.columns)
                pg.execute(sql.SQL("CREATE TABLE {} ({})").format(target, columns))
                csv = Path(tmp) / f"{name}.csv"
                source.execute(f"COPY main.{name} TO '{csv}' (FORMAT csv, HEADER false)")
                with pg.cursor().copy(sql.SQL("COPY {} FROM STDIN (FORMAT csv)").format(target)) as copy, \
                        csv.open("rb") as f:
                    while block := f.read(1 << 20):
                        copy.write(block)
                csv.unlink()
                for i, cols in enumerate(t.indexes):
                    pg.execute(sql.SQL("CREATE INDEX {} ON {} ({})").format(
                        sql.Identifier(f"{name}_{i}"), target, sql.SQL(", ").join(map(sql.Identifier, cols))))
                pg.execute(sql.SQL("ANALYZE {}").format(target))
                rows[t.name] = pg.execute(sql.SQL("SELECT count(*) FROM {}").format(target)).fetchone()[0]
            if reader_role:
                pg.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(staging),
                                                                          sql.Identifier(reader_role)))
                pg.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(
                    sql.Identifier(staging), sql.Identifier(reader_role)))
            pg.commit()
            # the swap: one transaction, so readers find either the old schema or the new one
            pg.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(f"{schema}_old")))
            exists = pg.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]).fetchone()
            if exists:
                pg.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(schema),
                                                                          sql.Identifier(f"{schema}_old")))
            pg.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(staging), sql.Identifier(schema)))
            if exists:
                pg.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(f"{schema}_old")))
            pg.commit()
    finally:
        source.close()
    log.info("copied the serving store into PostgreSQL schema %s: %d rows in %.1fs", schema, sum(rows.values()),
             time.time() - started)
    return rows
