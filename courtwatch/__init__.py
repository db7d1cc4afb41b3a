"""courtwatch: the litigation service guidance center's warehouse."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def machine_description() -> str:
    """What a benchmark ran on, for its results file."""
    import os
    import platform

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.machine()}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"
