"""Superset's configuration for courtwatch (SUPERSET_CONFIG_PATH points here).

Everything that differs between machines comes from the environment, which
`courtwatch superset ...` sets from the profile and the git-ignored secrets
file: SUPERSET_SECRET_KEY, COURTWATCH_SUPERSET_HOME (metadata database,
logs), COURTWATCH_SUPERSET_DB (optional: a Postgres URI for the metadata), and
the results cache (COURTWATCH_CACHE_*: filesystem or Redis), which the
pipeline's publish step empties whenever a new serving store is in place.
"""
import os

from pyhive.sqlalchemy_hive import HiveDialect
from sqlalchemy import text
from superset.utils.log import StdOutEventLogger

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
# Who did what (each chart view, each query) goes to the log as one JSON line per event,
# not as a committed row of the metadata database per request: that row cost ~8% of a
# cached chart request on SQLite (py-spy, 2026-12-02).
EVENT_LOGGER = StdOutEventLogger()
_HOME = os.environ.get("COURTWATCH_SUPERSET_HOME", os.path.join(os.getcwd(), "data", "superset"))
SQLALCHEMY_DATABASE_URI = os.environ.get("COURTWATCH_SUPERSET_DB") or f"sqlite:///{_HOME}/superset.db"
DATA_DIR = _HOME

# Chinese interface; the guidance center reads Chinese, analysts may switch.
BABEL_DEFAULT_LOCALE = "zh"
LANGUAGES = {"zh": {"flag": "cn", "name": "Chinese"}, "en": {"flag": "us", "name": "English"}}
D3_FORMAT = {"decimal": ".", "thousands": ",", "grouping": [3], "currency": ["¥", ""]}
# Dates: the serving store keeps China's wall-clock time (as the Thrift Server's
# sessions show it), so dates and timestamps are shown as they are.

ROW_LIMIT = 50000
SQL_MAX_ROW = 100000
# No drill-to-detail or drill-by: every chart shows what it was saved to show (and the
# dataset-info requests they make for every chart slowed each dashboard by ~0.5 s).
FEATURE_FLAGS = {"DASHBOARD_RBAC": False, "ALERT_REPORTS": False, "THUMBNAILS": False,
                 "DRILL_BY": False, "DRILL_TO_DETAIL": False}
# No external images or fonts: the machine may have no internet.
TALISMAN_ENABLED = False
CONTENT_SECURITY_POLICY_WARNING = False
# Chart results are cached until the next publish (which empties the cache) or a day:
# a filesystem directory shared by the workers by default, Redis for several nodes.
_CACHE_BACKEND = os.environ.get("COURTWATCH_CACHE_BACKEND", "filesystem")
_CACHE_TIMEOUT = int(os.environ.get("COURTWATCH_CACHE_TIMEOUT", "86400"))
_CACHE_PREFIX = os.environ.get("COURTWATCH_CACHE_PREFIX", "courtwatch_")
if _CACHE_BACKEND == "redis":
    DATA_CACHE_CONFIG = {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": os.environ["COURTWATCH_CACHE_REDIS_URL"],
                         "CACHE_KEY_PREFIX": _CACHE_PREFIX, "CACHE_DEFAULT_TIMEOUT": _CACHE_TIMEOUT}
elif _CACHE_BACKEND == "filesystem":
    DATA_CACHE_CONFIG = {"CACHE_TYPE": "FileSystemCache", "CACHE_KEY_PREFIX": _CACHE_PREFIX,
                         "CACHE_DIR": os.environ.get("COURTWATCH_CACHE_DIR", os.path.join(_HOME, "cache")),
                         "CACHE_THRESHOLD": 100000, "CACHE_DEFAULT_TIMEOUT": _CACHE_TIMEOUT}
else:
    DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
# Metadata (dashboards, datasets) stays in-process: small, and refreshed on import.
CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 300}
# The dashboards read the serving store in milliseconds; SQL Lab on the Spark SQL
# endpoint may run an analyst's big join for minutes.
SUPERSET_WEBSERVER_TIMEOUT = 300
SQLLAB_TIMEOUT = 300


def _spark_table_names(self, connection, schema=None, **kw):
    """Spark's SHOW TABLES answers (namespace, tableName, isTemporary); PyHive takes column 0."""
    query = "SHOW TABLES"
    if schema:
        query += " IN " + self.identifier_preparer.quote_identifier(schema)
    return [row[1] for row in connection.execute(text(query))]


HiveDialect.get_table_names = _spark_table_names
