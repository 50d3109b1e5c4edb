"""Starting the servers a benchmark measures: a free loopback port, a child process with
its log, and waiting until it listens. Shared by the bench scripts (run as
`python bench/NAME.py`, so this folder is on sys.path)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """Until something listens on `port`; an error when `proc` exits first or time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before listening")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on port {port} within {timeout} s")


def spawn(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`args` in a session of its own, stdout and stderr appended to `log`; `env`: its
    whole environment (default: this process's)."""
    fh = open(log, "ab")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(
        args, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True, env=env
    )


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """`sig` to the process's session, SIGKILL if it has not exited within 15 s."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def serve_api(
    db: Path, port: int, log: Path, env: dict[str, str] | None = None, quiet: bool = True
) -> subprocess.Popen:
    """`steward-api serve` on `db` and `port` (its own session, output to `log`); `quiet`:
    warnings only, no access log."""
    args = [sys.executable, "-m", "cloud_api.cli", "serve", "--db", str(db), "--port", str(port)]
    args += ["--no-access-log", "--log-level", "warning"] if quiet else ["--no-access-log"]
    return spawn(args, log, env)


def api_cli(db: Path, *args: str) -> str:
    """`steward-api ARGS --db DB` (users add, edges add, ...): what it prints."""
    out = subprocess.run(
        [sys.executable, "-m", "cloud_api.cli", *args, "--db", str(db)],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()
