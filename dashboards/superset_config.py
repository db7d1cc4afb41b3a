"""Superset's configuration for courtwatch (SUPERSET_CONFIG_PATH points here).

Everything that differs between machines comes from the environment, which
`courtwatch superset ...` sets from the profile and the git-ignored secrets
file: SUPERSET_SECRET_KEY, COURTWATCH_SUPERSET_HOME (metadata database,
logs), COURTWATCH_SUPERSET_DB (optional: a Postgres URI for the metadata).
"""
import os

from pyhive.sqlalchemy_hive import HiveDialect
from sqlalchemy import text

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
_HOME = os.environ.get("COURTWATCH_SUPERSET_HOME", os.path.join(os.getcwd(), "data", "superset"))
SQLALCHEMY_DATABASE_URI = os.environ.get("COURTWATCH_SUPERSET_DB") or f"sqlite:///{_HOME}/superset.db"
DATA_DIR = _HOME

# Chinese interface; the guidance center reads Chinese, analysts may switch.
BABEL_DEFAULT_LOCALE = "zh"
LANGUAGES = {"zh": {"flag": "cn", "name": "Chinese"}, "en": {"flag": "us", "name": "English"}}
D3_FORMAT = {"decimal": ".", "thousands": ",", "grouping": [3], "currency": ["¥", ""]}
# Dates: the Thrift Server's sessions run in China time (spark.sql.session.timeZone),
# so dates and timestamps arrive as the courts' local time and are shown as they are.

ROW_LIMIT = 50000
SQL_MAX_ROW = 100000
FEATURE_FLAGS = {"DASHBOARD_RBAC": False, "ALERT_REPORTS": False, "THUMBNAILS": False}
# No external images or fonts: the machine may have no internet.
TALISMAN_ENABLED = False
CONTENT_SECURITY_POLICY_WARNING = False
# Caches stay in-process: a demo needs no Redis.
CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 300}
DATA_CACHE_CONFIG = CACHE_CONFIG
# The metrics are Spark SQL over a local Thrift Server: give big joins time.
SUPERSET_WEBSERVER_TIMEOUT = 300
SQLLAB_TIMEOUT = 300


def _spark_table_names(self, connection, schema=None, **kw):
    """Spark's SHOW TABLES answers (namespace, tableName, isTemporary); PyHive takes column 0."""
    query = "SHOW TABLES"
    if schema:
        query += " IN " + self.identifier_preparer.quote_identifier(schema)
    return [row[1] for row in connection.execute(text(query))]


HiveDialect.get_table_names = _spark_table_names
