"""One Spark session for the whole suite (local[2], few shuffle partitions)."""
from __future__ import annotations

import os
import socket

import pytest

# A test-only key: real keys come from the environment or .secrets/ (make secrets).
os.environ.setdefault("COURTWATCH_HASH_KEY", "test-only-hash-key-not-a-secret")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

TEST_KEY = os.environ["COURTWATCH_HASH_KEY"].encode()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for servers a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def profile():
    from courtwatch.config import load_profile

    return load_profile("test")


@pytest.fixture(scope="session")
def spark(profile):
    from courtwatch.spark import spark_session

    session = spark_session(profile, app_name="courtwatch-tests")
    yield session
    session.stop()


@pytest.fixture
def landing(tmp_path):
    from tests.landing import Landing

    return Landing(tmp_path / "landing")


@pytest.fixture
def warehouse(tmp_path):
    return str(tmp_path / "warehouse")


@pytest.fixture
def run(spark):
    """Run the whole pipeline, as `courtwatch run` does."""
    from jobs.pipeline import run as run_pipeline

    def _run(landing, warehouse, **kw):
        return run_pipeline(spark, str(landing.root if hasattr(landing, "root") else landing), warehouse,
                            TEST_KEY, **kw)

    return _run


def table(spark, warehouse, name):
    from jobs import delta_io

    return delta_io.read(spark, f"{warehouse}/{name}")
