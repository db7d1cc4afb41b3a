"""Who signs in to the guidance loop: the same people, with the same passwords, as the dashboards
(courtwatch/accounts.py): the demo's accounts file, or the directory when the profile has one.
A person's part in the loop comes from their kind (demo) or their courtwatch groups (directory):
the guidance center, one high court, or one lower court. Analysts and admins take no part.
"""
from __future__ import annotations

import hmac

from courtwatch import accounts
from courtwatch.settings import Profile
from jobs.guidance.loop import Actor

GUIDANCE_GROUP, HIGH_COURT_GROUP, COURT_GROUP = "courtwatch_guidance", "courtwatch_high_court_", "courtwatch_court_"
ROLE_OF_KIND = {"guidance": "guidance", "high_court": "high_court", "court": "court"}


def actor_of_groups(username: str, groups: list[str]) -> Actor | None:
    """A directory person's part, from the groups dashboards/apply.py names (one each)."""
    if GUIDANCE_GROUP in groups:
        return Actor(username, "guidance")
    for g in groups:
        if g.startswith(HIGH_COURT_GROUP):
            return Actor(username, "high_court", g.removeprefix(HIGH_COURT_GROUP))
    for g in groups:
        if g.startswith(COURT_GROUP):
            return Actor(username, "court", g.removeprefix(COURT_GROUP))
    return None


class DemoAccounts:
    """The demo's people (one per court and kind) and their passwords in the owner-only accounts file."""

    def __init__(self, profile: Profile, courts: list[dict]):
        self.people = {p.username: p for p in accounts.demo_people(courts) if p.kind in ROLE_OF_KIND}
        self.passwords = accounts.PasswordFile(profile.superset.accounts_file)

    def authenticate(self, username: str, password: str) -> Actor | None:
        person = self.people.get(username)
        known = self.passwords.read().get(username)
        # compare in constant time, and as long for an unknown name as for a known one
        ok = hmac.compare_digest((known or "\0" * 16).encode(), password.encode())
        if not (person and known and ok):
            return None
        return Actor(person.username, ROLE_OF_KIND[person.kind], person.court_id)


class Directory:
    """An LDAP directory: the person binds as uid=USER under people_dn; their groups name their part."""

    def __init__(self, profile: Profile):
        self.settings = profile.directory

    def authenticate(self, username: str, password: str) -> Actor | None:
        import ldap
        from ldap.dn import escape_dn_chars

        if not username or not password:  # an empty password is an anonymous bind, which proves nothing
            return None
        d = self.settings
        dn = f"uid={escape_dn_chars(username)},{d.people_dn}"
        conn = ldap.initialize(d.url)
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 10)
        try:
            conn.simple_bind_s(dn, password)
            entries = conn.search_s(dn, ldap.SCOPE_BASE, attrlist=["memberOf"])
        except (ldap.INVALID_CREDENTIALS, ldap.NO_SUCH_OBJECT):
            return None
        finally:
            conn.unbind_s()
        groups = [g.decode().split(",", 1)[0].removeprefix("cn=") for _, attrs in entries
                  for g in attrs.get("memberOf", [])]
        return actor_of_groups(username, groups)


def identity(profile: Profile, courts: list[dict]):
    return Directory(profile) if profile.directory else DemoAccounts(profile, courts)
