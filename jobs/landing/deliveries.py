"""The landing zone: which batches are complete, and which of them are sound.

A batch is a data file plus its manifest (exchange.md). This module finds the
deliveries not seen before, checks each one whole and gives every one a
verdict: accepted, duplicate, or rejected with one of the contract's reason
codes. Nothing here writes a table.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.window import Window

from schemas import SOURCES

BATCH_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_FIELDS = ("batch_id", "source", "court_id", "business_date", "record_count", "sha256")

# Reason codes of exchange.md
COUNT_MISMATCH = "count_mismatch"
CHECKSUM_MISMATCH = "checksum_mismatch"
PATH_MISMATCH = "path_mismatch"
UNPARSEABLE = "unparseable"
CONFLICTING_RESEND = "conflicting_resend"


@dataclass
class Delivery:
    """One manifest found in the landing zone, and what was learnt of its batch."""

    manifest_path: str
    manifest_mtime: int  # ms since the epoch: a manifest written again is a new delivery
    source: str
    court_id: str
    date_dir: str
    batch_id: str
    data_path: str | None = None
    manifest: dict | None = None
    sha256: str | None = None
    record_count: int | None = None
    status: str | None = None  # accepted | duplicate | rejected
    reason: str | None = None
    detail: str | None = None
    manifest_text: str | None = None

    @property
    def business_date(self) -> date | None:
        try:
            return date.fromisoformat(self.date_dir)
        except ValueError:
            return None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.source, self.court_id, self.batch_id)

    @property
    def order(self) -> tuple:
        return (self.date_dir, self.batch_id, self.manifest_path)

    def reject(self, reason: str, detail: str) -> None:
        self.status, self.reason, self.detail = "rejected", reason, detail


def _fs(spark: SparkSession, root: str):
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(root)
    return jvm, path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def _glob(spark: SparkSession, pattern: str) -> list[tuple[str, int]]:
    jvm, fs = _fs(spark, pattern.split("{")[0])
    statuses = fs.globStatus(jvm.org.apache.hadoop.fs.Path(pattern)) or []
    return [(str(s.getPath().toString()), int(s.getModificationTime())) for s in statuses if s.isFile()]


def _is_local(root: str) -> bool:
    return "://" not in root  # a plain path, or file:/...


def _names(path: str) -> list[str]:
    """The names in directory `path`; none when it is missing or not a directory."""
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _list_local(root: str, sources: list[str], courts: list[str] | None,
                dates: list[str] | None) -> list[tuple[str, int]]:
    """_glob's answer for a landing zone on local disk.

    Through py4j each Hadoop FileStatus costs ~0.6 ms: 12 s for a national day's
    20k files. Paths and times are given as Hadoop gives them (file:/..., whole
    milliseconds), so the ledger matches whichever way a file was listed.

    A run with nothing new still lists a month of every court's days (330k
    directories at national), so this is kept lean: names from os.listdir
    (nothing made per entry), paths joined as strings (pathlib cost 40% of it),
    and only a manifest's time read (a data file's is never used: 0). A name
    that is a directory where a file belongs lists as nothing, or is rejected
    as unreadable.
    """
    base = os.path.abspath(_strip_scheme(root))
    wanted = set(dates) if dates else None
    out = []
    for source in sources:
        for court in courts or _names(f"{base}/{source}"):
            court_dir = f"{base}/{source}/{court}"
            # One listing of the court's directory, filtered by name, costs less than
            # looking for each wanted date (34 probes a court for a daily run), even
            # with years of dates in it.
            for day in _names(court_dir):
                if wanted is not None and day not in wanted:
                    continue
                day_dir = f"{court_dir}/{day}"
                for name in _names(day_dir):
                    path = f"{day_dir}/{name}"
                    if name.endswith(MANIFEST_SUFFIX):
                        try:
                            out.append((f"file:{path}", os.stat(path).st_mtime_ns // 1_000_000))
                        except OSError:
                            pass  # gone since the listing: a later run sees what replaced it
                    else:
                        out.append((f"file:{path}", 0))
    return out


def _strip_scheme(path: str) -> str:
    return path[len("file:"):] if path.startswith("file:") and not path.startswith("file://") else path


def find_deliveries(spark: SparkSession, landing: str, sources: list[str] | None = None,
                    courts: list[str] | None = None, dates: list[str] | None = None,
                    judged: set[tuple[str, int]] | None = None) -> list[Delivery]:
    """The manifests in the landing zone, of the given sources, courts and
    business-date directories (all of them by default), but for those already
    `judged` (manifest path and time, as the ledger holds them).

    Dates are looked up, not listed: Hadoop's glob does not list a literal path
    component, so the cost grows with the courts and the days asked for, not
    with the history the landing zone keeps.
    """
    root = landing.rstrip("/")
    if _is_local(root):
        files = _list_local(root, sources or SOURCES, courts, dates)
    else:
        court = "{" + ",".join(courts) + "}" if courts else "*"
        files = [f for source in sources or SOURCES for day in (dates or ["*"])
                 for f in _glob(spark, f"{root}/{source}/{court}/{day}/*")]
    judged = judged or set()
    manifests = [(p, m) for p, m in files if p.endswith(MANIFEST_SUFFIX) and (p, m) not in judged]
    data_files = {p for p, _ in files if p.endswith((".jsonl", ".jsonl.gz"))}
    out = []
    for path, mtime in manifests:
        parts = path.split("/")
        source, court_id, date_dir, name = parts[-4], parts[-3], parts[-2], parts[-1]
        stem = name[: -len(MANIFEST_SUFFIX)]
        base = path[: -len(MANIFEST_SUFFIX)]
        d = Delivery(path, mtime, source, court_id, date_dir, stem)
        # Prefer the compressed file should a court leave both behind.
        d.data_path = next((p for p in (base + ".jsonl.gz", base + ".jsonl") if p in data_files), None)
        out.append(d)
    return sorted(out, key=lambda d: d.order)


def _manifest_bytes(spark: SparkSession, paths: list[str]) -> dict[str, bytes]:
    """Each readable manifest's bytes, by path.

    Manifests are a few hundred bytes each and the driver needs them all, so on
    local disk they are read directly: a Spark read of a national day's 10k
    paths spends 5-8 s on the driver resolving them, before reading anything.
    """
    content = {}
    for p in paths:
        if _is_local(p):
            try:
                content[p] = Path(_strip_scheme(p)).read_bytes()
            except OSError:
                pass  # not readable: rejected below, like one Spark cannot read
    remote = [p for p in paths if not _is_local(p)]
    if remote:
        rows = spark.read.format("binaryFile").load(remote).select("path", "content").collect()
        content.update({r["path"]: bytes(r["content"]) for r in rows})
    return content


def _read_manifests(spark: SparkSession, deliveries: list[Delivery]) -> None:
    if not deliveries:
        return
    content = _manifest_bytes(spark, [d.manifest_path for d in deliveries])
    for d in deliveries:
        raw = content.get(d.manifest_path)
        if raw is None:
            d.reject(UNPARSEABLE, "manifest could not be read")
            continue
        try:
            d.manifest_text = raw.decode("utf-8")
            d.manifest = json.loads(d.manifest_text)
            if not isinstance(d.manifest, dict):
                raise ValueError("not a JSON object")
        except (UnicodeDecodeError, ValueError) as exc:
            d.reject(UNPARSEABLE, f"manifest is not a JSON object: {exc}")
            d.manifest = None


def _check_manifest(d: Delivery) -> None:
    m = d.manifest
    missing = [k for k in MANIFEST_FIELDS if k not in m]
    if missing:
        d.reject(UNPARSEABLE, f"manifest lacks {', '.join(missing)}")
        return
    count, digest = m["record_count"], m["sha256"]
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        d.reject(UNPARSEABLE, f"manifest record_count {count!r} is not a count")
        return
    if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
        d.reject(UNPARSEABLE, f"manifest sha256 {digest!r} is not a hex SHA-256 digest")
        return
    d.record_count, d.sha256 = count, digest.lower()
    expected = {"batch_id": d.batch_id, "source": d.source, "court_id": d.court_id, "business_date": d.date_dir}
    wrong = [f"{k}={m[k]!r} but the path says {v!r}" for k, v in expected.items() if m[k] != v]
    if not BATCH_ID_RE.match(d.batch_id):
        wrong.append(f"batch_id {d.batch_id!r} is not of the form {BATCH_ID_RE.pattern}")
    if d.business_date is None:
        wrong.append(f"business date {d.date_dir!r} is not YYYY-MM-DD")
    if wrong:
        d.reject(PATH_MISMATCH, "; ".join(wrong))
    elif d.data_path is None:
        d.reject(CHECKSUM_MISMATCH, "manifest present but no data file (.jsonl or .jsonl.gz) beside it")


def read_lines(spark: SparkSession, data_paths: list[str]) -> DataFrame:
    """Every non-blank line of the given files: data_path, line_no (1-based), record.

    The text source decompresses .gz by itself; a file is read in order within
    one task, so the id order within a file is the line order.
    """
    lines = (
        spark.read.format("text")
        .load(data_paths)
        .select(F.col("_metadata.file_path").alias("data_path"), F.col("value").alias("record"),
                F.monotonically_increasing_id().alias("_seq"))
    )
    w = Window.partitionBy("data_path").orderBy("_seq")
    return (
        lines.withColumn("line_no", F.row_number().over(w))
        .where(F.trim(F.col("record")) != "")
        .drop("_seq")
    )


def _decompresses(data: bytes) -> bool:
    """Whether a gzip file decompresses to its end."""
    try:
        gzip.decompress(data)
        return True
    except (OSError, EOFError, zlib.error):
        return False


@F.pandas_udf(T.BooleanType())
def _gzip_intact(contents: pd.Series) -> pd.Series:
    """_decompresses, per file (not per record), on Spark's executors."""
    return contents.map(_decompresses)


def _file_digest(data: bytes, path: str) -> tuple[str, bool]:
    """SHA-256 of a file's bytes as stored, and whether it is intact (a .gz file decompresses)."""
    return hashlib.sha256(data).hexdigest(), not path.endswith(".gz") or _decompresses(data)


def _local_digest(path: str) -> tuple[str, bool]:
    """_file_digest of a file on local disk, read in chunks: a court's file may be
    larger than the driver's memory. A read error is the storage's, not the
    court's: it fails the run (which a rerun retries) rather than reject the batch."""
    local = _strip_scheme(path)
    sha = hashlib.sha256()
    with open(local, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha.update(chunk)
    if not path.endswith(".gz"):
        return sha.hexdigest(), True
    try:
        with gzip.open(local, "rb") as f:
            while f.read(1 << 20):
                pass
        return sha.hexdigest(), True
    except (EOFError, zlib.error, gzip.BadGzipFile):
        return sha.hexdigest(), False


def _digests(spark: SparkSession, paths: list[str]) -> dict[str, tuple[str, bool]]:
    """SHA-256 of each file's bytes as stored, and whether a .gz file is intact.

    Files on local disk are hashed on the driver, a few threads at a time (hashlib
    and zlib let go of the GIL): a national day's 10k files, ~110 MB, take ~1-2 s,
    where a Spark read of them took ~11 s, most of it resolving the 10k paths and
    starting a Python worker for the gzip check. Files on object storage are
    hashed by Spark's executors.
    """
    local = [p for p in paths if _is_local(p)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = dict(zip(local, pool.map(_local_digest, local)))
    remote = [p for p in paths if not _is_local(p)]
    return {**found, **(_spark_digests(spark, remote) if remote else {})}


def _spark_digests(spark: SparkSession, paths: list[str]) -> dict[str, tuple[str, bool]]:
    """_digests of files read by Spark (any file system Hadoop reaches)."""
    files = spark.read.format("binaryFile").load(paths)
    intact = F.when(F.col("path").endswith(".gz"), _gzip_intact("content")).otherwise(F.lit(True))
    found = {r["path"]: (r["sha"], r["intact"]) for r in
             files.select("path", F.sha2("content", 256).alias("sha"), intact.alias("intact")).collect()}
    # Spark's file sources skip zero-length files: a court's empty daily batch is one.
    return {p: found.get(p) or _file_digest(b"", p) for p in paths}


def _line_facts(lines: DataFrame | None, paths: list[str]) -> dict[str, dict]:
    """Per file: count of records (non-blank lines), of bad lines, and the first bad one."""
    facts = {p: {"lines": 0, "bad_lines": 0, "first_bad": None} for p in paths}
    if lines is None:
        return facts
    # JSON that parses and opens with "{" is an object: cheaper to see than to build
    # each record's whole schema (schema_of_variant) and look at its first word.
    bad = (~F.is_valid_utf8("record") | F.expr("try_parse_json(record)").isNull()
           | ~F.col("record").rlike(r"^[ \t\r]*\{"))
    stats = (
        lines.withColumn("bad", bad).groupBy("data_path")
        .agg(F.count("*").alias("lines"), F.sum(F.col("bad").cast("int")).alias("bad_lines"),
             F.min(F.when(F.col("bad"), F.col("line_no"))).alias("first_bad"))
        .collect()
    )
    for r in stats:
        facts[r["data_path"]] = {"lines": r["lines"], "bad_lines": r["bad_lines"], "first_bad": r["first_bad"]}
    return facts


def judge(spark: SparkSession, deliveries: list[Delivery],
          accepted: dict[tuple, str]) -> tuple[list[Delivery], DataFrame | None]:
    """Give each delivery its verdict, in the contract's order (business_date, batch_id).

    `accepted` maps (source, court_id, batch_id) of batches taken in earlier runs
    to their digest; it is extended with the batches this call accepts. Returns
    the deliveries and, cached, the lines of the files read line by line (those
    of the accepted batches among them), so that ingestion does not read them
    again; the caller unpersists it.
    """
    _read_manifests(spark, deliveries)
    for d in deliveries:
        if d.status is None:
            _check_manifest(d)
    candidates = [d for d in deliveries if d.status is None]
    digests = _digests(spark, [d.data_path for d in candidates])
    readable = []
    for d in candidates:
        sha, intact = digests.get(d.data_path, (None, False))
        if sha != d.sha256:
            d.reject(CHECKSUM_MISMATCH, f"data file digest {sha} differs from the manifest's {d.sha256}")
        elif not intact:
            d.reject(UNPARSEABLE, "the .gz file does not decompress")
        else:
            readable.append(d)
    # Only files whose bytes are sound are read line by line.
    lines = read_lines(spark, [d.data_path for d in readable]).cache() if readable else None
    facts = _line_facts(lines, [d.data_path for d in readable])
    for d in readable:
        f = facts[d.data_path]
        if d.key in accepted:
            if accepted[d.key] == d.sha256:
                d.status, d.detail = "duplicate", "the same batch was taken before"
            else:
                d.reject(CONFLICTING_RESEND, f"batch taken before with digest {accepted[d.key]}")
        elif f["bad_lines"]:
            d.reject(UNPARSEABLE, f"{f['bad_lines']} line(s) not UTF-8 JSON objects, first at line {f['first_bad']}")
        elif f["lines"] != d.record_count:
            d.reject(COUNT_MISMATCH, f"manifest says {d.record_count} records, the file has {f['lines']}")
        else:
            d.status = "accepted"
            accepted[d.key] = d.sha256
    return deliveries, lines
