"""What long work is doing: a live display on a terminal (rich), plain log lines otherwise.

    with Progress("run") as progress:
        with progress.task("ingest"):               # a step: its name, then its summary and time
            ...
        for day in progress.track(days, "days"):    # counted work: done of total, elapsed
            ...

Under Airflow, CI or a pipe there is no terminal: each step and every tenth
of counted work is one log line, so that a log still shows where a run is.
"""
from __future__ import annotations

import logging
import sys
import time
from contextlib import contextmanager
from typing import Iterable, Iterator, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

log = logging.getLogger("courtwatch")
Item = TypeVar("Item")


class Progress:
    def __init__(self, what: str, live: bool | None = None):
        self.what = what
        self.live = sys.stderr.isatty() if live is None else live
        self.started = time.time()
        self._rich = RichProgress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                  MofNCompleteColumn(), TimeElapsedColumn(),
                                  console=Console(stderr=True), transient=False) if self.live else None

    def __enter__(self) -> "Progress":
        if self._rich:
            self._rich.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._rich:
            self._rich.stop()
        self._say(f"{self.what} {'failed' if exc[0] else 'done'} after {time.time() - self.started:.1f}s")

    def _say(self, text: str) -> None:
        if self._rich:
            self._rich.console.print(text)
        else:
            log.info("%s", text)

    @contextmanager
    def task(self, name: str) -> Iterator["StepReport"]:
        """One step: shown while it runs; its summary (report.summary) and time when done."""
        report = StepReport()
        t = time.time()
        task_id = self._rich.add_task(f"{self.what}: {name}", total=None) if self._rich else None
        if not self._rich:
            self._say(f"{self.what}: {name} ...")
        try:
            yield report
        finally:
            if self._rich:
                self._rich.remove_task(task_id)
            summary = f": {report.summary}" if report.summary else ""
            self._say(f"{self.what}: {name} {time.time() - t:.1f}s{summary}")

    def track(self, items: Iterable[Item], description: str, total: int | None = None) -> Iterator[Item]:
        """Iterate, showing done of total and the time elapsed."""
        items = list(items) if total is None else items
        total = len(items) if total is None else total
        task_id = self._rich.add_task(f"{self.what}: {description}", total=total) if self._rich else None
        every = max(1, total // 10)
        for done, item in enumerate(items, start=1):
            yield item
            if self._rich:
                self._rich.advance(task_id)
            elif done % every == 0 or done == total:
                self._say(f"{self.what}: {description} {done}/{total} ({time.time() - self.started:.0f}s)")
        if self._rich:
            self._rich.remove_task(task_id)


class StepReport:
    """What a step says of itself when it ends."""

    summary: str = ""
