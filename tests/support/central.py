"""The central API as a real process, for tests that need one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from servers import spawn, wait_for_port


def start_api(db: Path, port: int, log: Path) -> subprocess.Popen:
    proc = spawn(
        [
            sys.executable,
            "-m",
            "cloud_api.cli",
            "serve",
            "--db",
            str(db),
            "--port",
            str(port),
            "--no-access-log",
        ],
        log,
    )
    wait_for_port(port, 30, proc)
    return proc


def add_edge(db: Path) -> str:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "cloud_api.cli",
            "edges",
            "add",
            "edge-a",
            "--site",
            "test-site",
            "--any-building",
            "--db",
            str(db),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def add_user(db: Path, name: str, role: str) -> str:
    """`steward-api users add NAME --role ROLE`: the user's token."""
    out = subprocess.run(
        [
            *(sys.executable, "-m", "cloud_api.cli", "users", "add", name),
            *("--role", role, "--db", str(db)),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()
