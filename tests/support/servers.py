"""Start and stop the real servers tests talk to, by PID, on free loopback ports."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"process {proc.args!r} exited with {proc.returncode} before listening"
            )
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout} s")


def require_binary(name: str) -> str:
    """Path of a system binary; the test command installs it, so absence is a setup error."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; run ./quickstart.sh test, which installs it")
    return path


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def spawn(args: Sequence[str], log: Path, env: dict | None = None, cwd: Path | None = None):
    """Start a process in its own group, output to log, so a test can kill it and its children."""
    fh = open(log, "ab")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(
        list(args),
        stdout=fh,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


@contextlib.contextmanager
def running(
    args: Sequence[str], port: int, log: Path, env: dict | None = None, timeout: float = 20.0
) -> Iterator[subprocess.Popen]:
    proc = spawn(args, log, env)
    try:
        wait_for_port(port, timeout, proc)
        yield proc
    finally:
        stop(proc)
