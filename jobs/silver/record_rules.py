"""Record checks derived from the contract declaration (schemas/).

A landed line is parsed into a VARIANT, so a field's JSON type is known exactly
(a string "12" is not an int); every rule of the contract becomes one
expression that yields the rule's id when broken. Valid records proceed typed;
the others go to quarantine with the rules they broke.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from schemas import Contract, Field

INT_TYPES = ("TINYINT", "SMALLINT", "INT", "BIGINT")
DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# ISO 8601 with an offset: courts send +08:00; Z is UTC.
TIMESTAMP_RE = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})$"
)


def _kind(name: str) -> str:
    """The column holding a field's JSON type, found once per record."""
    return f"_kind_{name}"


def _raw(name: str) -> str:
    """The column holding a field's value, taken out of the record once."""
    return f"_raw_{name}"


def _present(name: str) -> Column:
    """Present: in the object and not JSON null."""
    return F.coalesce(F.col(_kind(name)) != F.lit("VOID"), F.lit(False))


def _as(name: str, spark_type: str) -> Column:
    return F.expr(f"try_variant_get(`{_raw(name)}`, '$', '{spark_type}')")


def typed_value(f: Field) -> Column:
    """The field's value in its contract type, null where absent or of the wrong type."""
    t = F.col(_kind(f.name))
    if f.type == "string":
        return F.when(t == "STRING", _as(f.name, "string"))
    if f.type == "int":
        return F.when(t.isin(*INT_TYPES), _as(f.name, "int"))
    if f.type == "bool":
        return F.when(t == "BOOLEAN", _as(f.name, "boolean"))
    if f.type == "list<string>":
        return F.when(t.isin("ARRAY<STRING>", "ARRAY<VOID>"), _as(f.name, "array<string>"))
    s = F.when(t == "STRING", _as(f.name, "string"))
    if f.type == "date":
        return F.when(s.rlike(DATE_RE), F.try_to_date(s, "yyyy-MM-dd"))
    if f.type == "timestamp":
        return F.when(s.rlike(TIMESTAMP_RE), F.try_to_timestamp(s))
    raise ValueError(f.type)


def _holds(f: Field) -> Column:
    """The condition a `present_iff` rule refers to: a bool that is true, else presence."""
    if f.type == "bool":
        return F.coalesce(F.col(f.name), F.lit(False))
    return F.col(f.name).isNotNull()


def field_rules(contract: Contract) -> list[tuple[str, Column]]:
    """(rule id, condition under which the record breaks it), in declaration order.

    Evaluated on a frame that has `_v` (the parsed record) and one typed column per field.
    """
    rules: list[tuple[str, Column]] = []
    for f in contract.fields:
        present, value = _present(f.name), F.col(f.name)
        if f.required:
            missing = ~present
            if f.type == "string":
                missing = missing | (value == F.lit(""))
            rules.append((f"required:{f.name}", missing))
        rules.append((f"type:{f.name}", present & value.isNull()))
        if f.enum:
            rules.append((f"enum:{f.name}", value.isNotNull() & ~value.isin(*f.enum)))
        if f.min is not None:
            rules.append((f"min:{f.name}", value < F.lit(f.min)))
        if f.max is not None:
            rules.append((f"max:{f.name}", value > F.lit(f.max)))
        if f.pattern:
            rules.append((f"pattern:{f.name}", ~value.rlike(f.pattern)))
        if f.not_before:
            rules.append((f"not_before:{f.name}:{f.not_before}", value < F.col(f.not_before)))
        if f.present_iff:
            other = contract.field(f.present_iff)
            rules.append((f"present_iff:{f.name}:{other.name}", present != _holds(other)))
        if f.only_with:
            rules.append((f"only_with:{f.name}:{f.only_with}", present & ~_present(f.only_with)))
    return rules


def check_records(lines: DataFrame, contract: Contract, registry: DataFrame) -> DataFrame:
    """Parse and check landed lines of one source.

    `lines` has `record` (the line as received) and `batch_court_id`. The result
    adds one typed column per contract field and `rules`, the ids of the rules
    the record breaks (empty for a valid record).
    """
    parsed = lines.withColumn("_v", F.expr("try_parse_json(record)"))
    # Each field's value and JSON type are taken out of the record once; the
    # typed value and every rule read them from there (a third of the cost).
    raw = parsed.select("*", *[F.expr(f"variant_get(_v, '$.{f.name}')").alias(_raw(f.name))
                               for f in contract.fields])
    kinds = raw.select("*", *[F.schema_of_variant(F.col(_raw(f.name))).alias(_kind(f.name)) for f in contract.fields])
    typed = kinds.select("*", *[typed_value(f).alias(f.name) for f in contract.fields])
    known = registry.select(F.col("court_id").alias("_known_court"))
    typed = typed.join(F.broadcast(known), typed["court_id"] == known["_known_court"], "left")
    checks = field_rules(contract) + [
        ("court_mismatch", F.col("court_id") != F.col("batch_court_id")),
        ("court_unknown", F.col("court_id").isNotNull() & F.col("_known_court").isNull()),
    ]
    broken = F.array(*[F.when(F.coalesce(cond, F.lit(False)), F.lit(rule)) for rule, cond in checks])
    helpers = ["_v", "_known_court"] + [c for f in contract.fields for c in (_raw(f.name), _kind(f.name))]
    return typed.withColumn("rules", F.filter(broken, lambda r: r.isNotNull())).drop(*helpers)
