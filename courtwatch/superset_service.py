"""Superset for courtwatch: set up from the repository, serve, and bring the serving stack up.

Superset lives in its own environment (.venv-superset: it pins SQLAlchemy < 2
and pandas < 2.2), so this module drives it through its command line:

- setup:  migrate its metadata database, create the admin, import the
          dashboards (dashboards/assets, pointed at the profile's serving store,
          and SQL Lab at its SQL endpoint) and apply the access rules
          (dashboards/apply.py). Safe to repeat.
- apply:  only the last two, after the dashboards changed.
- serve:  gunicorn on the profile's superset.host:port (127.0.0.1:8088).
- up/down: the SQL endpoint and Superset as background processes
          (logs and pid files under the Superset home), what `make demo` uses.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from courtwatch import accounts, dashboard_assets
from courtwatch.processes import start_background, stop
from courtwatch.progress import Progress
from courtwatch.settings import CacheSettings, Profile

ROOT = Path(__file__).resolve().parent.parent
SUPERSET_VENV = ROOT / ".venv-superset"


def sql_endpoint(profile: Profile) -> tuple[str, int]:
    return profile.sql.host, profile.sql.port


def environment(profile: Profile) -> dict[str, str]:
    home = profile.superset.home
    Path(home).mkdir(parents=True, exist_ok=True)
    cache = profile.superset.cache
    return {**os.environ,
            "COURTWATCH_CACHE_BACKEND": cache.backend, "COURTWATCH_CACHE_DIR": cache.directory,
            "COURTWATCH_CACHE_PREFIX": cache.key_prefix, "COURTWATCH_CACHE_TIMEOUT": str(cache.timeout_seconds),
            **({"COURTWATCH_CACHE_REDIS_URL": profile.secret(cache.redis_url_var)} if cache.backend == "redis" else {}),
            "SUPERSET_CONFIG_PATH": str(ROOT / "dashboards" / "superset_config.py"),
            "COURTWATCH_SUPERSET_HOME": home,
            "SUPERSET_HOME": home,
            "FLASK_APP": "superset",
            "SUPERSET_SECRET_KEY": profile.secret("SUPERSET_SECRET_KEY"),
            "COURTWATCH_TLS": "1" if profile.superset.tls else "0",
            **accounts.directory_environment(profile),
            "PATH": f"{SUPERSET_VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "SCARF_ANALYTICS": "false", "NO_PROXY": "*"}


def _superset(profile: Profile, *args: str) -> None:
    cmd = [str(SUPERSET_VENV / "bin" / "superset"), *args]
    done = subprocess.run(cmd, env=environment(profile), cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"`superset {' '.join(args[:2])}` failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def serving_uri(profile: Profile) -> str:
    """The serving store as Superset's SQLAlchemy reaches it."""
    if profile.serving.store == "postgres":
        dsn = profile.secret(profile.serving.postgres_dsn_var)
        return dsn.replace("postgresql://", "postgresql+psycopg2://", 1).replace("postgres://", "postgresql+psycopg2://", 1)
    return f"duckdb:///{profile.serving_store()}"  # an absolute path: duckdb:////...


def warehouse_uri(profile: Profile) -> str:
    """The SQL endpoint as SQL Lab reaches it: its own service account (SQL Lab is the analysts' alone)."""
    from urllib.parse import quote

    host, port = sql_endpoint(profile)
    user, password = profile.sql.sql_lab_user, quote(profile.secret(accounts.SQL_LAB_PASSWORD), safe="")
    auth = "LDAP" if profile.directory else "CUSTOM"
    return f"hive://{user}:{password}@{host}:{port}/default?auth={auth}"


def bundle(profile: Profile, directory: Path) -> Path:
    """The dashboards as asset files, pointed at the profile's serving store and SQL endpoint."""
    dashboard_assets.write(directory, serving_uri(profile), warehouse_uri(profile))
    return directory


def clear_results_cache(cache: CacheSettings, redis_url: str | None = None) -> str:
    """Empty Superset's results cache (after a publish): no chart of the old store is served again."""
    if cache.backend == "filesystem":
        directory = Path(cache.directory)
        files = [p for p in directory.iterdir() if p.is_file()] if directory.is_dir() else []
        for p in files:
            p.unlink(missing_ok=True)
        return f"results cache emptied ({len(files)} entries)"
    if cache.backend == "redis":
        import redis

        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{cache.key_prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        return f"results cache emptied ({len(keys)} entries)"
    return "no results cache"


def setup(profile: Profile) -> None:
    """Metadata database, admin, dashboards and access: everything Superset needs, from the repository."""
    with Progress("superset setup") as progress:
        with progress.task("metadata database (db upgrade)"):
            _superset(profile, "db", "upgrade")
        with progress.task("admin account"):
            _superset(profile, "fab", "create-admin", "--username", "admin", "--firstname", "courtwatch",
                      "--lastname", "admin", "--email", "admin@courtwatch.invalid",
                      "--password", profile.secret("SUPERSET_ADMIN_PASSWORD"))
        with progress.task("roles and permissions (init)"):
            _superset(profile, "init")
        with progress.task("dashboards and access rules") as report:
            report.summary = apply(profile)


def apply(profile: Profile) -> str:
    """Import the dashboards (overwriting) and apply the access rules (dashboards/apply.py).

    The high courts, one role each, are read from the serving store's courts.
    """
    if profile.serving.store == "duckdb" and not Path(profile.serving_store()).exists():
        raise RuntimeError(f"no serving store at {profile.serving_store()}: run `courtwatch run` "
                           "(or `courtwatch step publish`) first")
    # people sign in from the directory when there is one; else the demo's accounts, one per person
    people = [] if profile.directory else accounts.demo_accounts(profile)
    with tempfile.TemporaryDirectory() as tmp:  # owner-only: it holds the new accounts' passwords
        (Path(tmp) / "people.json").write_text(json.dumps(people, ensure_ascii=False))
        done = subprocess.run([str(SUPERSET_VENV / "bin" / "python"), str(ROOT / "dashboards" / "apply.py"),
                               str(bundle(profile, Path(tmp) / "bundle")), str(Path(tmp) / "people.json")],
                              env=environment(profile), cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"dashboards/apply.py failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    # its own report, not the audit events Superset logs on stdout meanwhile
    return "; ".join(line for line in done.stdout.splitlines() if line.startswith(("imported ", "access: ")))


def passwords(profile: Profile) -> dict[str, str]:
    """The demo accounts and their passwords, as the set-up wrote them (the operator's file)."""
    return accounts.PasswordFile(profile.superset.accounts_file).read()


def rotate_password(profile: Profile, username: str) -> str:
    """A new random password for one account: in Superset, the accounts file and (an analyst's) the SQL
    endpoint's."""
    import secrets

    if profile.directory:
        raise RuntimeError("people sign in from the directory: change the password there")
    file = accounts.PasswordFile(profile.superset.accounts_file)
    if username not in file.read():
        raise RuntimeError(f"{username} is not an account of {file.path}")
    password = secrets.token_urlsafe(12)
    _superset(profile, "fab", "reset-password", "--username", username, "--password", password)
    file.replace(username, password)
    accounts.write_sql_passwords(profile)
    return f"{username}: new password in {file.path}"


def serve_command(profile: Profile) -> list[str]:
    s = profile.superset
    return [str(SUPERSET_VENV / "bin" / "gunicorn"), "--bind", f"{s.host}:{s.port}",
            "--workers", str(s.workers), "--threads", "4", "--timeout", "300",
            "--access-logfile", "-", "superset.app:create_app()"]


def serve(profile: Profile) -> None:
    os.execvpe(serve_command(profile)[0], serve_command(profile), environment(profile))


def up(profile: Profile) -> None:
    """The SQL endpoint, then Superset set up and served: dashboards on the profile's warehouse."""
    home = Path(profile.superset.home)
    home.mkdir(parents=True, exist_ok=True)
    host, port = sql_endpoint(profile)
    courtwatch = str(Path(sys.executable).parent / "courtwatch")
    start_background("sql-server", [courtwatch, "--conf", profile.source, "sql-server"], dict(os.environ), home,
           host, port, 300)
    setup(profile)
    s = profile.superset
    start_background("superset", serve_command(profile), environment(profile), home, s.host, int(s.port), 180)
    print(f"dashboards: http://{s.host}:{s.port}/dashboard/list/ "
          f"(one account per person: guidance-01, analyst-01, one per court such as h11-01; "
          f"their passwords in {profile.superset.accounts_file}, admin's in {profile.secrets_file})")


def down(profile: Profile) -> None:
    home = Path(profile.superset.home)
    for name in ("superset", "sql-server"):
        if stop(home, name):
            print(f"{name}: stopped")
