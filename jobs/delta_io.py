"""Small helpers over Delta tables addressed by path."""
from __future__ import annotations

import json

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession


def exists(spark: SparkSession, path: str) -> bool:
    return DeltaTable.isDeltaTable(spark, path)


def read(spark: SparkSession, path: str, schema=None) -> DataFrame:
    """The table, or an empty frame of `schema` where it does not exist yet."""
    if exists(spark, path):
        return spark.read.format("delta").load(path)
    if schema is None:
        raise FileNotFoundError(path)
    return spark.createDataFrame([], schema)


def create_if_missing(spark: SparkSession, path: str, schema, partition_by=(), properties: dict | None = None) -> None:
    if exists(spark, path):
        return
    builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(schema)
    if partition_by:
        builder = builder.partitionedBy(*partition_by)
    for key, value in (properties or {}).items():
        builder = builder.property(key, value)
    builder.execute()


def version(spark: SparkSession, path: str) -> int:
    return DeltaTable.forPath(spark, path).history(1).collect()[0]["version"]


def last_commit_metadata(spark: SparkSession, path: str, key: str) -> dict | None:
    """The newest commit's user metadata that carries `key` (see with_commit_metadata)."""
    if not exists(spark, path):
        return None
    for row in DeltaTable.forPath(spark, path).history().select("userMetadata").collect():
        if row["userMetadata"]:
            meta = json.loads(row["userMetadata"])
            if key in meta:
                return meta
    return None


class with_commit_metadata:
    """Tag the Delta commits made inside the block with JSON user metadata.

    A derived table records in its own commit which input versions it
    reflects, so that a run killed between two tables can be resumed exactly.
    """

    CONF = "spark.databricks.delta.commitInfo.userMetadata"

    def __init__(self, spark: SparkSession, meta: dict):
        self.spark, self.meta = spark, meta

    def __enter__(self):
        self.spark.conf.set(self.CONF, json.dumps(self.meta, sort_keys=True, default=str))

    def __exit__(self, *exc):
        self.spark.conf.unset(self.CONF)
