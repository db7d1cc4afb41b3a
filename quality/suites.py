"""Great Expectations suites for silver, derived from schemas/ (not written by hand).

The record checks already keep invalid records out of silver; these suites
are the independent second look, and every run stores their results in
ops/quality_results so that a drift shows up in the feed-health dashboard.
"""
from __future__ import annotations

import importlib
import json
import logging
import os
import threading
from datetime import datetime, timezone

from pyspark.sql import DataFrame, SparkSession

from schemas import Contract
from schemas.warehouse import table

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

RESULTS = table("ops.quality_results")
_ONE_AT_A_TIME = threading.Lock()


def expectations(contract: Contract) -> list:
    import great_expectations.expectations as gxe

    out = []
    for f in contract.fields:
        col = f.silver_name
        if f.required or f.default is not None:
            out.append(gxe.ExpectColumnValuesToNotBeNull(column=col))
        if f.enum:
            out.append(gxe.ExpectColumnValuesToBeInSet(column=col, value_set=list(f.enum)))
        if f.min is not None or f.max is not None:
            out.append(gxe.ExpectColumnValuesToBeBetween(column=col, min_value=f.min, max_value=f.max))
        if f.pattern:
            out.append(gxe.ExpectColumnValuesToMatchRegex(column=col, regex=f.pattern))
        if f.not_before:
            out.append(gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=col, column_B=f.not_before, or_equal=True, ignore_row_if="either_value_is_missing"))
        if f.personal:
            # a keyed hash, never the value itself: 64 hex digits
            if f.type == "string":
                out.append(gxe.ExpectColumnValuesToMatchRegex(column=col, regex="^[0-9a-f]{64}$"))
    return out


def suite(contract: Contract):
    import great_expectations as gx

    s = gx.ExpectationSuite(name=f"silver_{contract.source}")
    for e in expectations(contract):
        s.add_expectation(e)
    return s


def validate(df: DataFrame, contract: Contract) -> list[dict]:
    """Run the contract's suite on a Spark DataFrame; one dict per expectation.

    A suite that passes, as nearly every one does, is known from one aggregate
    over the frame (BOOLEAN_ONLY): every expectation met on every row, so each
    counted the frame's rows and found none unexpected. Counts and examples of
    unexpected values (a Spark job per expectation: ~1 s a source on a small
    day) are fetched only for a suite that fails, by running it again.
    """
    results = _run(df, contract, {"result_format": "BOOLEAN_ONLY"})
    if all(r.success for r in results):
        n = df.count()  # df is cached by the intake: no second read
        return [_row(r.expectation_config, True, n, 0, {"partial_unexpected_list": []}) for r in results]
    rows = []
    for r in _run(df, contract, {"result_format": "BASIC", "partial_unexpected_count": 20}):
        res = r.result or {}
        rows.append(_row(r.expectation_config, bool(r.success), res.get("element_count"), res.get("unexpected_count"),
                         {k: v for k, v in res.items() if k.startswith("partial_unexpected_list")}))
    return rows


def _row(cfg, success: bool, element_count, unexpected_count, examples: dict) -> dict:
    return {
        "expectation": cfg.type,
        "column": cfg.kwargs.get("column") or f"{cfg.kwargs.get('column_A')},{cfg.kwargs.get('column_B')}",
        "success": success,
        "element_count": element_count,
        "unexpected_count": unexpected_count,
        "details": json.dumps(examples, default=str)[:2000],
    }


def _run(df: DataFrame, contract: Contract, result_format: dict) -> list:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_def = (
        context.data_sources.add_spark(name="silver")
        .add_dataframe_asset(name=contract.source)
        .add_batch_definition_whole_dataframe("incoming")
    )
    s = context.suites.add(suite(contract))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(data=batch_def, suite=s, name=f"v_{contract.source}"))
    return definition.run(batch_parameters={"dataframe": df}, result_format=result_format).results


def preload() -> None:
    """Import Great Expectations in the background (~8 s of imports). Ingestion
    starts this once the batches are judged: landing them is mostly waiting on
    Spark, and the library is needed only after each source's silver rows are checked."""
    threading.Thread(target=importlib.import_module, args=("great_expectations",), daemon=True).start()


def create_results_table(spark: SparkSession, warehouse: str) -> None:
    RESULTS.create_if_missing(spark, warehouse)


def validate_and_store(spark: SparkSession, df: DataFrame, contract: Contract, warehouse: str, run_id: str) -> list[dict]:
    with _ONE_AT_A_TIME:  # sources land side by side; a GE context is not known to be thread-safe
        rows = validate(df, contract)
    at = datetime.now(timezone.utc)
    RESULTS.append_rows(
        spark, [(run_id, contract.source, f"silver_{contract.source}", r["expectation"], r["column"], r["success"],
                 r["element_count"], r["unexpected_count"], r["details"], at, run_id) for r in rows], warehouse)
    return rows


class QualityGateFailed(RuntimeError):
    """Silver holds rows the contract's suites reject: gold must not be built on them."""


def gate(failed: list[tuple[str, dict]]) -> str:
    """The quality verdict on an intake's suites: (source, result) of each failed expectation.

    Rejected batches and quarantined records are the contract working as meant
    and are only reported. A failed expectation on the rows bound for silver means
    a record got past the record rules that should not have: that stops the run
    before gold.
    """
    if failed:
        detail = "; ".join(f"{source}.{r['column']} {r['expectation']} ({r['unexpected_count']} rows)"
                           for source, r in failed[:10])
        raise QualityGateFailed(f"{len(failed)} expectation(s) failed: {detail}")
    return "every expectation met"
