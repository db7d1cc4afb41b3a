"""The court registry (reference/courts.csv) -> silver/courts.

The registry is small (a few thousand courts) and must be whole: a broken
registry stops the run with the reason, since no court could be routed.
"""
from __future__ import annotations

import re
from collections import Counter

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from schemas import contract
from schemas.warehouse import table

COURTS = table("silver.courts")


class RegistryError(ValueError):
    pass


def _check(rows: list[dict]) -> None:
    c = contract("courts")
    problems = []
    seen = set()
    for i, row in enumerate(rows, start=2):  # line 1 is the header
        for f in c.fields:
            v = row.get(f.name)
            if f.required and not v:
                problems.append(f"line {i}: {f.name} is missing")
            elif v and f.enum and v not in f.enum:
                problems.append(f"line {i}: {f.name}={v!r} is not one of {list(f.enum)}")
            elif v and f.pattern and not re.fullmatch(f.pattern, v):
                problems.append(f"line {i}: {f.name}={v!r} does not match {f.pattern}")
        if row["court_id"] in seen:
            problems.append(f"line {i}: court_id {row['court_id']} appears twice")
        seen.add(row["court_id"])
    for i, row in enumerate(rows, start=2):
        parent = row.get("parent_id")
        if row.get("level") != "SPC" and parent not in seen:
            problems.append(f"line {i}: parent_id {parent!r} of {row['court_id']} is not in the registry")
    if problems:
        raise RegistryError("reference/courts.csv is invalid:\n  " + "\n  ".join(problems[:20]))


def high_court_of(rows: list[dict]) -> dict[str, str | None]:
    """Each court's HIGH court, following parent_id upward (the SPC has none)."""
    by_id = {r["court_id"]: r for r in rows}
    out = {}
    for court_id in by_id:
        node, path = by_id[court_id], set()
        while node["level"] not in ("HIGH", "SPC"):
            if node["court_id"] in path:
                raise RegistryError(f"parent_id cycle through {node['court_id']}")
            path.add(node["court_id"])
            node = by_id[node["parent_id"]]
        out[court_id] = node["court_id"] if node["level"] == "HIGH" else None
        if out[court_id] is None and by_id[court_id]["level"] != "SPC":
            raise RegistryError(f"{court_id} has no HIGH court above it")
    return out


def read_registry(spark: SparkSession, landing: str) -> DataFrame:
    path = f"{landing.rstrip('/')}/reference/courts.csv"
    raw = spark.read.option("header", True).option("encoding", "UTF-8").schema(
        T.StructType([T.StructField(f.name, T.StringType()) for f in contract("courts").fields])
    ).option("enforceSchema", False).csv(path)
    rows = [{k: (v.strip() if v else None) for k, v in r.asDict().items()} for r in raw.collect()]
    if not rows:
        raise RegistryError(f"{path} holds no courts")
    _check(rows)
    high = high_court_of(rows)
    data = [
        {**r, "mobile_pilot": int(r["mobile_pilot"]), "high_court_id": high[r["court_id"]]}
        for r in rows
    ]
    return spark.createDataFrame(data, COURTS.schema).orderBy("court_id")


def registry_changed(current: DataFrame, stored: DataFrame) -> bool:
    """Whether the two hold different rows (as multisets). A few thousand rows:
    compared on the driver, without the shuffles of a distributed difference."""
    def rows(df: DataFrame) -> Counter:
        return Counter(tuple(r) for r in df.select(*COURTS.schema.fieldNames()).collect())

    return rows(current) != rows(stored)
