"""Silver: one row per key at its latest valid version.

Versions are ordered by `updated_at`, then by arrival order (business_date,
batch_id, line): an exact duplicate or an older version arriving late changes
nothing. Silver keeps a change data feed, from which the metrics are kept
current incrementally.
"""
from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from jobs.silver.personal_data import keyed_hash
from schemas import Contract
from schemas.warehouse import table

# Versions sort by these: the record's own time, then its arrival (schemas/tables/silver/{source}).
ORDER = ["updated_at", "_business_date", "_batch_id", "_line_no"]


def to_silver_rows(valid: DataFrame, contract: Contract, hash_key: bytes) -> DataFrame:
    """Typed valid records -> silver columns: defaults applied, personal data hashed."""
    cols = []
    for f in contract.fields:
        value = F.col(f.name)
        if f.default is not None:
            value = F.coalesce(value, F.lit(f.default))
        if f.personal:
            value = keyed_hash(hash_key, value, f.type.startswith("list"))
        cols.append(value.cast(f.silver_type).alias(f.silver_name))
    lineage = [
        F.col("business_date").alias("_business_date"),
        F.col("batch_id").alias("_batch_id"),
        F.col("line_no").cast("int").alias("_line_no"),
        F.col("ingested_at").alias("_ingested_at"),
    ]
    return valid.select(*cols, *lineage)


def latest_per_key(rows: DataFrame, key: str) -> DataFrame:
    w = Window.partitionBy(key).orderBy(*[F.col(c).desc() for c in ORDER])
    return rows.withColumn("_rank", F.row_number().over(w)).where("_rank = 1").drop("_rank")


def _newer(s: str, t: str) -> str:
    """SQL: the source version s sorts after the target version t."""
    return (
        f"struct({', '.join(f'{s}.{c}' for c in ORDER)}) > "
        f"struct({', '.join(f'{t}.{c}' for c in ORDER)})"
    )


def _same_content(contract: Contract) -> str:
    cols = [f.silver_name for f in contract.fields]
    return f"struct({', '.join('s.' + c for c in cols)}) <=> struct({', '.join('t.' + c for c in cols)})"


def merge(spark: SparkSession, warehouse: str, rows: DataFrame, contract: Contract,
          commit_metadata: dict | None = None) -> None:
    """Upsert `rows` into silver; the commit carries `commit_metadata` (what the rows reflect)."""
    silver = table(f"silver.{contract.source}")
    silver.create_if_missing(spark, warehouse)
    latest = latest_per_key(rows, contract.key)
    (
        silver.delta_table(spark, warehouse, commit_metadata).alias("t")
        .merge(latest.alias("s"), f"t.{contract.key} = s.{contract.key}")
        # An exact duplicate arriving later changes nothing, not even lineage.
        .whenMatchedUpdateAll(condition=f"{_newer('s', 't')} AND NOT ({_same_content(contract)})")
        .whenNotMatchedInsertAll()
        .execute()
    )
