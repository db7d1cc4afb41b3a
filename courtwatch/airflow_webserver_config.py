"""Airflow's sign-in from the directory (FAB's AUTH_LDAP), read by Airflow's FAB auth manager.

`courtwatch airflow ...` points `[fab] config_file` here when the profile names a
directory (courtwatch/orchestration.py); the settings come from the same environment
Superset's sign-in reads (courtwatch.accounts.directory_environment). Without a
directory Airflow keeps its simple auth manager with one generated password per
operator, and this file is not read.

Who gets what: members of the operators group run the pipeline (Airflow's `Op`: DAG
runs, task clears, connections, no user admin, which the directory does); members of
the admins group are Airflow's `Admin`; anyone else in the directory signs in to a
`Public` role that sees nothing.
"""
import os

from flask_appbuilder.const import AUTH_LDAP

AUTH_TYPE = AUTH_LDAP
AUTH_LDAP_SERVER = os.environ["COURTWATCH_LDAP_URL"]
AUTH_LDAP_SEARCH = os.environ["COURTWATCH_LDAP_PEOPLE_DN"]  # analysts' entries are beneath it too
AUTH_LDAP_UID_FIELD = "uid"
AUTH_LDAP_BIND_USER = os.environ.get("COURTWATCH_LDAP_BIND_DN") or None
AUTH_LDAP_BIND_PASSWORD = os.environ.get("COURTWATCH_LDAP_BIND_PASSWORD") or None
AUTH_LDAP_FIRSTNAME_FIELD, AUTH_LDAP_LASTNAME_FIELD, AUTH_LDAP_EMAIL_FIELD = "givenName", "sn", "mail"
AUTH_LDAP_GROUP_FIELD = "memberOf"
AUTH_USER_REGISTRATION = True  # a directory person's first sign-in makes their Airflow user ...
AUTH_USER_REGISTRATION_ROLE = "Public"  # ... with no rights but their groups'
AUTH_ROLES_SYNC_AT_LOGIN = True
_GROUPS_DN = os.environ["COURTWATCH_LDAP_GROUPS_DN"]
AUTH_ROLES_MAPPING = {
    f"cn={os.environ['COURTWATCH_LDAP_OPERATORS_GROUP']},{_GROUPS_DN}": ["Op"],
    f"cn={os.environ['COURTWATCH_LDAP_ADMINS_GROUP']},{_GROUPS_DN}": ["Admin"],
}
