"""Starting the servers a benchmark measures: a free loopback port, a child process with
its log, and waiting until it listens. Shared by the bench scripts (run as
`python bench/NAME.py`, so this folder is on sys.path)."""

from __future__ import annotations

import socket
import subprocess
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
