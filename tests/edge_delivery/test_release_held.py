"""Records held for the clock in an earlier boot cannot be proven; an operator who knows
the clock was right then releases them as stamped with `steward-edge release-held`."""

from __future__ import annotations

import subprocess
import sys

import orjson

from edge.clock import ClockGuard
from edge.clock_hold import ClockHold, held_summary
from edge.model import Reading, Sample
from edge.outbox import Outbox

T0 = 1_796_000_000.0  # 2026-11-29, a right clock


def _sample(i: int) -> Sample:
    return Sample(T0 + i, "m1", [Reading(T0 + i, "m1", "p", float(i), "kW")])


def _held_in_an_earlier_boot(path) -> None:
    # Boot A: the API is never reached, so what the edge stamps is held, waiting for proof.
    with Outbox(path) as outbox:
        guard = ClockGuard(require_check=True, wall=lambda: T0, boot_id="boot-a")
        hold = ClockHold(outbox, guard)
        for i in range(3):
            hold.append_sample(_sample(i))
    # Boot B: the API answers; boot A's records cannot be proven and stay held.
    with Outbox(path) as outbox:
        guard = ClockGuard(require_check=True, wall=lambda: T0 + 100, boot_id="boot-b")
        guard.observe("Sun, 29 Nov 2026 08:55:00 GMT", 1.0, 1.0)
        hold = ClockHold(outbox, guard)
        hold.release()
        assert held_summary(outbox._db)["readings"]["unprovable"] == 3


def _site(tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text(
        "site: s1\nbuilding: b1\n"
        "buses: [{id: gw, tcp: {host: 127.0.0.1, port: 1502}}]\n"
        "devices: [{id: m1, bus: gw, unit: 1, profile: chint/dtsu666}]\n"
        "outbox: {path: outbox.sqlite}\n"
    )
    return site


def test_an_operator_releases_records_held_in_an_earlier_boot_as_stamped(tmp_path):
    site = _site(tmp_path)
    path = tmp_path / "outbox.sqlite"
    _held_in_an_earlier_boot(path)

    done = subprocess.run(
        [sys.executable, "-m", "edge.cli", "release-held", str(site), "--as-stamped"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert "3 readings records" in done.stdout, done.stdout

    # The next start sends them as stamped, before anything new, even before the API
    # has been reached (the operator vouched for their time).
    with Outbox(path) as outbox:
        guard = ClockGuard(require_check=True, wall=lambda: T0 + 200, boot_id="boot-c")
        hold = ClockHold(outbox, guard)
        hold.release()
        batch = outbox.peek("readings", 100)
        stamps = [orjson.loads(r)["ts"] for r in batch.records]
        assert stamps == [T0, T0 + 1, T0 + 2]
        summary = held_summary(outbox._db)["readings"]
        assert summary["unprovable"] == 0 and summary["waiting"] == 0


def test_release_held_without_as_stamped_only_says_what_is_held(tmp_path):
    site = _site(tmp_path)
    path = tmp_path / "outbox.sqlite"
    _held_in_an_earlier_boot(path)
    done = subprocess.run(
        [sys.executable, "-m", "edge.cli", "release-held", str(site)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1, done.stdout
    assert "--as-stamped" in done.stderr
    with Outbox(path) as outbox:
        assert held_summary(outbox._db)["readings"]["unprovable"] == 3
