"""A Spark driver kept warm between runs: `courtwatch worker up | down | status | serve`.

Every `courtwatch run` and `courtwatch step` (so every task of the daily DAG) used to start
a JVM of its own: 20-30 s before any work, and the JIT compiling Spark and Delta again each
time. The worker is one long-lived process that holds the profile's SparkSession. While it
is up, `run` and `step` hand it their command line and print what it sends back: the same
command runs there, in a thread of its own, on the warm session. While it is down they run
in their own process, as before. The worker's session is the profile's, so a cluster profile's
worker is one long-lived application on the cluster.

It listens on a Unix socket in `spark.worker_dir`, a directory only its owner can enter,
and a client must also prove it read the worker's key there (multiprocessing's HMAC
handshake): the commands it runs are the warehouse's writer's, so no other account may
send it any. A client that goes away (a task killed by Airflow) has its Spark jobs cancelled.
"""
from __future__ import annotations

import io
import logging
import os
import secrets
import sys
import threading
import time
import traceback
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path

from courtwatch import processes
from courtwatch.settings import DATA_UMASK, Profile

log = logging.getLogger("courtwatch")
SOCKET, KEY, NAME = "worker.sock", "worker.key", "spark-worker"
COMMANDS = ("run", "step")  # what a worker runs: the pipeline's (the others start no Spark, or serve)
IN_WORKER = threading.local()  # set in the threads that run a client's command: they never forward


def _dir(profile: Profile) -> Path:
    return Path(profile.spark.worker_dir)


# --- the worker -----------------------------------------------------------------------------

class _PerThread(io.TextIOBase):
    """sys.stdout or sys.stderr of the worker: what a client's thread writes goes to that client."""

    def __init__(self, stream: str, fallback):
        self.stream, self.fallback = stream, fallback
        self.clients: dict[int, Connection] = {}

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        conn = self.clients.get(threading.get_ident())
        if conn is None and len(set(self.clients.values())) == 1:
            conn = next(iter(self.clients.values()))  # a thread the command started (sources land side by side)
        if conn is None:
            return self.fallback.write(text)
        if text:
            conn.send((self.stream, text))  # a client gone: the command stops at its next line
        return len(text)

    def flush(self) -> None:
        self.fallback.flush()

    def isatty(self) -> bool:
        return False


def _watch(conn: Connection, group: str, spark, done: threading.Event) -> None:
    """Cancel the command's Spark jobs if its client goes away before the command ends."""
    while not done.is_set():
        try:
            if conn.poll(1):
                conn.recv()  # clients send nothing after the request: this is its end
        except (EOFError, OSError):
            if not done.is_set():
                log.warning("client of %s went away: cancelling its Spark jobs", group)
                spark.sparkContext.cancelJobGroup(group)
            return


def _handle(conn: Connection, profile: Profile, spark, out: _PerThread, err: _PerThread) -> None:
    from courtwatch import cli

    me = threading.get_ident()
    done = threading.Event()
    try:
        profile_source, argv = conn.recv()
        if profile_source != profile.source:
            conn.send(("exit", 2, f"this worker serves profile {profile.source!r}, not {profile_source!r}"))
            return
        what = "courtwatch " + " ".join(w for w in argv if not w.startswith("--conf"))[:300]
        group = f"courtwatch-{me}-{time.time_ns()}"
        spark.sparkContext.setJobGroup(group, what, interruptOnCancel=True)
        threading.Thread(target=_watch, args=(conn, group, spark, done), daemon=True).start()
        out.clients[me] = err.clients[me] = conn
        IN_WORKER.active = True
        log.info("running %s", what)
        started = time.time()
        try:
            rc = cli.main(argv)
        except SystemExit as exc:  # the parser's refusals, which it has explained
            rc = exc.code if isinstance(exc.code, int) else 2
        except Exception:
            err.write(traceback.format_exc())
            rc = 1
        done.set()
        out.clients.pop(me, None), err.clients.pop(me, None)
        log.info("%s finished (exit %s) in %.1fs", what, rc, time.time() - started)
        conn.send(("exit", rc, ""))
    except (EOFError, OSError):
        pass  # the client went away; its jobs are cancelled by the watcher
    finally:
        done.set()
        IN_WORKER.active = False
        out.clients.pop(me, None), err.clients.pop(me, None)
        conn.close()


def serve(profile: Profile) -> None:
    """Hold the profile's session and run the commands clients send, each in a thread, until stopped."""
    from courtwatch.settings import owner_only
    from courtwatch.spark_session import spark_session

    home = _dir(profile)
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)  # the socket and the key: their owner's only
    os.umask(DATA_UMASK)  # what the commands write: owner and group only, as from the command line
    out, err = _PerThread("out", sys.stdout), _PerThread("err", sys.stderr)
    sys.stdout, sys.stderr = out, err
    # the command line's logging, into the streams that reach each command's client
    logging.basicConfig(level=logging.WARNING, stream=err, format="%(asctime)s %(name)s %(message)s", force=True)
    spark = spark_session(profile, "courtwatch-worker")
    _warm_up(spark, profile)
    key = secrets.token_bytes(32)
    socket = home / SOCKET
    socket.unlink(missing_ok=True)
    with owner_only(home / KEY, "wb") as f:
        f.write(key)
    listener = Listener(str(socket), family="AF_UNIX", authkey=key)
    os.chmod(socket, 0o600)
    log.info("spark worker of profile %s ready on %s (master %s)", profile.source, socket, profile.spark_master)
    try:
        while True:
            try:
                conn = listener.accept()
            except (AuthenticationError, OSError, EOFError) as exc:  # a client without the key, or one that hung up
                log.warning("refused a connection: %s", exc)
                continue
            threading.Thread(target=_handle, args=(conn, profile, spark, out, err), daemon=True).start()
    finally:
        listener.close()
        (home / KEY).unlink(missing_ok=True)


def _warm_up(spark, profile: Profile) -> None:
    """Pay the first job's and the first Delta snapshot's start-up here, not in the first client's run
    (~15 s on a fresh JVM: the classes of Spark, Delta and Parquet loaded and compiled)."""
    from jobs.ops.run_ledger import RUNS

    spark.range(1).count()
    if RUNS.exists(spark, profile.warehouse):
        RUNS.read(spark, profile.warehouse).where("status = 'running'").count()


def up(profile: Profile, timeout: float = 180) -> None:
    """Start the worker in the background and wait until it takes commands."""
    home = _dir(profile)
    if running(profile):
        print(f"{NAME}: already up ({home / SOCKET})")
        return
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    (home / KEY).unlink(missing_ok=True)
    logfile = home / f"{NAME}.log"
    cmd = [str(Path(sys.executable).parent / "courtwatch"), "--conf", profile.source, "worker", "serve"]
    process = processes.spawn(NAME, cmd, {**os.environ, "COURTWATCH_PROFILE": profile.source}, home, logfile)
    deadline = time.time() + timeout
    while not running(profile):
        if process.poll() is not None:
            raise RuntimeError(f"the spark worker stopped (exit {process.returncode}):\n{logfile.read_text()[-3000:]}")
        if time.time() > deadline:
            raise RuntimeError(f"the spark worker did not come up in {timeout:.0f} s (log {logfile})")
        time.sleep(0.5)
    print(f"{NAME}: up ({home / SOCKET}, log {logfile})")


def down(profile: Profile) -> None:
    home = _dir(profile)
    stopped = processes.stop(home, NAME)
    for name in (SOCKET, KEY):
        (home / name).unlink(missing_ok=True)
    print(f"{NAME}: {'stopped' if stopped else 'not running'}")


# --- the client -----------------------------------------------------------------------------

def _connect(profile: Profile) -> Connection | None:
    home = _dir(profile)
    try:
        key = (home / KEY).read_bytes()
        return Client(str(home / SOCKET), family="AF_UNIX", authkey=key)
    except (OSError, EOFError, ValueError):
        return None  # no worker (or a stale socket of one that died)


def running(profile: Profile) -> bool:
    conn = _connect(profile)
    if conn is None:
        return False
    conn.close()
    return True


def forward(profile: Profile, argv: list[str]) -> int | None:
    """Run `courtwatch ARGV` in the profile's worker, printing its output here; its exit code, or None
    when no worker is up (then the caller runs the command itself)."""
    if getattr(IN_WORKER, "active", False):
        return None
    conn = _connect(profile)
    if conn is None:
        return None
    with conn:
        conn.send((profile.source, absolute_paths(argv)))
        while True:
            try:
                kind, *rest = conn.recv()
            except EOFError:
                print("the spark worker stopped while running the command", file=sys.stderr)
                return 1
            if kind == "exit":
                rc, why = rest
                if why:
                    print(why, file=sys.stderr)
                return rc
            (sys.stdout if kind == "out" else sys.stderr).write(rest[0])


PATH_OPTIONS = ("--conf", "--landing", "--warehouse", "--out")


def absolute_paths(argv: list[str]) -> list[str]:
    """The command line as the worker must read it: it runs in a directory of its own."""
    out, i = [], 0
    while i < len(argv):
        word = argv[i]
        option, eq, value = word.partition("=")
        if option in PATH_OPTIONS and (eq or i + 1 < len(argv)):
            if not eq:
                i, value = i + 1, argv[i + 1]
            keep = "://" in value or (option == "--conf" and not value.endswith((".yaml", ".yml")))
            out.append(f"{option}={value if keep else Path(value).resolve()}")
        else:
            out.append(word)
        i += 1
    return out
