"""Property: over random proposals and times, no allowed write breaks an interlock.

The checker below knows nothing of edge.control.interlocks' internals: it reads the log of
allowed writes (plus each zone's starting state) and checks every rule from the issue 9
list directly on it: profile bounds, the 26 degC cooling floor (and 20 degC heating
ceiling), 0.5 K per step, one write per zone per 5 min, max shed 2 h, min release 15 min,
compressor min on 7 / off 10 min (site settings here, apart from the 5-min rate). It also
checks the other side, so "refuse everything" fails: a proposal the checker finds
compliant as asked must be allowed unchanged.
"""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from device_profiles.catalog import load
from edge.control.interlocks import Interlocks, ProposedWrite, ZoneHistory, record

T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
# Compressor times differ from the 5-min write rate (and from each other) so that the
# checker can tell a broken min on/off from the rate limit covering for it.
IL = Interlocks.from_profile(
    load("steward/hvac-zone"),
    compressor_min_on=timedelta(minutes=7),
    compressor_min_off=timedelta(minutes=10),
)
ZONES = ("a", "b")
# Written out from hvac-zone.yaml, not read from the code under test.
RANGE = {
    "cooling_setpoint": (16.0, 32.0),
    "heating_setpoint": (10.0, 30.0),
    "mode": (0, 3),
    "fan_speed": (0, 3),
    "on_off": (0, 1),
}
EPS = 1e-9


class Checker:
    """Replays the allowed writes of all zones and names any broken interlock."""

    def __init__(self, start: dict[str, dict]) -> None:
        self.values = {z: dict(s["values"]) for z, s in start.items()}
        self.toggled = {z: s["toggled"] for z, s in start.items()}
        self.last_write: dict[str, datetime | None] = dict.fromkeys(start)
        self.shed_start: dict[str, datetime | None] = dict.fromkeys(start)
        self.shed_end: dict[str, datetime | None] = dict.fromkeys(start)

    def violations(self, t: datetime, w: ProposedWrite, value: float) -> list[str]:
        z, p, out = w.zone, w.point, []
        lo, hi = RANGE[p]
        if not lo - EPS <= value <= hi + EPS:
            out.append("bounds")
        if p in ("mode", "fan_speed", "on_off") and value != int(value):
            out.append("not whole")
        if p == "cooling_setpoint" and value < 26.0:
            out.append("floor")
        if p == "heating_setpoint" and value > 20.0:
            out.append("ceiling")
        if p.endswith("_setpoint") and abs(value - self.values[z][p]) > 0.5 + EPS:
            out.append("step")
        last = self.last_write[z]
        if last is not None and t - last < 5 * MIN:
            out.append("rate")
        if p == "on_off" and value != self.values[z]["on_off"]:
            hold = 7 * MIN if self.values[z]["on_off"] == 1 else 10 * MIN
            if t - self.toggled[z] < hold:
                out.append("min on/off")
        if w.shed:
            start = self.shed_start[z]
            if start is not None and t - start >= 2 * timedelta(hours=1):
                out.append("max shed")
            end = self.shed_end[z]
            if start is None and end is not None and t - end < 15 * MIN:
                out.append("min release")
        return out

    def apply(self, t: datetime, w: ProposedWrite, value: float) -> None:
        z = w.zone
        if w.point == "on_off" and value != self.values[z]["on_off"]:
            self.toggled[z] = t
        self.values[z][w.point] = value
        self.last_write[z] = t
        if w.shed and self.shed_start[z] is None:
            self.shed_start[z] = t
        if not w.shed and self.shed_start[z] is not None:
            self.shed_start[z], self.shed_end[z] = None, t


zone_start = st.fixed_dictionaries(
    {
        "values": st.fixed_dictionaries(
            {
                "cooling_setpoint": st.sampled_from([24.0, 25.8, 26.0, 26.3, 27.5, 31.9]),
                "heating_setpoint": st.sampled_from([15.0, 19.8, 20.0, 20.4, 22.0]),
                "mode": st.integers(0, 3).map(float),
                "fan_speed": st.integers(0, 3).map(float),
                "on_off": st.integers(0, 1).map(float),
            }
        ),
        "toggled_ago": st.integers(0, 15),
    }
)
gap_minutes = st.one_of(
    st.sampled_from([0, 1, 2, 4, 5, 6, 7, 9, 10, 14, 15, 16, 30, 60, 119, 120, 121]),
    st.integers(0, 240),
)


def boundary(checker: Checker, zone: str) -> st.SearchStrategy[datetime]:
    """A time just before or exactly at one of the zone's interlock edges, so that every
    limit is probed where an off-by-one would show (the plain gaps rarely land there)."""
    anchors = [
        (checker.last_write[zone], 5),
        (checker.toggled[zone], 7),
        (checker.toggled[zone], 10),
        (checker.shed_start[zone], 120),
        (checker.shed_end[zone], 15),
    ]
    edges = [a + m * MIN for a, m in anchors if a is not None]
    if not edges:
        return st.nothing()
    return st.builds(
        lambda edge, before: edge - before * timedelta(seconds=1),
        st.sampled_from(edges),
        st.sampled_from([0, 1, 60]),
    )


@settings(max_examples=120, deadline=None)
@given(starts=st.tuples(zone_start, zone_start), data=st.data())
def test_no_allowed_write_breaks_an_interlock(starts, data):
    start = {
        z: {"values": s["values"], "toggled": T0 - s["toggled_ago"] * MIN}
        for z, s in zip(ZONES, starts, strict=True)
    }
    histories = {
        z: ZoneHistory(values=dict(s["values"]), on_off_changed_at=s["toggled"])
        for z, s in start.items()
    }
    checker = Checker(start)
    t = T0
    allowed = 0
    for _ in range(data.draw(st.integers(1, 40), label="steps")):
        zone = data.draw(st.sampled_from(ZONES), label="zone")
        later = gap_minutes.map(lambda m, now=t: now + m * MIN)
        t = max(t, data.draw(st.one_of(later, boundary(checker, zone)), label="at"))
        point = data.draw(st.sampled_from([*sorted(RANGE), "on_off"]), label="point")
        if point.endswith("_setpoint"):
            current = checker.values[zone][point]
            delta = data.draw(
                st.one_of(
                    st.sampled_from([-1.0, -0.5, -0.3, 0.0, 0.2, 0.5, 0.6, 3.0]),
                    st.floats(-8, 8, allow_nan=False),
                ),
                label="delta",
            )
            value = round(current + delta, 1)
        elif point == "on_off":
            # mostly a toggle: that is where min on/off bites
            toggle = 1 - int(checker.values[zone]["on_off"])
            value = data.draw(st.sampled_from([toggle, toggle, 1 - toggle, 2]), label="value")
        else:
            value = data.draw(st.sampled_from([0, 1, 2, 3, 4, 1.5, -1]), label="value")
        w = ProposedWrite(zone, point, value, data.draw(st.booleans(), label="shed"))
        decision = IL.check(w, histories[zone], t)
        as_asked = checker.violations(t, w, float(value))
        if decision.value is None:
            # Liveness: a compliant wish must not be refused (step compared with margin,
            # since 26.3 + 0.5 vs 26.8 sits on the float edge).
            step_edge = point.endswith("_setpoint") and (
                abs(abs(value - checker.values[zone][point]) - 0.5) < 1e-6
            )
            assert as_asked or step_edge, f"refused a compliant {w} at {t}: {decision.reasons}"
            continue
        broken = checker.violations(t, w, decision.value)
        assert not broken, f"allowed {decision.value} for {w} at {t} breaks {broken}"
        if not as_asked:
            assert decision.value == value, f"compliant {w} changed to {decision.value}"
        checker.apply(t, w, decision.value)
        histories[zone] = record(histories[zone], w, decision, t)
        allowed += 1
