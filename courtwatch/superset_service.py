"""Superset for courtwatch: set up from the repository, serve, and bring the serving stack up.

Superset lives in its own environment (.venv-superset: it pins SQLAlchemy < 2
and pandas < 2.2), so this module drives it through its command line:

- setup:  migrate its metadata database, create the admin, import the
          dashboards (dashboards/assets, pointed at the profile's SQL endpoint)
          and apply the access rules (dashboards/apply.py). Safe to repeat.
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
from courtwatch.settings import Profile

ROOT = Path(__file__).resolve().parent.parent
SUPERSET_VENV = ROOT / ".venv-superset"


def sql_endpoint(profile: Profile) -> tuple[str, int]:
    return profile.sql.host, profile.sql.port


def environment(profile: Profile) -> dict[str, str]:
    home = profile.superset.home
    Path(home).mkdir(parents=True, exist_ok=True)
    return {**os.environ,
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


def bundle(profile: Profile, directory: Path) -> Path:
    """The dashboards as asset files, the database pointed at the profile's SQL endpoint."""
    host, port = sql_endpoint(profile)
    dashboard_assets.write(directory, f"hive://courtwatch@{host}:{port}/default")
    return directory


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

    The high courts, one role each, are read from silver.courts over the SQL endpoint.
    """
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run([str(SUPERSET_VENV / "bin" / "python"), str(ROOT / "dashboards" / "apply.py"),
                               str(bundle(profile, Path(tmp)))],
                              env=environment(profile), cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"dashboards/apply.py failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return "; ".join(done.stdout.strip().splitlines()[-2:])


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
