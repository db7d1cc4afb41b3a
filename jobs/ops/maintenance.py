"""Delta table upkeep: compaction (OPTIMIZE) and removal of unreferenced files (VACUUM).

Daily runs append many small files (a batch is small; every run commits to
the ledger, bronze, silver, gold). Compaction keeps reads fast; VACUUM keeps
storage bounded. The retention must exceed the longest pause of the daily
run: incremental steps read silver's change feed from the version the last
run reached, and VACUUM must not have removed those files (conf: 30 days).
"""
from __future__ import annotations

import logging
import time

from pyspark.sql import SparkSession

from schemas.warehouse import delta_tables

log = logging.getLogger("courtwatch")

MIN_RETENTION_HOURS = 168  # Delta's own safety floor; less would risk readers of recent versions


def maintain(spark: SparkSession, warehouse: str, retention_hours: int) -> list[dict]:
    """OPTIMIZE then VACUUM every table of the warehouse; returns what each did."""
    if retention_hours < MIN_RETENTION_HOURS:
        raise ValueError(f"retention of {retention_hours} h is below Delta's floor of {MIN_RETENTION_HOURS} h")
    done = []
    for declared in delta_tables():
        name = declared.name
        if not declared.exists(spark, warehouse):
            continue
        t = time.time()
        table = declared.delta_table(spark, warehouse)
        metrics = table.optimize().executeCompaction().select("metrics.numFilesAdded", "metrics.numFilesRemoved") \
            .collect()[0]
        table.vacuum(float(retention_hours))
        done.append({"table": name, "files_added": metrics[0], "files_removed": metrics[1],
                     "seconds": round(time.time() - t, 1)})
        log.info("maintained %s: %s", name, done[-1])
    return done
