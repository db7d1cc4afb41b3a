"""Independent pieces of one step, run side by side.

A step here is a chain of small Spark jobs and Delta commits, each of which
leaves a core and the driver idle much of the time (planning, the commit's
log I/O). Two chains that touch different tables finish sooner together than
one after the other. Each thread carries the caller's Spark local properties
(its job group): the warm driver cancels a command's jobs by its group when
the client goes away, and a thread of its own would escape that.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

from pyspark.util import inheritable_thread_target

T = TypeVar("T")


def side_by_side(*work: Callable[[], T], name: str = "side") -> list[T]:
    """Run each callable in a thread of its own; their results, in order.

    Every piece runs to its end before a failure is raised (the first one's),
    so none is left half-done behind the caller's back."""
    if len(work) == 1:
        return [work[0]()]
    with ThreadPoolExecutor(max_workers=len(work), thread_name_prefix=name) as pool:
        futures = [pool.submit(inheritable_thread_target(w)) for w in work]
    return [f.result() for f in futures]
