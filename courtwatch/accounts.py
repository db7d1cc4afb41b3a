"""Who signs in: one account per person, each with its own password, never a shared one.

Without a directory (the demo), the accounts are made here from the court
registry: one person per court and kind (`guidance-01`, `analyst-01`,
`h11-01` for the Beijing high court's first person, `b110101-01` for a basic
court's), each with a random password in the profile's accounts file
(owner-only, git-ignored), which the operator hands out. An account keeps its
password across set-ups; `courtwatch superset rotate USER` gives it a new one.
Superset makes its users from this list (dashboards/apply.py); the SQL
endpoint lets in the analysts and SQL Lab's service account, checked against
a file of salted PBKDF2 hashes (sql_passwords, read by courtwatch/java/SqlPasswords.java).

With a directory (`directory:` in the profile), the directory is the one
source of truth and nothing is made here (DirectorySettings in courtwatch/settings.py).
"""
from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from courtwatch.settings import Profile, owner_only

PBKDF2_ITERATIONS = 210_000  # OWASP's figure for PBKDF2-HMAC-SHA256 (2023)
SQL_LAB_PASSWORD = "COURTWATCH_SQL_LAB_PASSWORD"  # the secret of SQL Lab's service account


@dataclass(frozen=True)
class Person:
    username: str
    first_name: str
    last_name: str
    kind: str  # guidance, analyst, high_court or court: dashboards/apply.py gives each its role
    court_id: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def username(court_or_kind: str) -> str:
    """The demo's first person of a court (or of the guidance center, of the analysts)."""
    return f"{court_or_kind.lower()}-01"


def demo_people(courts: list[dict]) -> list[Person]:
    """One person for the guidance center, one analyst, one per court of a province (the SPC has none)."""
    people = [Person(username("guidance"), "诉讼服务指导中心", "用户", "guidance"),
              Person(username("analyst"), "数据分析", "用户", "analyst")]
    for c in sorted(courts, key=lambda c: c["court_id"]):
        if c.get("province_code"):
            kind = "high_court" if c["level"] == "HIGH" else "court"
            people.append(Person(username(c["court_id"]), c["court_name"], "用户", kind, c["court_id"]))
    return people


def registry_courts(profile: Profile) -> list[dict]:
    """The courts as the serving store holds them (what the dashboards' roles are made for)."""
    from courtwatch import serving_store

    return serving_store.rows(profile, "SELECT court_id, court_name, level, province_code FROM {schema}courts "
                                       "ORDER BY court_id")


def demo_accounts(profile: Profile) -> list[dict]:
    """Every demo person with their password (made now if new): what Superset's users are made from."""
    people = demo_people(registry_courts(profile))
    passwords = PasswordFile(profile.superset.accounts_file).ensure([p.username for p in people])
    return [{**p.as_dict(), "password": passwords[p.username]} for p in people]


class PasswordFile:
    """USERNAME=PASSWORD lines, owner-only; a new account gets 96 random bits, an old one keeps its own."""

    def __init__(self, path: str):
        self.path = Path(path)

    def read(self) -> dict[str, str]:
        lines = self.path.read_text().splitlines() if self.path.exists() else []
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def ensure(self, usernames: list[str]) -> dict[str, str]:
        have = self.read()
        new = {u: secrets.token_urlsafe(12) for u in usernames if u not in have}
        with owner_only(self.path, "a") as f:
            f.writelines(f"{u}={p}\n" for u, p in new.items())
        return {**have, **new}

    def replace(self, user: str, password: str) -> None:
        lines = [f"{user}={password}" if line.split("=", 1)[0] == user else line
                 for line in self.path.read_text().splitlines()]
        with owner_only(self.path) as f:
            f.write("\n".join(lines) + "\n")


def password_hash(user: str, password: str, salt: bytes | None = None) -> str:
    """One line of the SQL endpoint's password file: USER:ITERATIONS:SALT:HASH (base64)."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, PBKDF2_ITERATIONS)
    b64 = base64.b64encode
    return f"{user}:{PBKDF2_ITERATIONS}:{b64(salt).decode()}:{b64(digest).decode()}"


def write_sql_passwords(profile: Profile) -> Path:
    """The SQL endpoint's accounts (the analysts and SQL Lab's service account), hashed, owner-only."""
    analysts = [p.username for p in demo_people([]) if p.kind == "analyst"]
    passwords = PasswordFile(profile.superset.accounts_file).ensure(analysts)
    accounts = {**{a: passwords[a] for a in analysts}, profile.sql.sql_lab_user: profile.secret(SQL_LAB_PASSWORD)}
    path = Path(profile.sql.passwords_file)
    with owner_only(path) as f:
        f.write("".join(password_hash(u, p) + "\n" for u, p in accounts.items()))
    return path


def directory_environment(profile: Profile) -> dict[str, str]:
    """The directory's sign-in settings as Superset's and Airflow's web configs read them
    (dashboards/superset_config.py, courtwatch/airflow_webserver_config.py); empty without one."""
    d = profile.directory
    if d is None:
        return {}
    return {"COURTWATCH_LDAP_URL": d.url, "COURTWATCH_LDAP_PEOPLE_DN": d.people_dn,
            "COURTWATCH_LDAP_GROUPS_DN": d.groups_dn, "COURTWATCH_LDAP_ADMINS_GROUP": d.admins_group,
            "COURTWATCH_LDAP_OPERATORS_GROUP": d.operators_group,
            **({"COURTWATCH_LDAP_BIND_DN": d.bind_dn,
                "COURTWATCH_LDAP_BIND_PASSWORD": profile.secret(d.bind_password_var)} if d.bind_dn else {})}
