"""The agent, as a process, reads 50 simulated meters of six models over real Modbus TCP,
and every canonical point of every model matches the simulator's own state."""

from __future__ import annotations

from collections import defaultdict

import pytest
from acq_helpers import MIXED_MODELS, mixed_fleet, run_agent, write_site
from sim_thread import SimulatorThread

from device_profiles import CANONICAL_METER_POINTS, load


def tolerance(profile_id: str, point: str, expected: float) -> float:
    """What the register encoding can lose: half a raw step, or a float32's last bit."""
    p = load(profile_id).points[point]
    if p.type in ("f32", "f64"):
        return abs(expected) * 2.5e-7 + 1e-9
    return abs(p.scale) / 2 + 1e-9


def test_every_canonical_point_of_every_model_matches_the_simulator(tmp_path):
    fleet = mixed_fleet(frozen=True)
    with SimulatorThread(fleet) as sim:
        site = write_site(tmp_path / "site.yaml", sim.port)
        readings, stats = run_agent(site, duration=2.5, tmp=tmp_path)

    latest: dict[tuple[str, str], dict] = {}
    for r in readings:
        latest[(r["device"], r["point"])] = r
    checked = defaultdict(int)
    for profile_id, units in MIXED_MODELS:
        profile = load(profile_id)
        canonical = [n for n in profile.points if n in CANONICAL_METER_POINTS]
        assert len(canonical) >= 5, f"{profile_id} exposes too few canonical points"
        for unit in units:
            device = f"{profile_id.split('/')[1]}-{unit}"
            state = fleet.meters[unit].values()
            for point in canonical:
                r = latest.get((device, point))
                assert r is not None, f"no reading of {device}.{point}"
                assert r["quality"] == "good", r
                expected_unit = CANONICAL_METER_POINTS[point][0]
                assert r["unit"] == expected_unit, f"{device}.{point} unit {r['unit']}"
                expected = state[point]
                assert r["value"] == pytest.approx(
                    expected, abs=tolerance(profile_id, point, expected)
                ), f"{device}.{point}: read {r['value']}, simulator holds {expected}"
                checked[profile_id] += 1
    assert set(checked) == {p for p, _ in MIXED_MODELS}
    assert stats["errors"] == 0
    assert stats["overruns"] == 0
    # Every device was polled on its 1 s interval: at least 2 polls in 2.5 s.
    assert all(d["polls"] >= 2 for d in stats["devices"].values())


def test_an_rs485_line_reads_every_model_one_request_at_a_time(tmp_path):
    """The same 50 meters behind a transparent serial converter (RTU frames over TCP)."""
    fleet = mixed_fleet(frozen=True)
    with SimulatorThread(fleet, framing="rtu") as sim:
        site = write_site(tmp_path / "site.yaml", sim.port, interval="3s", framing="rtu")
        readings, stats = run_agent(site, duration=4.0, tmp=tmp_path)
    assert stats["errors"] == 0
    latest = {(r["device"], r["point"]): r for r in readings}
    for profile_id, units in MIXED_MODELS:
        for unit in units:
            device = f"{profile_id.split('/')[1]}-{unit}"
            state = fleet.meters[unit].values()
            for point in load(profile_id).points:
                r = latest[(device, point)]
                assert r["quality"] == "good", r
                if point in CANONICAL_METER_POINTS:
                    assert r["value"] == pytest.approx(
                        state[point], abs=tolerance(profile_id, point, state[point])
                    )
