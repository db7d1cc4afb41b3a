"""Superset's security manager for courtwatch (CUSTOM_SECURITY_MANAGER): two rules on top of Superset's.

1. No ad hoc SQL from the dashboards: a chart request may carry only the SQL the saved charts hold.
2. With a directory, a person's roles are their groups (see get_roles_from_keys).

Rule 1:

Superset's chart data API (and the legacy explore_json one) takes a query
from the browser: its columns, metrics, filters and where/having clauses may
be SQL expressions, which Superset checks for subqueries but not for a
`... UNION ALL SELECT ...` that reads past row-level security (SECURITY.md).
Here every role but Admin and the analyst's (courtwatch_analyst, who has SQL
Lab anyway) may send only:

- column and metric names of the dataset (a name Superset does not know it
  would paste into the query as SQL, so an unknown name counts as SQL);
- SQL fragments that appear, as they are, in a saved chart of the same
  dataset: the repository's charts, which only Admin can change
  (courtwatch_viewer has no chart writing). Any saved chart, not only the one
  the request names: a chart's saved query does not name its own id, and a
  fragment an admin wrote for the dataset reads nothing a chart does not;
- filter values (Superset binds them as literals).

A request that asks for anything else is refused with a 403 and logged.
"""
from __future__ import annotations

import logging

from sql_fragments import requested_sql, saved_sql  # beside this file, on the config's path
from superset.errors import ErrorLevel, SupersetError, SupersetErrorType
from superset.exceptions import SupersetSecurityException
from superset.security import SupersetSecurityManager

log = logging.getLogger(__name__)
MAY_WRITE_SQL = {"Admin", "courtwatch_analyst"}


def _names(datasource) -> set[str]:
    columns = {c.column_name for c in getattr(datasource, "columns", [])}
    metrics = {m.metric_name for m in getattr(datasource, "metrics", [])}
    return columns | metrics


class CourtwatchSecurityManager(SupersetSecurityManager):
    def raise_for_access(self, *args, **kwargs) -> None:
        super().raise_for_access(*args, **kwargs)
        query_context, viz = kwargs.get("query_context"), kwargs.get("viz")
        if not (query_context or viz) or self._may_write_sql():
            return
        if query_context:
            datasource, form_data = query_context.datasource, query_context.form_data or {}
            queries = [q.to_dict() for q in query_context.queries]
        else:
            datasource, form_data = viz.datasource, viz.form_data or {}
            queries = [viz.query_obj()]
        asked = requested_sql(form_data, _names(datasource))
        for q in queries:
            # post-processing runs in pandas on the result, not in the database
            asked |= requested_sql({k: v for k, v in q.items() if k != "post_processing"}, _names(datasource))
        extra = asked - self._saved_sql_on(datasource) if asked else set()
        if extra:
            log.warning("refused ad hoc SQL from %s on %s: %s", self._username(), datasource.name, sorted(extra))
            raise SupersetSecurityException(SupersetError(
                error_type=SupersetErrorType.DATASOURCE_SECURITY_ACCESS_ERROR, level=ErrorLevel.ERROR,
                message="此角色不能在图表中使用自定义 SQL（仅可使用已保存图表中的表达式）"))

    def get_roles_from_keys(self, role_keys):
        """A directory person's roles: AUTH_ROLES_MAPPING (the admins' group), and each group under the
        directory's groups_dn named after a courtwatch role (cn=courtwatch_high_court_H11,...) as that
        role, with courtwatch_viewer (the dashboards' pages) beside it."""
        from flask import current_app

        roles = set(super().get_roles_from_keys(role_keys))
        groups_dn = (current_app.config.get("COURTWATCH_LDAP_GROUPS_DN") or "").lower()
        for key in role_keys:
            rdn, _, parent = key.partition(",")
            name = rdn[3:] if rdn.lower().startswith("cn=courtwatch_") else None
            if name and parent.strip().lower() == groups_dn and (role := self.find_role(name)):
                roles |= {role, self.find_role("courtwatch_viewer")}
        return {r for r in roles if r is not None}

    def _may_write_sql(self) -> bool:
        from flask import g

        user = getattr(g, "user", None)
        return bool(user is not None and not user.is_anonymous and
                    MAY_WRITE_SQL & {r.name for r in self.get_user_roles(user)})

    def _saved_sql_on(self, datasource) -> set[str]:
        """The SQL of every saved chart on the dataset: the repository's charts, which only Admin writes."""
        from superset.models.slice import Slice

        charts = self.session.query(Slice).filter(Slice.datasource_id == datasource.id,
                                                  Slice.datasource_type == "table").all()
        return set().union(*(saved_sql(c) for c in charts)) if charts else set()

    def _username(self) -> str:
        from flask import g

        return getattr(getattr(g, "user", None), "username", "?")
