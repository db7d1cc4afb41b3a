"""OPTIMIZE and VACUUM over the warehouse: fewer files, the same rows, time travel kept within retention."""
from __future__ import annotations

import pytest

from jobs.ops.maintenance import maintain

pytestmark = pytest.mark.integration


def _files(spark, path):
    return spark.sql(f"DESCRIBE DETAIL delta.`{path}`").collect()[0]["numFiles"]


def test_compaction_keeps_every_row(spark, warehouse):
    path = f"{warehouse}/ops/runs"
    for i in range(6):  # six small commits, as six daily runs would leave
        spark.createDataFrame([(f"r{i}", "succeeded")], "run_id string, status string") \
            .write.format("delta").mode("append").save(path)
    before = sorted(spark.read.format("delta").load(path).collect())
    assert _files(spark, path) == 6

    done = maintain(spark, warehouse, retention_hours=720)

    assert [d["table"] for d in done] == ["ops.runs"]  # only tables that exist
    assert _files(spark, path) == 1
    assert sorted(spark.read.format("delta").load(path).collect()) == before
    # files of older versions are within retention: time travel still reads them
    assert spark.read.format("delta").option("versionAsOf", 2).load(path).count() == 3


def test_retention_below_deltas_floor_is_refused(spark, warehouse):
    with pytest.raises(ValueError, match="below Delta's floor"):
        maintain(spark, warehouse, retention_hours=1)
