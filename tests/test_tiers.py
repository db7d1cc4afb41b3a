"""No test depends on another having run: one test of each tier, alone in a fresh pytest.

Each is one that reads state other tests build or change (the ingestion test once
counted a case an earlier test had delivered), run with nothing before it.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from courtwatch import ROOT

pytestmark = [pytest.mark.system, pytest.mark.timeout(900)]
ALONE = {
    "unit": "tests/alerts/test_episodes.py::test_unchanged_rerun_changes_nothing",
    "integration": "tests/landing/test_ingest.py::test_same_manifest_written_again_is_a_duplicate",
    "system": "tests/orchestration/test_pull.py::test_pull_refuses_paths_outside_the_courts_own_batches",
}


@pytest.mark.parametrize("tier", sorted(ALONE))
def test_a_test_of_each_tier_passes_alone(tier):
    done = subprocess.run([sys.executable, "-m", "pytest", ALONE[tier], "-m", tier, "-q", "-p", "no:cacheprovider"],
                          cwd=ROOT, capture_output=True, text=True, timeout=800)
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-3000:]
