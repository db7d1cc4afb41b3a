"""Load the dashboards and who sees what into Superset: run by `courtwatch superset setup` with Superset's Python.

`apply.py BUNDLE_DIR` imports every asset of BUNDLE_DIR (what courtwatch
writes from dashboards/assets, the databases pointed at the profile's serving
store and SQL endpoint) with Superset's asset importer, which overwrites: the
databases, datasets, charts and dashboards become exactly what the repository
says. Then the access rules:

- courtwatch_guidance: the guidance center, every dashboard and every row.
- courtwatch_high_court_<ID>: one per high court of the registry (the serving
  store's courts); its dashboards show only its own province's rows, by a
  row-level security filter `province_code = '<code>'` on every dataset that
  has a province (on the region roll-ups the national figures stay visible
  too: the benchmark).
- courtwatch_analyst: everything, plus SQL Lab on the warehouse's SQL endpoint.

Users: `guidance`, `analyst` and one per high court named by its court id,
all with the password in COURTWATCH_USER_PASSWORD (a generated secret).
Running it again brings roles, filters and users back to this definition.
"""
import os
import sys
from pathlib import Path

from flask import g
from superset.app import create_app

DATABASE, WAREHOUSE = "courtwatch", "courtwatch_warehouse"  # the serving store; the Spark SQL endpoint
GUIDANCE, ANALYST, HIGH_COURT = "courtwatch_guidance", "courtwatch_analyst", "courtwatch_high_court_{}"
NATIONAL_BENCHMARK = {"region_metrics"}  # datasets whose national rows every high court may see


def import_assets(bundle: Path) -> None:
    from superset import security_manager as sm
    from superset.commands.importers.v1.assets import ImportAssetsCommand

    g.user = sm.find_user(username="admin")
    contents = {str(p.relative_to(bundle)): p.read_text() for p in sorted(bundle.rglob("*.yaml"))}
    ImportAssetsCommand(contents).run()
    print(f"imported {len(contents)} asset files from {bundle}")


def grant_access() -> None:
    from superset import db, security_manager as sm
    from superset.connectors.sqla.models import RowLevelSecurityFilter, SqlaTable
    from superset.models.core import Database

    database = db.session.query(Database).filter_by(database_name=DATABASE).one()
    warehouse = db.session.query(Database).filter_by(database_name=WAREHOUSE).one()
    datasets = db.session.query(SqlaTable).filter_by(database_id=database.id).all()
    schema = datasets[0].schema
    high_courts = database.get_df(
        "SELECT court_id, court_name AS name, province_code FROM courts "
        "WHERE level = 'HIGH' AND province_code IS NOT NULL ORDER BY court_id", schema=schema)
    # a dataset without a province (the store's publication row) holds nothing of any one province
    by_province = [d for d in datasets if "province_code" in {c.column_name for c in d.columns}]
    password = os.environ["COURTWATCH_USER_PASSWORD"]

    def role(name, grants):
        r = sm.find_role(name) or sm.add_role(name)
        r.permissions = [sm.add_permission_view_menu(p, v) for p, v in grants]
        return r

    def user(username, first, last, roles):
        u = sm.find_user(username=username)
        if u is None:
            u = sm.add_user(username, first, last, f"{username}@courtwatch.invalid", roles, password)
            if not u:
                sys.exit(f"could not create user {username}")
        else:
            u.roles = roles
            sm.reset_password(u.id, password)
        return u

    gamma, sql_lab = sm.find_role("Gamma"), sm.find_role("sql_lab")
    dataset_grants = [("datasource_access", d.perm) for d in datasets] + [("database_access", database.perm)]
    everything = [("all_datasource_access", "all_datasource_access")]
    user("guidance", "诉讼服务指导中心", "用户", [gamma, role(GUIDANCE, everything)])
    user("analyst", "数据分析", "用户", [gamma, sql_lab, role(ANALYST, everything + [
        ("all_database_access", "all_database_access"), ("database_access", warehouse.perm)])])

    for court in high_courts.itertuples():
        name = HIGH_COURT.format(court.court_id)
        r = role(name, dataset_grants)
        own = f"province_code = '{court.province_code}'"
        # Their own province everywhere; on the region roll-ups also the national
        # figures, the benchmark every high court compares itself against.
        rules = {name: ([d for d in by_province if d.table_name not in NATIONAL_BENCHMARK], own),
                 f"{name}_benchmark": ([d for d in by_province if d.table_name in NATIONAL_BENCHMARK],
                                       f"({own} OR region_level = 'NATIONAL')")}
        for rule, (tables, clause) in rules.items():
            rls = db.session.query(RowLevelSecurityFilter).filter_by(name=rule).one_or_none()
            if rls is None:
                rls = RowLevelSecurityFilter(name=rule)
                db.session.add(rls)
            rls.filter_type = "Regular"
            rls.description = f"{court.name}：仅本省（{court.province_code}）数据"
            rls.clause = clause
            rls.group_key = None
            rls.tables = tables
            rls.roles = [r]
        user(court.court_id, court.name, "用户", [gamma, r])
    db.session.commit()
    print(f"access: {len(high_courts)} high court roles with row-level security on {len(by_province)} datasets; "
          f"users guidance, analyst, {', '.join(high_courts.court_id)}")


def main(bundle: str) -> None:
    with create_app().app_context():
        import_assets(Path(bundle))
        grant_access()


if __name__ == "__main__":
    main(sys.argv[1])
