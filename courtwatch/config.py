"""Configuration profiles (conf/*.yaml) and secrets.

A profile is data: where landing and warehouse live and how Spark runs.
Secrets never live in the repository: they come from the environment or from
the git-ignored secrets file that `make setup` generates.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from courtwatch import ROOT

CONF_DIR = ROOT / "conf"
HASH_KEY_VAR = "COURTWATCH_HASH_KEY"


def _is_uri(path: str) -> bool:
    return "://" in path


def resolve_location(path: str) -> str:
    """A URI stays as it is; a relative local path is taken from the repo root."""
    if _is_uri(path):
        return path.rstrip("/")
    p = Path(path)
    return str(p if p.is_absolute() else (ROOT / p).resolve())


@dataclass
class Profile:
    name: str
    landing: str
    warehouse: str
    spark_master: str
    spark_conf: dict[str, str] = field(default_factory=dict)
    secrets_file: str | None = None
    raw: dict = field(default_factory=dict)
    source: str = "local"  # how to load this profile again: its name in conf/, or its file

    def secret(self, var: str) -> str:
        """A secret from the environment, else from the profile's secrets file."""
        if os.environ.get(var):
            return os.environ[var]
        if self.secrets_file:
            path = Path(resolve_location(self.secrets_file))
            if path.exists():
                for line in path.read_text().splitlines():
                    key, sep, value = line.partition("=")
                    if sep and key.strip() == var:
                        return value.strip()
        raise RuntimeError(
            f"secret {var} is not set: export it or run `make secrets` "
            f"(writes {self.secrets_file or 'a secrets file'})"
        )

    def hash_key(self) -> bytes:
        return self.secret(HASH_KEY_VAR).encode("utf-8")


def load_profile(name: str | None = None) -> Profile:
    """A profile by name (conf/NAME.yaml) or by the path of its YAML file."""
    name = name or os.environ.get("COURTWATCH_PROFILE", "local")
    path = Path(name) if name.endswith((".yaml", ".yml")) else CONF_DIR / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in CONF_DIR.glob("*.yaml"))
        raise SystemExit(f"unknown profile {name!r}; conf/ has {known}")
    raw = yaml.safe_load(path.read_text()) or {}
    defaults = yaml.safe_load((CONF_DIR / "spark-defaults.yaml").read_text())
    spark = raw.get("spark", {})
    conf = {k: str(v) for k, v in defaults.items()}
    conf.update({k: str(v) for k, v in (spark.get("conf") or {}).items()})
    return Profile(
        name=path.stem,
        landing=resolve_location(raw.get("landing", "data/landing")),
        warehouse=resolve_location(raw.get("warehouse", "data/warehouse")),
        spark_master=os.environ.get("COURTWATCH_SPARK_MASTER", spark.get("master", "local[*]")),
        spark_conf=conf,
        secrets_file=raw.get("secrets_file"),
        raw=raw,
        source=str(path.resolve()) if path.parent != CONF_DIR else path.stem,
    )


GENERATED_SECRETS = (HASH_KEY_VAR, "AIRFLOW_JWT_SECRET", "AIRFLOW_SECRET_KEY",
                     "SUPERSET_SECRET_KEY", "SUPERSET_ADMIN_PASSWORD", "COURTWATCH_USER_PASSWORD")


def ensure_secrets(path: str = ".secrets/courtwatch.env", names=GENERATED_SECRETS) -> None:
    """Add a fresh random value for each secret the file lacks (`make secrets`); never replace one."""
    import secrets

    file = Path(resolve_location(path))
    file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = file.read_text() if file.exists() else ""
    have = {line.partition("=")[0].strip() for line in text.splitlines()}
    missing = [n for n in names if n not in have]
    if missing:
        old = os.umask(0o077)
        try:
            with file.open("a") as f:
                if text and not text.endswith("\n"):
                    f.write("\n")
                for n in missing:
                    # passwords are typed into login forms: shorter, still 96 random bits
                    value = secrets.token_urlsafe(12) if n.endswith("PASSWORD") else secrets.token_hex(32)
                    f.write(f"{n}={value}\n")
        finally:
            os.umask(old)
