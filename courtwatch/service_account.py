"""The SQL endpoint runs as its own unprivileged account, which reads the tables it serves and nothing else.

Started by root (as `make sql-server` and the services are), `courtwatch sql-server`
hands the account (`sql.service_account`, made by `make setup`) exactly this, then
becomes it before Spark starts:

- read (POSIX ACLs, inherited by what the pipeline writes later) on the warehouse's
  silver and gold layers, the ones it serves; not bronze, ops, the landing zone, the
  secrets or Superset's metadata;
- traverse only (x, not list) on the directories above them that others cannot pass;
- its own directory (`sql.metastore`: the catalog, scratch space, the password hashes
  it checks sign-ins against), owner-only.

Started by anyone else, it runs as that person (who cannot switch accounts) and says so.
"""
from __future__ import annotations

import logging
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("courtwatch")


@dataclass(frozen=True)
class ServiceAccount:
    name: str
    uid: int
    gid: int

    @classmethod
    def named(cls, name: str) -> "ServiceAccount":
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise RuntimeError(f"the SQL endpoint's service account {name!r} does not exist: run `make setup` "
                               "(it creates it), or set sql.service_account to an existing account") from None
        if entry.pw_uid == 0:
            raise RuntimeError(f"sql.service_account {name!r} is root: it must be an unprivileged account")
        return cls(name, entry.pw_uid, entry.pw_gid)

    def grant_read(self, tree: Path) -> None:
        """Read on `tree` and everything in it, now and (default ACL) whatever is written there later."""
        _setfacl("-R", "-m", f"u:{self.name}:rX,d:u:{self.name}:rX", str(tree))
        self.grant_traverse(tree.parent)

    def grant_traverse(self, directory: Path) -> None:
        """x on `directory` and its ancestors that do not let every account pass already."""
        for d in [directory.resolve(), *directory.resolve().parents]:
            if not d.stat().st_mode & 0o001:
                _setfacl("-m", f"u:{self.name}:x", str(d))

    def own(self, path: Path) -> None:
        """`path` (a file, or a directory and all in it) becomes the account's, owner-only."""
        for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
            os.chown(p, self.uid, self.gid, follow_symlinks=False)
        path.chmod(0o700 if path.is_dir() else 0o600)
        self.grant_traverse(path.parent)

    def become(self) -> None:
        """From now on this process (and the JVM it starts) is the account, irrevocably."""
        os.setgroups([])
        os.setgid(self.gid)
        os.setuid(self.uid)
        os.environ.update(USER=self.name, LOGNAME=self.name)


def _setfacl(*args: str) -> None:
    if shutil.which("setfacl") is None:
        raise RuntimeError("setfacl is missing: run `make setup` (it installs Debian's acl package)")
    done = subprocess.run(["setfacl", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"setfacl {' '.join(args)} failed: {done.stderr.strip()}")


def for_sql_endpoint(name: str | None) -> ServiceAccount | None:
    """The account to switch to, or None when there is none to switch to (not root, or not configured)."""
    if not name:
        return None
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid()).pw_name
        if me != name:
            log.warning("the SQL endpoint runs as %s: only root can hand it to its service account %s", me, name)
        return None
    return ServiceAccount.named(name)
