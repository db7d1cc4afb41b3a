"""Superset's configuration for courtwatch (SUPERSET_CONFIG_PATH points here).

Everything that differs between machines comes from the environment, which
`courtwatch superset ...` sets from the profile and the git-ignored secrets
file: SUPERSET_SECRET_KEY, COURTWATCH_SUPERSET_HOME (metadata database,
logs), COURTWATCH_SUPERSET_DB (optional: a Postgres URI for the metadata), and
the results cache (COURTWATCH_CACHE_*: filesystem or Redis), which the
pipeline's publish step empties whenever a new serving store is in place.
"""
import os
import sys

from pyhive.sqlalchemy_hive import HiveDialect
from sqlalchemy import text
from superset.utils.log import StdOutEventLogger

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
# Who may send which SQL from a chart, and a directory person's roles
# (dashboards/security_manager.py, beside this file).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from security_manager import CourtwatchSecurityManager  # noqa: E402

CUSTOM_SECURITY_MANAGER = CourtwatchSecurityManager
# No one signs themselves up, and no one sees a dashboard without signing in.
AUTH_USER_REGISTRATION = False
PUBLIC_ROLE_LIKE = None
# A directory (the profile's `directory:`): people sign in with their directory password; a
# first sign-in makes their Superset user, and each sign-in sets their roles from their groups.
if os.environ.get("COURTWATCH_LDAP_URL"):
    from flask_appbuilder.security.manager import AUTH_LDAP

    AUTH_TYPE = AUTH_LDAP
    AUTH_LDAP_SERVER = os.environ["COURTWATCH_LDAP_URL"]
    AUTH_LDAP_SEARCH = os.environ["COURTWATCH_LDAP_PEOPLE_DN"]  # analysts' entries are beneath it too
    AUTH_LDAP_UID_FIELD = "uid"
    AUTH_LDAP_BIND_USER = os.environ.get("COURTWATCH_LDAP_BIND_DN") or None
    AUTH_LDAP_BIND_PASSWORD = os.environ.get("COURTWATCH_LDAP_BIND_PASSWORD") or None
    AUTH_LDAP_FIRSTNAME_FIELD, AUTH_LDAP_LASTNAME_FIELD, AUTH_LDAP_EMAIL_FIELD = "givenName", "sn", "mail"
    AUTH_LDAP_GROUP_FIELD = "memberOf"
    AUTH_USER_REGISTRATION = True  # a directory person's first sign-in makes their user ...
    AUTH_USER_REGISTRATION_ROLE = "Public"  # ... with no rights but their groups' (PUBLIC_ROLE_LIKE is None)
    AUTH_ROLES_SYNC_AT_LOGIN = True
    COURTWATCH_LDAP_GROUPS_DN = os.environ["COURTWATCH_LDAP_GROUPS_DN"]
    AUTH_ROLES_MAPPING = {f"cn={os.environ['COURTWATCH_LDAP_ADMINS_GROUP']},{COURTWATCH_LDAP_GROUPS_DN}": ["Admin"]}
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
# Talisman: a content security policy with nothing from outside this server (the
# machine may have no internet, and a court's network should not call out), no framing
# by other sites, and the session cookie `Secure` when a TLS proxy serves the pages
# (COURTWATCH_TLS, from the profile's superset.tls; README "Serving over TLS").
_TLS = os.environ.get("COURTWATCH_TLS") == "1"
TALISMAN_ENABLED = True
TALISMAN_CONFIG = {
    "content_security_policy": {
        "base-uri": ["'self'"], "default-src": ["'self'"], "img-src": ["'self'", "blob:", "data:"],
        "worker-src": ["'self'", "blob:"], "connect-src": ["'self'"], "object-src": "'none'",
        "style-src": ["'self'", "'unsafe-inline'"], "font-src": ["'self'", "data:"],
        "script-src": ["'self'", "'strict-dynamic'"], "frame-ancestors": ["'self'"], "form-action": ["'self'"],
    },
    "content_security_policy_nonce_in": ["script-src"],
    "frame_options": "SAMEORIGIN",
    "force_https": False,  # the proxy terminates TLS and redirects
    "session_cookie_secure": _TLS,
    "strict_transport_security": _TLS,
}
SESSION_COOKIE_SECURE = _TLS
SESSION_COOKIE_SAMESITE = "Lax"
ENABLE_PROXY_FIX = _TLS  # the proxy's X-Forwarded-Proto/-For are believed only behind one
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
