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

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from courtwatch import dashboard_assets
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
            "COURTWATCH_USER_PASSWORD": profile.secret("COURTWATCH_USER_PASSWORD"),
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


def bundle(profile: Profile, directory: Path) -> Path:
    """The dashboards as asset files, pointed at the profile's serving store and SQL endpoint."""
    host, port = sql_endpoint(profile)
    dashboard_assets.write(directory, serving_uri(profile), f"hive://courtwatch@{host}:{port}/default")
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
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run([str(SUPERSET_VENV / "bin" / "python"), str(ROOT / "dashboards" / "apply.py"),
                               str(bundle(profile, Path(tmp)))],
                              env=environment(profile), cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"dashboards/apply.py failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    # its own report, not the audit events Superset logs on stdout meanwhile
    return "; ".join(line for line in done.stdout.splitlines() if line.startswith(("imported ", "access: ")))


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
          f"(users admin, guidance, analyst and one per high court; passwords in {profile.secrets_file})")


def down(profile: Profile) -> None:
    home = Path(profile.superset.home)
    for name in ("superset", "sql-server"):
        if stop(home, name):
            print(f"{name}: stopped")
