"""Reading the published serving store from the services beside the dashboards (the demo accounts,
the guidance loop): the DuckDB file opened read-only, or the PostgreSQL schema it is copied to.
Opened for each read, so a newly published store is seen at once and never half of one."""
from __future__ import annotations

from courtwatch.settings import Profile


def rows(profile: Profile, sql: str, params: list | tuple = ()) -> list[dict]:
    """`sql` with {schema} before each table name (the PostgreSQL schema and a dot, or nothing) and
    ? for each parameter."""
    if profile.serving.store == "postgres":
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(profile.secret(profile.serving.postgres_dsn_var), row_factory=dict_row) as pg:
            return pg.execute(sql.format(schema=f"{profile.serving.postgres_schema}.").replace("?", "%s"),
                              params).fetchall()
    import duckdb

    with duckdb.connect(profile.serving_store(), read_only=True) as con:
        cursor = con.execute(sql.format(schema=""), list(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]
