"""Background services (SQL endpoint, Superset, a local Spark cluster): start detached, wait for their port."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


def wait_for_port(host: str, port: int, timeout: float, process: subprocess.Popen | None = None,
                  log: Path | None = None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if _port_open(host, port):
            return
        if process is not None and process.poll() is not None:
            tail = log.read_text()[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"the process for {host}:{port} stopped (exit {process.returncode}):\n{tail}")
        time.sleep(1)
    raise RuntimeError(f"nothing answers on {host}:{port} after {timeout:.0f} s")


def spawn(name: str, cmd: list[str], env: dict, home: Path, log: Path) -> subprocess.Popen:
    """Run `cmd` detached in its own process group, output to `log`, its pid in `home`/NAME.pid."""
    with log.open("ab") as out:
        process = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    (home / f"{name}.pid").write_text(str(process.pid))
    return process


def stop(home: Path, name: str) -> bool:
    """Stop what `spawn` started as NAME (its whole process group); False if nothing was recorded."""
    pid_file = home / f"{name}.pid"
    if not pid_file.exists():
        return False
    try:
        os.killpg(int(pid_file.read_text()), signal.SIGTERM)
    except ProcessLookupError:
        pass
    pid_file.unlink()
    return True


def start_background(name: str, cmd: list[str], env: dict, home: Path, host: str, port: int, timeout: float) -> None:
    """Run `cmd` detached (log and pid file in `home`) and wait until it answers on host:port."""
    if _port_open(host, port):
        print(f"{name}: already answering on {host}:{port}")
        return
    log = home / f"{name}.log"
    wait_for_port(host, port, timeout, spawn(name, cmd, env, home, log), log)
    print(f"{name}: up on {host}:{port} (log {log})")
