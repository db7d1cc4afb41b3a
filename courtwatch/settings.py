"""Settings: configuration profiles (conf/NAME.yaml), the alert rules, and secrets.

A profile is typed data, validated once when it is loaded: an unknown key, a
wrong type or a value out of range fails at start-up with the file, the key
and what was expected, never later inside a job. Every default lives here
(or, for the alert rules, in jobs/alerts/rules.py) and nowhere else.
Relative paths are taken from the repository root.

Secrets never live in the repository: they come from the environment or from
the git-ignored secrets file that `make setup` generates.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from courtwatch import ROOT
from jobs.alerts.rules import AlertRules
from jobs.guidance.loop import Limits

CONF_DIR = ROOT / "conf"
HASH_KEY_VAR = "COURTWATCH_HASH_KEY"
SPARK_MASTER_VAR = "COURTWATCH_SPARK_MASTER"


class SettingsError(ValueError):
    """A configuration file that does not say what courtwatch needs; names file and key."""


def resolve_location(path: str) -> str:
    """A URI stays as it is; a relative local path is taken from the repo root."""
    if "://" in path:
        return path.rstrip("/")
    p = Path(path)
    return str(p if p.is_absolute() else (ROOT / p).resolve())


Location = Annotated[str, AfterValidator(resolve_location)]
Port = Annotated[int, Field(gt=0, lt=65536)]
# Spark takes every setting as a string; YAML may have read 8 or true.
SparkValue = Annotated[str, BeforeValidator(lambda v: str(v).lower() if isinstance(v, bool) else str(v))]


class _Section(BaseModel):
    # validate_default: a default path is resolved like a configured one
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class SparkSettings(_Section):
    master: str = "local[*]"
    conf: dict[str, SparkValue] = {}
    # the warm driver's socket, key, pid and log (`courtwatch worker up`): a directory of its owner's only
    worker_dir: Location = "data/spark-worker"


class AirflowSettings(_Section):
    home: Location = "data/airflow"  # metadata database (SQLite), logs, run files
    schedule: str = "30 2 * * *"  # 02:30 China time, once the courts' nightly exports are in
    timezone: str = "Asia/Shanghai"
    start_date: date = date(2026, 9, 1)
    catchup: bool = False  # backfill explicitly: courtwatch airflow backfill create ...
    retries: int = Field(2, ge=0)
    retry_delay_minutes: float = Field(5, ge=0)
    api_host: str = "127.0.0.1"
    api_port: Port = 8080
    # the people who run the pipeline: one Airflow account each (Airflow's own sign-in), whose
    # generated passwords Airflow keeps in passwords_file (in the owner-only .secrets/)
    operators: tuple[str, ...] = ("operator-01",)
    passwords_file: Location = ".secrets/airflow-passwords.json"


class PullEndpoint(_Section):
    court_id: str
    url: str


class PullSettings(_Section):
    endpoints: tuple[PullEndpoint, ...] = ()  # courts that publish their batches over HTTP (court_pull.py)


class IngestSettings(_Section):
    # A daily run looks for deliveries dated from this many days before the newest
    # batch taken; `courtwatch run --rescan` looks at every date (an older straggler).
    lookback_days: int = Field(31, gt=0)


class MaintenanceSettings(_Section):
    # VACUUM keeps this long: longer than any pause of the daily run, whose incremental
    # steps read silver's change feed; Delta's own floor is 168 h.
    retention_hours: int = Field(720, ge=168)


class SqlSettings(_Section):
    host: str = "127.0.0.1"
    port: Port = 10001
    # the SQL endpoint's own directory (its service account's): the catalog, scratch space, ...
    metastore: Location = "data/metastore"
    # ... and, without a directory, the salted hashes of the accounts it lets in (courtwatch/accounts.py);
    # default: sql-passwords in the metastore directory
    passwords_file: Location | None = None
    sql_lab_user: str = "sqllab"  # SQL Lab's service account (its password: COURTWATCH_SQL_LAB_PASSWORD)
    # the unprivileged OS account the endpoint runs as when root starts it (courtwatch/service_account.py);
    # null: as whoever starts it
    service_account: str | None = "courtwatch-sql"

    @model_validator(mode="after")
    def _passwords_beside_the_catalog(self) -> "SqlSettings":
        if self.passwords_file is None:
            object.__setattr__(self, "passwords_file", str(Path(self.metastore) / "sql-passwords"))
        return self


class DirectorySettings(_Section):
    """An LDAP directory (court IT's) people sign in from: Superset, the SQL endpoint, Airflow's UI.

    People are entries uid=USER under people_dn; analysts (the only ones the SQL endpoint
    lets in, SQL Lab's service account among them) under analysts_dn; a person's roles are
    the groups (groupOfNames, with the memberOf overlay) under groups_dn named after
    courtwatch's roles, e.g. cn=courtwatch_high_court_H11 (dashboards/apply.py names them).
    """
    url: str  # ldap://host:389, or ldaps://host:636
    people_dn: str  # e.g. ou=people,dc=court,dc=example
    analysts_dn: str  # e.g. ou=analysts,ou=people,dc=court,dc=example
    groups_dn: str  # e.g. ou=groups,dc=court,dc=example
    admins_group: str = "courtwatch_admins"  # its members are Superset's and Airflow's Admin
    operators_group: str = "courtwatch_operators"  # its members run the pipeline in Airflow (role Op)
    bind_dn: str | None = None  # who searches the directory for Superset (anonymous when unset)
    bind_password_var: str = "COURTWATCH_LDAP_BIND_PASSWORD"


class ServingSettings(_Section):
    """The dashboards' store (jobs/serving/): a DuckDB file, copied into PostgreSQL too by choice."""
    store: Literal["duckdb", "postgres"] = "duckdb"
    duckdb_path: Location | None = None  # default: WAREHOUSE-serving/courtwatch.duckdb beside a local warehouse
    # postgres: the connection comes from the environment (a secret), never from this file
    postgres_dsn_var: str = "COURTWATCH_SERVING_DSN"
    postgres_schema: str = "serving"
    postgres_reader_role: str | None = None  # granted SELECT on each new schema (Superset's login)


class CacheSettings(_Section):
    """Superset's results cache (Flask-Caching), emptied whenever a new store is published."""
    backend: Literal["filesystem", "redis", "none"] = "filesystem"
    directory: Location | None = None  # default: cache/ in the Superset home
    redis_url_var: str = "COURTWATCH_CACHE_REDIS_URL"  # redis://... from the environment
    key_prefix: str = "courtwatch_"
    timeout_seconds: int = Field(86400, gt=0)  # results live until the next publish (or a day)


class SupersetSettings(_Section):
    home: Location = "data/superset"
    host: str = "127.0.0.1"
    port: Port = 8088
    workers: int = Field(2, gt=0)
    cache: CacheSettings = CacheSettings()
    # the demo accounts' own random passwords (one person each), owner-only, git-ignored
    accounts_file: Location = ".secrets/accounts.env"
    # true when browsers reach Superset through a TLS reverse proxy: `Secure` cookies, HSTS
    tls: bool = False

    @model_validator(mode="before")
    @classmethod
    def _cache_in_home(cls, data):
        """The filesystem cache lives in the Superset home unless told otherwise."""
        if isinstance(data, dict):
            cache = dict(data.get("cache") or {})
            cache.setdefault("directory", str(Path(data.get("home") or "data/superset") / "cache"))
            data = {**data, "cache": cache}
        return data


class GuidanceSettings(_Section):
    """The guidance loop's web service (courtwatch/guidance/, ../shared/spec/guidance.md)."""
    host: str = "127.0.0.1"
    port: Port = 8090
    # the action log: SQLite in the service's home by default; PostgreSQL from a secret (a DSN such
    # as postgresql://user:password@host/db in the environment), never from this file
    database: Literal["sqlite", "postgres"] = "sqlite"
    home: Location = "data/guidance"
    postgres_dsn_var: str = "COURTWATCH_GUIDANCE_DSN"
    # time limits in working days (China's calendar, make-up working days included)
    acknowledge_working_days: int = Field(1, gt=0)
    reply_working_days: int = Field(5, gt=0)  # the due date a high court is offered
    close_working_days: int = Field(2, gt=0)
    recurrence_days: int = Field(30, gt=0)  # an alert firing again this soon after a close recurs
    # the address people reach the pages at, for the links in digests (behind a proxy: its URL)
    public_url: str | None = None
    tls: bool = False  # behind a TLS reverse proxy: `Secure` session cookies

    @property
    def url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def limits(self) -> Limits:
        return Limits(self.acknowledge_working_days, self.reply_working_days, self.close_working_days)


class ClusterSettings(_Section):
    """A local Spark standalone cluster (courtwatch/spark_cluster.py)."""
    host: str = "127.0.0.1"
    port: Port = 7077
    webui_port: Port = 8077
    workers: int = Field(2, gt=0)
    worker_cores: int = Field(1, gt=0)
    worker_memory: str = "3g"
    home: Location = "data/cluster"


class Profile(_Section):
    name: str = "local"
    source: str = "local"  # how to load this profile again: its name in conf/, or its file
    landing: Location = "data/landing"
    warehouse: Location = "data/warehouse"
    secrets_file: Location | None = None
    alerts_file: Location = "conf/alerts.yaml"
    spark: SparkSettings = SparkSettings()
    airflow: AirflowSettings = AirflowSettings()
    pull: PullSettings = PullSettings()
    ingest: IngestSettings = IngestSettings()
    maintenance: MaintenanceSettings = MaintenanceSettings()
    sql: SqlSettings = SqlSettings()
    directory: DirectorySettings | None = None  # none: the demo's own accounts (courtwatch/accounts.py)
    serving: ServingSettings = ServingSettings()
    superset: SupersetSettings = SupersetSettings()
    guidance: GuidanceSettings = GuidanceSettings()
    cluster: ClusterSettings = ClusterSettings()

    @property
    def spark_master(self) -> str:
        return os.environ.get(SPARK_MASTER_VAR) or self.spark.master

    @property
    def spark_conf(self) -> dict[str, str]:
        """conf/spark-defaults.yaml, with the profile's own spark.conf on top."""
        defaults = yaml.safe_load((CONF_DIR / "spark-defaults.yaml").read_text())
        return {**{k: str(v) for k, v in defaults.items()}, **self.spark.conf}

    @model_validator(mode="after")
    def _store_on_local_disk(self) -> "Profile":
        if "://" in self.warehouse and not self.serving.duckdb_path:
            raise ValueError("serving.duckdb_path: give the serving store's local file: the warehouse "
                             f"({self.warehouse}) is not on local disk, and Superset reads the store from one")
        return self

    def serving_store(self, warehouse: str | None = None) -> str:
        """The DuckDB store's file: as configured, else courtwatch.duckdb in a folder beside the local
        warehouse named after it (data/warehouse -> data/warehouse-serving/): one store per warehouse."""
        if self.serving.duckdb_path:
            return self.serving.duckdb_path
        warehouse = warehouse or self.warehouse
        if "://" in warehouse:
            raise SettingsError(f"serving.duckdb_path: the warehouse {warehouse} is not on local disk: "
                                "set the serving store's file in the profile")
        return str(Path(warehouse).parent / f"{Path(warehouse).name}-serving" / "courtwatch.duckdb")

    def alert_rules(self) -> AlertRules:
        rules = _validated(AlertRules, Path(self.alerts_file))
        outbox = resolve_location(rules.notify.outbox_dir)
        return rules.model_copy(update={"notify": rules.notify.model_copy(update={"outbox_dir": outbox})})

    def secret(self, var: str) -> str:
        """A secret from the environment, else from the profile's secrets file."""
        if os.environ.get(var):
            return os.environ[var]
        if self.secrets_file and Path(self.secrets_file).exists():
            for line in Path(self.secrets_file).read_text().splitlines():
                key, sep, value = line.partition("=")
                if sep and key.strip() == var:
                    return value.strip()
        raise RuntimeError(
            f"secret {var} is not set: export it or run `make secrets` "
            f"(writes {self.secrets_file or 'a secrets file'})"
        )

    def hash_key(self) -> bytes:
        return self.secret(HASH_KEY_VAR).encode("utf-8")


def _explain(error: ValidationError, path: Path) -> str:
    lines = []
    for e in error.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        got = "" if e["type"] == "missing" else f"; got {e.get('input')!r}"
        lines.append(f"{path}: {key}: {e['msg']}{got}")
    return "\n".join(lines)


def _validated(model: type[BaseModel], path: Path, **extra) -> BaseModel:
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise SettingsError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: expected a mapping of settings, got {type(raw).__name__}")
    try:
        return model.model_validate({**raw, **extra})
    except ValidationError as e:
        raise SettingsError(_explain(e, path)) from None


# What courtwatch creates is its owner's (and the owner's group's, to read): never every
# local account's. The command sets this umask; load_profile checks what is there.
DATA_UMASK = 0o027


def file_mode_problems(profile: Profile) -> list[str]:
    """Secrets readable by anyone but the owner, or data readable by every local account."""
    problems = []
    owner_only = [("secrets_file", profile.secrets_file), ("superset.accounts_file", profile.superset.accounts_file),
                  ("sql.passwords_file", profile.sql.passwords_file)]
    for key, path in owner_only:
        if path and Path(path).exists() and Path(path).stat().st_mode & 0o077:
            problems.append(f"{key}: {path} is readable by other accounts (mode "
                            f"{oct(Path(path).stat().st_mode & 0o777)}): chmod 600 {path}")
    shared = [("landing", profile.landing), ("warehouse", profile.warehouse), ("superset.home", profile.superset.home),
              ("airflow.home", profile.airflow.home), ("sql.metastore", profile.sql.metastore)]
    if profile.serving.duckdb_path or "://" not in profile.warehouse:
        shared.append(("serving.duckdb_path", str(Path(profile.serving_store()).parent)))
    for key, path in shared:
        if "://" not in path and Path(path).is_dir() and Path(path).stat().st_mode & 0o007:
            problems.append(f"{key}: {path} is open to every local account (mode "
                            f"{oct(Path(path).stat().st_mode & 0o777)}): chmod -R o-rwx {path}")
    return problems


def load_profile(name: str | None = None) -> Profile:
    """A profile by name (conf/NAME.yaml) or by the path of its YAML file, validated
    with its alert rules."""
    name = name or os.environ.get("COURTWATCH_PROFILE", "local")
    path = Path(name) if name.endswith((".yaml", ".yml")) else CONF_DIR / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in CONF_DIR.glob("*.yaml"))
        raise SettingsError(f"unknown profile {name!r}; conf/ has {known}")
    source = str(path.resolve()) if path.parent.resolve() != CONF_DIR else path.stem
    profile = _validated(Profile, path, name=path.stem, source=source)
    profile.alert_rules()  # the rules are part of the profile: a bad one fails now too
    problems = file_mode_problems(profile)
    if problems:
        raise SettingsError("\n".join(f"{path}: {p}" for p in problems))
    return profile


SPARK_AUTH_SECRET_VAR = "COURTWATCH_SPARK_AUTH_SECRET"  # a standalone cluster's shared secret (spark.authenticate)
GENERATED_SECRETS = (HASH_KEY_VAR, "AIRFLOW_JWT_SECRET", "AIRFLOW_SECRET_KEY", "SUPERSET_SECRET_KEY",
                     "SUPERSET_ADMIN_PASSWORD", "COURTWATCH_SQL_LAB_PASSWORD", SPARK_AUTH_SECRET_VAR,
                     "COURTWATCH_GUIDANCE_SECRET")


@contextmanager
def owner_only(path: Path, mode: str = "w"):
    """`path` opened for writing (or appending) so that only its owner can read it: 0600, in a
    directory made 0700 if it is new, created under umask 077 so it is never readable meanwhile."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    old = os.umask(0o077)
    try:
        with path.open(mode) as f:
            yield f
    finally:
        os.umask(old)
    os.chmod(path, 0o600)


def ensure_secrets(path: str = ".secrets/courtwatch.env", names=GENERATED_SECRETS) -> None:
    """Add a fresh random value for each secret the file lacks (`make secrets`); never replace one."""
    import secrets

    file = Path(resolve_location(path))
    text = file.read_text() if file.exists() else ""
    have = {line.partition("=")[0].strip() for line in text.splitlines()}
    missing = [n for n in names if n not in have]
    if missing:
        with owner_only(file, "a") as f:
            if text and not text.endswith("\n"):
                f.write("\n")
            for n in missing:
                # passwords are typed into login forms: shorter, still 96 random bits
                value = secrets.token_urlsafe(12) if n.endswith("PASSWORD") else secrets.token_hex(32)
                f.write(f"{n}={value}\n")
