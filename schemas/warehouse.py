"""The warehouse's tables, each declared once in schemas/tables/LAYER/TABLE/.

A table's folder holds `metadata.yaml` (description, key, partitioning, Delta
properties, whether it is append-only) and `schema.yaml` (its columns, with
types and a one-line description), in the style of mozilla/bigquery-etl. A
folder named `{source}` declares one table per source of the exchange
contract (cases, hotline, mediation). Writers, the SQL endpoint, the
maintenance job, the run ledger's rollback and the README's table list all
read these declarations; a job names a table (`table("gold.alerts")`) and
never spells a path or a schema of its own.

The `serving` layer is the dashboards' store (jobs/serving/publish.py): not
Delta, but DuckDB or PostgreSQL tables, each declared the same way plus the
`query.sql` that makes it from the Delta tables.

Commit metadata (the input versions a derived table reflects) goes with each
write as a writer option, and with a MERGE through a session of its own: a
session-wide setting would tag the commits other threads make meanwhile.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache

import yaml
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from schemas import SCHEMA_DIR, SOURCES, SPARK_TYPES, contract

TABLES_DIR = SCHEMA_DIR / "tables"
LAYERS = ("bronze", "silver", "work", "gold", "ops", "serving")  # in the order data flows
DELTA_LAYERS = LAYERS[:-1]
USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str

    @property
    def spark_type(self) -> T.DataType:
        return SPARK_TYPES[self.type]


@dataclass(frozen=True)
class Table:
    name: str  # layer.table, the name SQL users see
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    partitioned_by: tuple[str, ...] = ()
    properties: dict[str, str] = field(default_factory=dict, hash=False)
    append_only: bool = False  # rows carry _run_id; an unfinished run's rows are deleted (run ledger)
    source: str | None = None  # the contract source of a per-source table
    query: str | None = None  # serving: the SQL that makes it (DuckDB, over the Delta tables)
    indexes: tuple[tuple[str, ...], ...] = ()  # serving: the PostgreSQL option's indexes
    # serving: a publish over an earlier store remakes only the rows of the `refresh_by` values that
    # changed in the `refresh_from` tables since (their change feeds); empty: remade whole. The
    # promise: those columns are in each `refresh_from` table, and a row with given values is made
    # only from their rows with the same values (so the refresh reads no others).
    refresh_by: tuple[str, ...] = ()
    refresh_from: tuple[str, ...] = ()
    # serving: columns copied onto many rows from one input row (a province's figures beside each of
    # its courts'): the rows of `update_from` whose `update_by` values changed are set again in place
    # by `update` (update.sql: its changed keys are `_changed`), not by remaking every row they touch.
    update_by: tuple[str, ...] = ()
    update_from: str | None = None
    update: str | None = None

    @property
    def in_delta(self) -> bool:
        return self.layer in DELTA_LAYERS

    @property
    def layer(self) -> str:
        return self.name.split(".")[0]

    @property
    def short_name(self) -> str:
        """The name within its layer (gold.alerts -> alerts): a serving table's name in the store."""
        return self.name.split(".")[1]

    @property
    def path(self) -> str:
        """Under the warehouse root: layer/table."""
        return self.name.replace(".", "/")

    @property
    def schema(self) -> T.StructType:
        return T.StructType([T.StructField(c.name, c.spark_type) for c in self.columns])

    def location(self, warehouse: str) -> str:
        return f"{warehouse.rstrip('/')}/{self.path}"

    # --- reading and writing the Delta table at that location ---------------

    def exists(self, spark: SparkSession, warehouse: str) -> bool:
        from delta.tables import DeltaTable

        return DeltaTable.isDeltaTable(spark, self.location(warehouse))

    def read(self, spark: SparkSession, warehouse: str) -> DataFrame:
        """The table, or an empty frame of its schema where it does not exist yet."""
        if self.exists(spark, warehouse):
            return spark.read.format("delta").load(self.location(warehouse))
        return spark.createDataFrame([], self.schema)

    def create_if_missing(self, spark: SparkSession, warehouse: str) -> None:
        from delta.tables import DeltaTable

        if self.exists(spark, warehouse):
            return
        builder = DeltaTable.createIfNotExists(spark).location(self.location(warehouse)).addColumns(self.schema)
        if self.partitioned_by:
            builder = builder.partitionedBy(*self.partitioned_by)
        for key, value in self.properties.items():
            builder = builder.property(key, value)
        builder.execute()

    def add_missing_columns(self, spark: SparkSession, warehouse: str) -> None:
        """Add the declared columns an existing table lacks (new columns are nullable: old rows read null)."""
        have = set(spark.read.format("delta").load(self.location(warehouse)).schema.fieldNames())
        missing = [f for f in self.schema.fields if f.name not in have]
        if missing:
            columns = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in missing)
            spark.sql(f"ALTER TABLE delta.`{self.location(warehouse)}` ADD COLUMNS ({columns})")

    def append(self, df: DataFrame, warehouse: str) -> None:
        """Append rows (creating the table as declared first); columns in declared order."""
        self.create_if_missing(df.sparkSession, warehouse)
        df.select(*self.schema.fieldNames()).write.format("delta").mode("append").save(self.location(warehouse))

    def append_rows(self, spark: SparkSession, rows: list, warehouse: str) -> None:
        self.append(spark.createDataFrame(rows, self.schema), warehouse)

    def overwrite(self, df: DataFrame, warehouse: str, commit_metadata: dict | None = None) -> None:
        """Replace the whole table with `df`, as declared (partitioning, properties)."""
        writer = df.select(*self.schema.fieldNames()).write.format("delta").mode("overwrite") \
            .option("overwriteSchema", True).partitionBy(*self.partitioned_by)
        for key, value in self.properties.items():
            writer = writer.option(key, value)
        if commit_metadata is not None:
            writer = writer.option("userMetadata", _metadata_text(commit_metadata))
        writer.save(self.location(warehouse))
        # Writer options set properties only when the write creates the table; an overwrite keeps
        # those a table has, so an older table is given them once per process, not at every write.
        self.ensure_properties(df.sparkSession, warehouse)

    def ensure_properties(self, spark: SparkSession, warehouse: str) -> None:
        """Give an existing table the Delta properties it is declared with (a table made before they
        were declared, e.g. a change feed a later reader needs). Looked at once per process."""
        where = self.location(warehouse)
        if self.properties and where not in _PROPERTIES_CHECKED:
            self._set_declared_properties(spark, warehouse)
            _PROPERTIES_CHECKED.add(where)

    def _set_declared_properties(self, spark: SparkSession, warehouse: str) -> None:
        have = self.delta_table(spark, warehouse).detail().first()["properties"] or {}
        missing = {k: v for k, v in self.properties.items() if have.get(k) != v}
        if missing:
            settings = ", ".join(f"{k} = '{v}'" for k, v in missing.items())
            spark.sql(f"ALTER TABLE delta.`{self.location(warehouse)}` SET TBLPROPERTIES ({settings})")

    def delta_table(self, spark: SparkSession, warehouse: str, commit_metadata: dict | None = None):
        """The DeltaTable, for MERGE, UPDATE and DELETE. With `commit_metadata`, bound to
        a session of its own whose commits carry it (a writer option cannot reach a MERGE)."""
        from delta.tables import DeltaTable

        if commit_metadata is not None:
            spark = _committing(spark, commit_metadata)
        return DeltaTable.forPath(spark, self.location(warehouse))

    def note(self, spark: SparkSession, warehouse: str, commit_metadata: dict) -> None:
        """A commit that changes no row, carrying `commit_metadata` (an evaluation that changed nothing
        still records what it read). Delta commits no empty append: this sets a table property
        to the metadata's digest, which changes whenever the metadata does."""
        import hashlib

        digest = hashlib.sha256(_metadata_text(commit_metadata).encode()).hexdigest()[:16]
        _committing(spark, commit_metadata).sql(
            f"ALTER TABLE delta.`{self.location(warehouse)}` SET TBLPROPERTIES ('courtwatch.last_note' = '{digest}')")

    def version(self, spark: SparkSession, warehouse: str) -> int:
        return self.delta_table(spark, warehouse).history(1).collect()[0]["version"]

    def last_commit_metadata(self, spark: SparkSession, warehouse: str, key: str) -> dict | None:
        """The newest commit's user metadata that carries `key`: which input versions
        a derived table reflects, so that a run killed between two tables resumes exactly."""
        if not self.exists(spark, warehouse):
            return None
        # the newest few commits first: the whole history reads every commit file the log keeps
        # (hundreds after months of daily runs), and the commit wanted is almost always among them
        for limit in (8, None):
            history = self.delta_table(spark, warehouse).history(limit) if limit else \
                self.delta_table(spark, warehouse).history()
            rows = history.select("userMetadata").collect()
            for row in rows:
                if row["userMetadata"]:
                    meta = json.loads(row["userMetadata"])
                    if key in meta:
                        return meta
            if limit and len(rows) < limit:
                return None  # that was the whole history
        return None


_PROPERTIES_CHECKED: set[str] = set()  # ensure_properties: the tables this process looked at


def _committing(spark: SparkSession, meta: dict) -> SparkSession:
    """A session of its own whose commits carry `meta` (the others' commits do not)."""
    session = spark.newSession()
    session.conf.set(USER_METADATA, _metadata_text(meta))
    return session


def _metadata_text(meta: dict) -> str:
    return json.dumps(meta, sort_keys=True, default=str)


def _columns(spec: dict, source: str | None, declared: dict[str, Table]) -> tuple[Column, ...]:
    cols: list[Column] = []
    if "columns_from_contract" in spec:
        name = spec["columns_from_contract"].format(source=source)
        for f in contract(name).fields:
            what = "keyed hash (HMAC-SHA256) of " if f.personal else ""
            cols.append(Column(f.silver_name, f.type, f"{what}the contract's {f.name}"))
    if "columns_from_table" in spec:
        cols.extend(declared[spec["columns_from_table"]].columns)
    for c in spec.get("columns") or []:
        if set(c) != {"name", "type", "description"}:
            raise ValueError(f"column {c} should have exactly a name, a type and a description")
        if c["type"] not in SPARK_TYPES:
            raise ValueError(f"unknown type {c['type']!r} of column {c['name']}; one of {sorted(SPARK_TYPES)}")
        cols.append(Column(c["name"], c["type"], c["description"]))
    return tuple(cols)


def _declare(folder, declared: dict[str, Table]) -> list[Table]:
    meta = yaml.safe_load((folder / "metadata.yaml").read_text()) or {}
    spec = yaml.safe_load((folder / "schema.yaml").read_text()) or {}
    layer = folder.parent.name
    refresh = meta.get("refresh") or {}
    out = []
    for source in (SOURCES if meta.get("per_source") else (None,)):
        key = (contract(source).key,) if meta.get("key_from_contract") else tuple(meta.get("key") or ())
        out.append(Table(
            name=f"{layer}.{source or folder.name}",
            description=meta["description"].format(source=source),
            columns=_columns(spec, source, declared),
            key=key,
            partitioned_by=tuple(meta.get("partitioned_by") or ()),
            properties={k: str(v) for k, v in (meta.get("properties") or {}).items()},
            append_only=bool(meta.get("append_only", False)),
            source=source,
            query=(folder / "query.sql").read_text() if (folder / "query.sql").exists() else None,
            indexes=tuple(tuple(i) for i in meta.get("indexes") or ()),
            refresh_by=tuple(refresh.get("by") or ()),
            refresh_from=tuple(refresh.get("changes_from") or ()),
            update_by=tuple(refresh.get("update_by") or ()),
            update_from=refresh.get("update_from"),
            update=(folder / "update.sql").read_text() if (folder / "update.sql").exists() else None,
        ))
    return out


@cache
def tables() -> dict[str, Table]:
    """Every table of the warehouse by its SQL name (layer.table), in declaration order."""
    declared: dict[str, Table] = {}
    folders = sorted(p.parent for p in TABLES_DIR.glob("*/*/metadata.yaml"))
    # a table that borrows another's columns is declared after it
    folders.sort(key=lambda f: "columns_from_table" in (f / "schema.yaml").read_text())
    for folder in folders:
        for t in _declare(folder, declared):
            declared[t.name] = t
    return dict(sorted(declared.items(), key=lambda kv: (LAYERS.index(kv[1].layer), kv[0])))


def delta_tables() -> list[Table]:
    """The warehouse's Delta tables (every layer but serving)."""
    return [t for t in tables().values() if t.in_delta]


def serving_tables() -> list[Table]:
    """The serving store's tables (each query reads Delta tables only)."""
    return [t for t in tables().values() if not t.in_delta]


def table(name: str) -> Table:
    try:
        return tables()[name]
    except KeyError:
        raise KeyError(f"no table {name!r} is declared in schemas/tables/; known: {sorted(tables())}") from None


def markdown() -> str:
    """The README's table list, from the declarations (`courtwatch tables --readme` writes it)."""
    lines = ["| table | key | holds |", "| --- | --- | --- |"]
    for t in tables().values():
        notes = []
        if t.partitioned_by:
            notes.append(f"partitioned by {', '.join(t.partitioned_by)}")
        if t.append_only:
            notes.append("append-only, rows carry `_run_id`")
        if "delta.enableChangeDataFeed" in t.properties:
            notes.append("change data feed")
        if not t.in_delta:
            notes.append("in the serving store, made by its query.sql")
        extra = f" ({'; '.join(notes)})" if notes else ""
        lines.append(f"| `{t.name}` | {', '.join(f'`{k}`' for k in t.key) or '-'} | {t.description}{extra} |")
    return "\n".join(lines)


README_START = "<!-- tables: generated from schemas/tables/ by `courtwatch tables --readme` -->"
README_END = "<!-- /tables -->"


def readme_with_tables(readme: str) -> str:
    """The README with its table section replaced by the list the declarations make."""
    head, start, rest = readme.partition(README_START)
    _, end, tail = rest.partition(README_END)
    if not start or not end:
        raise ValueError(f"README.md has no section between {README_START} and {README_END}")
    return f"{head}{README_START}\n{markdown()}\n{README_END}{tail}"
