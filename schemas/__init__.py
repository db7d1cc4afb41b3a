"""The declarations everything else reads: the exchange contract (here, from
schemas/exchange/*.yaml), the warehouse's tables (schemas/warehouse.py, from
schemas/tables/), the metric catalog (schemas/metric_catalog.py) and China's
working-day calendar (schemas/workdays.py).

Everything that needs to know a record's shape reads the contract: the
record checks (jobs/silver/record_rules.py), the silver tables' types and the
Great Expectations suites (quality/suites.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from pyspark.sql import types as T

SCHEMA_DIR = Path(__file__).resolve().parent
SOURCES = ("cases", "hotline", "mediation")

SPARK_TYPES = {
    "string": T.StringType(),
    "int": T.IntegerType(),
    "long": T.LongType(),
    "double": T.DoubleType(),
    "bool": T.BooleanType(),
    "date": T.DateType(),
    "timestamp": T.TimestampType(),
    "list<string>": T.ArrayType(T.StringType()),
}


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    required: bool = False
    enum: tuple[str, ...] | None = None
    min: int | None = None
    max: int | None = None
    pattern: str | None = None
    default: int | None = None
    not_before: str | None = None  # value >= that field's value
    present_iff: str | None = None  # present exactly when that field is set (true, for a bool)
    only_with: str | None = None  # may be present only when that field is
    personal: bool = False

    @property
    def silver_name(self) -> str:
        """Personal data reaches silver only as a keyed hash."""
        return f"{self.name}_hash" if self.personal else self.name

    @property
    def silver_type(self) -> T.DataType:
        return SPARK_TYPES[self.type]


@dataclass(frozen=True)
class Contract:
    source: str
    key: str
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    @property
    def personal(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.personal)

    def silver_schema(self) -> T.StructType:
        return T.StructType([T.StructField(f.silver_name, f.silver_type) for f in self.fields])


@cache
def contract(source: str) -> Contract:
    raw = yaml.safe_load((SCHEMA_DIR / "exchange" / f"{source}.yaml").read_text())
    fields = []
    for spec in raw["fields"]:
        spec = dict(spec)
        if spec.get("enum") is not None:
            spec["enum"] = tuple(spec["enum"])
        if spec["type"] not in SPARK_TYPES:
            raise ValueError(f"{source}.{spec['name']}: unknown type {spec['type']}")
        fields.append(Field(**spec))
    return Contract(source=raw["source"], key=raw["key"], fields=tuple(fields))
