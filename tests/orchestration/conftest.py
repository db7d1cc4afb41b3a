"""Airflow reads its configuration when first imported: set courtwatch's environment first."""
import os

from courtwatch.settings import load_profile
from courtwatch.orchestration import airflow_environment

os.environ.update(airflow_environment(load_profile(os.environ.get("COURTWATCH_PROFILE", "test"))))
