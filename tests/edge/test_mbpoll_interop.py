"""An independent Modbus client (mbpoll) reads the simulator at the vendors' documented
register numbers and gets what the profiles say is there."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from acq_helpers import mixed_fleet
from sim_thread import SimulatorThread

MBPOLL = shutil.which("mbpoll")
pytestmark = pytest.mark.skipif(
    MBPOLL is None, reason="mbpoll is not installed (./quickstart.sh test installs it with apt)"
)

# (unit, point, mbpoll register type, 1-based register number as the vendor prints it,
#  engineering value = raw * factor)
CASES = [
    # Chint DTSU666: Ua at 0x2006, f32 in 0.1 V -> mbpoll register 8199.
    (1, "voltage_l1", "4:float", 0x2006 + 1, 0.1),
    # Chint DTSU666: Pt at 0x2012, f32 in 0.1 W.
    (1, "active_power", "4:float", 0x2012 + 1, 0.0001),
    # Eastron SDM630: input register 30001 (phase 1 voltage), f32 V.
    (19, "voltage_l1", "3:float", 1, 1.0),
    # Eastron SDM630: total system power, input register 30053, f32 W.
    (19, "active_power", "3:float", 0x0034 + 1, 0.001),
    # Schneider iEM3xxx: manual register 3028 (V1-N) is PDU address 3027.
    (37, "voltage_l1", "4:float", 3028, 1.0),
    # Schneider iEM3xxx: manual register 3060 (total active power, kW).
    (37, "active_power", "4:float", 3060, 1.0),
    # Acrel ADW300: Ua, u16 x0.1 V at address 20 -> register 21.
    (44, "voltage_l1", "4", 21, 0.1),
]


def mbpoll_read(port: int, unit: int, regtype: str, register: int) -> float:
    out = subprocess.run(
        [
            MBPOLL,
            "-m",
            "tcp",
            "-p",
            str(port),
            "-a",
            str(unit),
            "-t",
            regtype,
            "-B",
            "-r",
            str(register),
            "-c",
            "1",
            "-1",
            "127.0.0.1",
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )
    m = re.search(rf"\[{register}\]:\s+(\S+)", out.stdout)
    assert m, f"mbpoll printed no value:\n{out.stdout}\n{out.stderr}"
    return float(m.group(1))


@pytest.mark.parametrize(("unit", "point", "regtype", "register", "factor"), CASES)
def test_mbpoll_reads_what_the_profile_describes(unit, point, regtype, register, factor):
    fleet = mixed_fleet(frozen=True)
    with SimulatorThread(fleet) as sim:
        raw = mbpoll_read(sim.port, unit, regtype, register)
    expected = fleet.meters[unit].values()[point]
    # mbpoll prints 6 significant digits; integer registers lose half a step.
    tolerance = abs(expected) * 2e-5 + (factor / 2 if regtype == "4" else 0)
    assert raw * factor == pytest.approx(expected, abs=tolerance), (point, raw)
