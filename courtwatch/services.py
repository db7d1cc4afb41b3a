"""Background services (SQL endpoint, Superset, a local Spark cluster): start detached, wait for their port."""
from __future__ import annotations

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


def start_background(name: str, cmd: list[str], env: dict, home: Path, host: str, port: int, timeout: float) -> None:
    """Run `cmd` detached (log and pid file in `home`) and wait until it answers on host:port."""
    if _port_open(host, port):
        print(f"{name}: already answering on {host}:{port}")
        return
    log = home / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    (home / f"{name}.pid").write_text(str(process.pid))
    wait_for_port(host, port, timeout, process, log)
    print(f"{name}: up on {host}:{port} (log {log})")
