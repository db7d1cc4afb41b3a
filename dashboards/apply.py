"""Load the dashboards and who sees what into Superset: run by `courtwatch superset setup` with Superset's Python.

`apply.py BUNDLE_DIR` imports every asset of BUNDLE_DIR (what courtwatch
writes from dashboards/assets, the databases pointed at the profile's serving
store and SQL endpoint) with Superset's asset importer, which overwrites: the
databases, datasets, charts and dashboards become exactly what the repository
says. Then the access rules, one role per kind of user and per court:

- courtwatch_guidance: the guidance center, every dashboard and every row.
- courtwatch_analyst: the same, plus SQL Lab on the warehouse's SQL endpoint
  and ad hoc SQL in charts.
- courtwatch_high_court_<ID>: one per high court of the registry (the serving
  store's courts); `datasource_access` on the datasets it reads and nothing
  else (no database access: no SQL Lab, no dataset of its own), each with a
  row-level security filter `province_code = '<code>'` (on the region
  roll-ups the national figures stay visible too: the benchmark).
- courtwatch_court_<ID>: one per lower court, its own court's rows
  (`court_id = '<ID>'`) of the datasets that have a court.
- courtwatch_viewer: what every non-admin account holds besides its court
  role: Superset's Gamma (the dashboards' pages) without writing charts,
  dashboards or datasets of its own.

A base filter `1 = 0` on every dataset shows nothing to a role without a rule
of its own. Ad hoc SQL is refused to every role but the analyst's and Admin
in dashboards/security_manager.py (beyond the SQL the saved chart holds).

Users: `apply.py BUNDLE_DIR PEOPLE_JSON` makes one Superset user per person
of PEOPLE_JSON (courtwatch/accounts.py: the demo's, each with their own
password) with the role of their kind and court; a user already there keeps
the password they have. With a directory (AUTH_LDAP) the list is empty: people
sign in from the directory and get these roles from its groups.
Running it again brings roles, filters and users' roles back to this definition.
"""
import json
import sys
from pathlib import Path

from flask import g
from superset.app import create_app

DATABASE, WAREHOUSE = "courtwatch", "courtwatch_warehouse"  # the serving store; the Spark SQL endpoint
GUIDANCE, ANALYST, VIEWER = "courtwatch_guidance", "courtwatch_analyst", "courtwatch_viewer"
HIGH_COURT, LOWER_COURT = "courtwatch_high_court_{}", "courtwatch_court_{}"
NO_RULE_NO_ROWS = "courtwatch_no_rule_no_rows"
NATIONAL_BENCHMARK = {"region_metrics"}  # datasets whose national rows every high court may see
# Gamma's permissions a dashboard reader does not need: making charts, dashboards, datasets, tags of one's own.
NOT_FOR_VIEWERS = {"can_write", "can_delete", "can_add", "can_edit", "can_tag", "can_save", "can_import",
                   "can_overwrite", "can_copy_dash", "can_save_dash", "can_add_slices"}


def import_assets(bundle: Path) -> None:
    from superset import security_manager as sm
    from superset.commands.importers.v1.assets import ImportAssetsCommand

    g.user = sm.find_user(username="admin")
    contents = {str(p.relative_to(bundle)): p.read_text() for p in sorted(bundle.rglob("*.yaml"))}
    ImportAssetsCommand(contents).run()
    print(f"imported {len(contents)} asset files from {bundle}")


def _rule(name, kind, tables, clause, roles, description):
    from superset import db
    from superset.connectors.sqla.models import RowLevelSecurityFilter

    rls = db.session.query(RowLevelSecurityFilter).filter_by(name=name).one_or_none()
    if rls is None:
        rls = RowLevelSecurityFilter(name=name)
        db.session.add(rls)
    rls.filter_type, rls.clause, rls.group_key, rls.description = kind, clause, None, description
    rls.tables, rls.roles = tables, roles


def grant_access(people: list[dict]) -> None:
    from superset import db, security_manager as sm
    from superset.connectors.sqla.models import SqlaTable
    from superset.models.core import Database

    database = db.session.query(Database).filter_by(database_name=DATABASE).one()
    warehouse = db.session.query(Database).filter_by(database_name=WAREHOUSE).one()
    datasets = db.session.query(SqlaTable).filter_by(database_id=database.id).all()
    courts = database.get_df(
        "SELECT court_id, court_name AS name, level, province_code FROM courts "
        "WHERE province_code IS NOT NULL ORDER BY court_id", schema=datasets[0].schema)

    def having(column):
        return [d for d in datasets if column in {c.column_name for c in d.columns}]

    by_province, by_court = having("province_code"), having("court_id")

    def role(name, grants):
        r = sm.find_role(name) or sm.add_role(name)
        r.permissions = [sm.add_permission_view_menu(p, v) for p, v in grants]
        return r

    def user(person, roles):
        name = person["username"]
        u = sm.find_user(username=name)
        if u is None:
            u = sm.add_user(name, person["first_name"], person["last_name"], f"{name}@courtwatch.invalid", roles,
                            person["password"])
            if not u:
                sys.exit(f"could not create user {name}")
        u.roles = roles

    gamma, sql_lab = sm.find_role("Gamma"), sm.find_role("sql_lab")
    viewer = role(VIEWER, [(p.permission.name, p.view_menu.name) for p in gamma.permissions
                           if p.permission.name not in NOT_FOR_VIEWERS])
    everything = [("all_datasource_access", "all_datasource_access")]
    guidance = role(GUIDANCE, everything)
    analyst = role(ANALYST, everything + [("all_database_access", "all_database_access"),
                                          ("database_access", warehouse.perm)])
    roles_of = {"guidance": [viewer, guidance], "analyst": [viewer, sql_lab, analyst]}

    ruled = [sm.find_role("Admin"), guidance, analyst]
    high = courts[courts.level == "HIGH"]
    for court in high.itertuples():
        name = HIGH_COURT.format(court.court_id)
        # the datasets that hold a province, and the store's publication time (no province's rows)
        reach = by_province + [d for d in datasets if d.table_name == "publication"]
        r = role(name, [("datasource_access", d.perm) for d in reach])
        own = f"province_code = '{court.province_code}'"
        note = f"{court.name}：仅本省（{court.province_code}）数据"
        # Its own province everywhere; on the region roll-ups also the national
        # figures, the benchmark every high court compares itself against.
        _rule(name, "Regular", [d for d in by_province if d.table_name not in NATIONAL_BENCHMARK], own, [r], note)
        _rule(f"{name}_benchmark", "Regular", [d for d in by_province if d.table_name in NATIONAL_BENCHMARK],
              f"({own} OR region_level = 'NATIONAL')", [r], note)
        _rule(f"{name}_publication", "Regular", [d for d in datasets if d.table_name == "publication"],
              "1 = 1", [r], "数据更新时间：不含任何省份的数据")
        ruled.append(r)
        roles_of[court.court_id] = [viewer, r]
    lower = courts[courts.level != "HIGH"]
    for court in lower.itertuples():
        name = LOWER_COURT.format(court.court_id)
        r = role(name, [("datasource_access", d.perm) for d in by_court])
        _rule(name, "Regular", by_court, f"court_id = '{court.court_id}'", [r], f"{court.name}：仅本院数据")
        ruled.append(r)
        roles_of[court.court_id] = [viewer, r]
    for p in people:
        user(p, roles_of[p["court_id"] or p["kind"]])
    # A base filter applies to every role except the ones it names: a role without a rule sees no row.
    _rule(NO_RULE_NO_ROWS, "Base", datasets, "1 = 0", ruled, "未配置行级权限的角色不可见任何数据")
    db.session.commit()
    print(f"access: {len(high)} high court and {len(lower)} court roles with row-level security on "
          f"{len(datasets)} datasets (none for a role without a rule); {len(people)} accounts")


def main(bundle: str, people: str) -> None:
    with create_app().app_context():
        import_assets(Path(bundle))
        grant_access(json.loads(Path(people).read_text()))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
