"""Planned outages: an operator pauses the uplink, the outbox keeps accepting.

The pause is a small JSON file next to the outbox, so it survives agent restarts, needs
no network control plane, and `steward-edge status` can show it. The agent looks at it
every few seconds; a pause with an end time lifts itself.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pause:
    since: float
    until: float | None  # None: until `steward-edge resume`
    reason: str

    def active(self, now: float) -> bool:
        return self.until is None or now < self.until

    def describe(self, now: float) -> str:
        end = (
            "until resumed"
            if self.until is None
            else (
                f"until {time.strftime('%Y-%m-%d %H:%M', time.localtime(self.until))} "
                f"({max(0.0, self.until - now) / 60:.0f} min left)"
            )
        )
        return f"paused {end}" + (f": {self.reason}" if self.reason else "")


def pause_path(outbox_path: Path) -> Path:
    return outbox_path.with_name(outbox_path.stem + "-pause.json")


def read_pause(outbox_path: Path) -> Pause | None:
    """The pause in force, if any (an unreadable file counts as a pause: fail safe)."""
    path = pause_path(outbox_path)
    try:
        data = json.loads(path.read_text())
        return Pause(float(data["since"]), data.get("until"), str(data.get("reason", "")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Pause(0.0, None, f"unreadable pause file {path}: {exc}")


def write_pause(outbox_path: Path, seconds: float | None, reason: str) -> Pause:
    now = time.time()
    pause = Pause(now, None if seconds is None else now + seconds, reason)
    path = pause_path(outbox_path)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"since": pause.since, "until": pause.until, "reason": reason}))
    tmp.replace(path)
    return pause


def clear_pause(outbox_path: Path) -> bool:
    try:
        pause_path(outbox_path).unlink()
        return True
    except FileNotFoundError:
        return False
