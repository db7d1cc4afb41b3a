"""A real OpenLDAP directory (Debian's slapd) for the tests: people, analysts and role groups.

`start(root, people)` writes a slapd.conf (an mdb database, the memberOf
overlay that Superset's LDAP sign-in reads roles from), starts slapd on a free
loopback port, loads the entries, and returns a Directory: its URL, DNs and
an admin bind. The layout is the one courtwatch's `directory:` settings
describe (courtwatch/settings.py, DirectorySettings).
"""
from __future__ import annotations

import hashlib
import base64
import os
import secrets
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from courtwatch.processes import wait_for_port

SUFFIX = "dc=courts,dc=example"
MODULES = "/usr/lib/ldap"
SCHEMAS = "/etc/ldap/schema"


@dataclass
class Directory:
    url: str
    process: subprocess.Popen
    admin_dn: str
    admin_password: str
    people_dn: str = f"ou=people,{SUFFIX}"
    analysts_dn: str = f"ou=analysts,ou=people,{SUFFIX}"
    groups_dn: str = f"ou=groups,{SUFFIX}"

    def settings(self) -> dict:
        """The profile's `directory:` section for this server."""
        return {"url": self.url, "people_dn": self.people_dn, "analysts_dn": self.analysts_dn,
                "groups_dn": self.groups_dn, "bind_dn": self.admin_dn}

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def _ssha(password: str) -> str:
    salt = secrets.token_bytes(8)
    return "{SSHA}" + base64.b64encode(hashlib.sha1(password.encode() + salt).digest() + salt).decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(root: Path, people: list[dict]) -> Directory:
    """slapd with `people`: dicts of uid, password, analyst (bool) and groups (courtwatch role names)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "db").mkdir(exist_ok=True)
    admin_password = secrets.token_urlsafe(12)
    admin_dn = f"cn=admin,{SUFFIX}"
    (root / "slapd.conf").write_text("\n".join([
        *(f"include {SCHEMAS}/{s}.schema" for s in ("core", "cosine", "inetorgperson")),
        f"modulepath {MODULES}", "moduleload back_mdb", "moduleload memberof",
        f"pidfile {root}/slapd.pid",
        "database mdb", f"suffix \"{SUFFIX}\"", f"rootdn \"{admin_dn}\"", f"rootpw {_ssha(admin_password)}",
        f"directory {root}/db", "maxsize 104857600",
        "overlay memberof", "memberof-group-oc groupOfNames", "memberof-member-ad member",
        "memberof-memberof-ad memberOf", "memberof-refint true",
        # people read their own entry and bind; only the admin writes, and no one reads a password
        "access to attrs=userPassword by self =xw by anonymous auth by * none",
        "access to * by self read by users read by anonymous auth",
        ""]))
    port = _free_port()
    url = f"ldap://127.0.0.1:{port}"
    process = subprocess.Popen(["/usr/sbin/slapd", "-d", "0", "-f", str(root / "slapd.conf"), "-h", f"{url}/"],
                               stdout=subprocess.DEVNULL, stderr=open(root / "slapd.log", "w"))
    wait_for_port("127.0.0.1", port, 30, process, root / "slapd.log")
    d = Directory(url, process, admin_dn, admin_password)
    entries = [f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: courts\no: courts",
               f"dn: {d.people_dn}\nobjectClass: organizationalUnit\nou: people",
               f"dn: {d.analysts_dn}\nobjectClass: organizationalUnit\nou: analysts",
               f"dn: {d.groups_dn}\nobjectClass: organizationalUnit\nou: groups"]
    for p in people:
        parent = d.analysts_dn if p.get("analyst") else d.people_dn
        entries.append(f"dn: uid={p['uid']},{parent}\nobjectClass: inetOrgPerson\nuid: {p['uid']}\n"
                       f"cn: {p['uid']}\nsn: {p.get('sn', 'user')}\ngivenName: {p.get('givenName', p['uid'])}\n"
                       f"mail: {p['uid']}@courts.example\nuserPassword: {_ssha(p['password'])}")
    groups: dict[str, list[str]] = {}
    for p in people:
        parent = d.analysts_dn if p.get("analyst") else d.people_dn
        for g in p.get("groups", []):
            groups.setdefault(g, []).append(f"uid={p['uid']},{parent}")
    for g, members in groups.items():
        entries.append(f"dn: cn={g},{d.groups_dn}\nobjectClass: groupOfNames\ncn: {g}\n"
                       + "\n".join(f"member: {m}" for m in members))
    done = subprocess.run(["ldapadd", "-x", "-H", url, "-D", admin_dn, "-w", admin_password],
                          input="\n\n".join(entries) + "\n", capture_output=True, text=True,
                          env={**os.environ, "LDAPTLS_REQCERT": "never"})
    if done.returncode != 0:
        d.stop()
        raise RuntimeError(f"ldapadd failed: {done.stderr[-2000:]}")
    return d
