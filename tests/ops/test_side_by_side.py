"""Pieces of a step run side by side: each to its end, in the caller's Spark job group."""
from __future__ import annotations

import threading
import time

import pytest

from jobs.ops.side_by_side import side_by_side

pytestmark = pytest.mark.integration


def test_pieces_run_in_the_callers_job_group(spark):
    # the warm driver cancels a command's jobs by this group when its client goes away
    sc = spark.sparkContext
    sc.setJobGroup("run-42", "a command in the warm driver")
    try:
        groups = side_by_side(*[lambda: (sc.getLocalProperty("spark.jobGroup.id"),
                                         threading.current_thread().name)] * 2)
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    assert [g for g, _ in groups] == ["run-42", "run-42"]
    assert all(name != threading.current_thread().name for _, name in groups)


def test_a_failure_is_raised_once_every_piece_has_ended(spark):
    ended = threading.Event()

    def fails():
        raise ValueError("broken piece")

    def slow():
        time.sleep(0.2)  # still running when the other piece fails
        ended.set()

    with pytest.raises(ValueError, match="broken piece"):
        side_by_side(fails, slow)
    assert ended.is_set()
