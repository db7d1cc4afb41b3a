"""Pulling batches that a court publishes over HTTP into the landing zone.

A court that cannot write to the shared landing directory publishes the same
layout (exchange.md) under a base URL, with an index of what is there:

    GET {url}/index.json   ->  {"files": ["cases/B110001/2026-09-01/b1.jsonl.gz",
                                           "cases/B110001/2026-09-01/b1.manifest.json", ...]}
    GET {url}/{file}       ->  the file's bytes

Each batch is copied data file first, manifest last, each through a temporary
name and a rename: the landing scanner sees a batch only once it is whole,
exactly as with a court writing to the directory itself. A batch already
copied with the same manifest bytes is not fetched again, so pulling is
idempotent; a re-sent batch (new manifest) is fetched again and judged by
ingestion (duplicate, or conflicting_resend). Digests are not judged here:
a batch whose data does not match its manifest lands as it is and is rejected
by ingestion with its reason, so nothing is lost.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from schemas import SOURCES

log = logging.getLogger("courtwatch")

MANIFEST_SUFFIX = ".manifest.json"
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}(\.manifest\.json|\.jsonl|\.jsonl\.gz)$")


class PublicationError(RuntimeError):
    """The court's endpoint published something outside the exchange contract."""


@dataclass
class PullResult:
    court_id: str
    fetched: list[str] = field(default_factory=list)
    unchanged: int = 0
    refused: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.court_id}: {len(self.fetched)} batches fetched, {self.unchanged} already here, "
                f"{len(self.refused)} refused")


def _session(retries: int) -> requests.Session:
    s = requests.Session()
    retry = Retry(total=retries, backoff_factor=1.0, status_forcelist=(429, 500, 502, 503, 504),
                  allowed_methods=("GET",))
    s.mount("http://", HTTPAdapter(max_retries=retry))
    s.mount("https://", HTTPAdapter(max_retries=retry))
    return s


def _check_path(rel: str, court_id: str) -> None:
    """A published path must be {source}/{this court}/{YYYY-MM-DD}/{batch file}."""
    parts = rel.split("/")
    if len(parts) != 4 or parts[0] not in SOURCES or parts[1] != court_id or not NAME_RE.match(parts[3]):
        raise PublicationError(f"not a batch path of court {court_id}: {rel!r}")
    try:
        date.fromisoformat(parts[2])
    except ValueError:
        raise PublicationError(f"not a business date in {rel!r}") from None


def _write_atomically(target: Path, content: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".pull-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def pull(landing_root: str, court_id: str, url: str, timeout: float = 30, retries: int = 3) -> PullResult:
    """Copy the court's new or re-sent batches into the landing zone."""
    if "://" in landing_root and not landing_root.startswith("file:"):
        raise ValueError(f"pulling writes to a local or mounted landing zone, not {landing_root}")
    root = Path(landing_root.removeprefix("file:"))
    base = url.rstrip("/")
    http = _session(retries)

    def get(rel: str) -> bytes:
        r = http.get(f"{base}/{rel}", timeout=timeout)
        r.raise_for_status()
        return r.content

    result = PullResult(court_id)
    files = http.get(f"{base}/index.json", timeout=timeout)
    files.raise_for_status()
    published = files.json().get("files", [])
    listed = set(published)
    for rel in sorted(p for p in published if p.endswith(MANIFEST_SUFFIX)):
        try:
            _check_path(rel, court_id)
        except PublicationError as e:
            log.warning("%s", e)
            result.refused.append(rel)
            continue
        stem = rel[: -len(MANIFEST_SUFFIX)]
        data_rel = next((stem + ext for ext in (".jsonl.gz", ".jsonl") if stem + ext in listed), None)
        if data_rel is None:
            continue  # the court is still publishing this batch: its data file comes later
        manifest = get(rel)
        local_manifest, local_data = root / rel, root / data_rel
        if local_manifest.exists() and local_manifest.read_bytes() == manifest and local_data.exists():
            result.unchanged += 1
            continue
        data = get(data_rel)
        _write_atomically(local_data, data)
        _write_atomically(local_manifest, manifest)  # last: the batch is now complete
        log.info("pulled %s (%d bytes, sha256 %s)", data_rel, len(data), hashlib.sha256(data).hexdigest()[:12])
        result.fetched.append(data_rel)
    return result
