"""A real Mosquitto broker for tests: on a free loopback port, with on-disk persistence so
a restart keeps persistent sessions and their queued QoS 1 messages."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from servers import free_port, require_binary, spawn, stop, wait_for_port


class Mosquitto:
    def __init__(self, workdir: Path, port: int | None = None, extra: list[str] | None = None):
        self.workdir = workdir
        self.port = port or free_port()
        self.proc = None
        self.config = workdir / "mosquitto.conf"
        (workdir / "data").mkdir(parents=True, exist_ok=True)
        lines = [
            f"listener {self.port} 127.0.0.1",
            *(extra or ["allow_anonymous true"]),
            "persistence true",
            f"persistence_location {workdir / 'data'}/",
            "max_queued_messages 20000",
            f"log_dest file {workdir / 'mosquitto.log'}",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        if os.geteuid() == 0:  # started as root, mosquitto drops to user "mosquitto"
            lines.append("user root")
        self.config.write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        self.proc = spawn(
            [require_binary("mosquitto"), "-c", str(self.config)], self.workdir / "stdout.log"
        )
        wait_for_port(self.port, 15.0, self.proc)

    def stop(self) -> None:
        # SIGTERM: mosquitto writes its persistence file (sessions, queued messages) on exit.
        if self.proc is not None:
            stop(self.proc)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextlib.contextmanager
def mosquitto(workdir: Path, extra: list[str] | None = None) -> Iterator[Mosquitto]:
    """A running broker; `extra` replaces `allow_anonymous true` (e.g. a password_file)."""
    broker = Mosquitto(workdir, extra=extra)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
