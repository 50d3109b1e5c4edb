"""Access scenarios: a site's devices and rules, events in scenario seconds, and the alarms
they must cause (ground truth). A scenario is its own test.

Scenario time -> real time: the edge under test runs on its real clock, so everything
time-bound is rendered for a real start (and a speed): scenario second s happens at
start + s / speed; durations in the site sections (door thresholds, patrol offsets,
tolerances, heartbeats) and pass windows are divided by the speed too, so a scenario
means the same at any speed. Patrol routes are written with `starts_at: [seconds]` and
rendered as the daily "HH:MM:SS" the edge's plan expects, in the plan's time zone.
Nothing depends on the time of day the test runs (a door calendar would: scenarios turn
`after_hours` off).
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from device_profiles.catalog import ProfileNotFound
from device_profiles.payload_maps import PayloadMapCatalog
from device_profiles.sourced_yaml import ConfigError, describe_errors, line_of, load_yaml
from device_profiles.wire_rules import AccessKind
from edge.acquire.mqtt import MqttDevice, topic_index
from edge.acquire.payload_map import DeviceBinding
from edge.rules.alarm_codes import ALARM_CODES
from edge.rules.door_config import DoorConfigError, DoorRulesConfig, passes_from
from edge.rules.patrol_plan import DEFAULT_TZ, parse_plans
from simulators.access_formats import FormatError, Rendered, SimEvent, render

DAY = 86400.0
# Site-file fields that are durations (seconds), scaled by 1/speed when rendered.
_DOOR_SECONDS = (
    "forced_window_s", "held_open_s", "held_open_red_s", "tailgate_window_s",
    "denied_burst_window_s", "reset_s",
)  # fmt: skip
_ROUTE_SECONDS = ("open_before", "late_grace", "guard_inactive_after")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScenarioEvent(_Strict):
    at: float = Field(ge=0)
    device: str = Field(min_length=1)
    kind: AccessKind
    credential: str | None = None
    guard: str | None = None  # a patrol scan's badge; the same field as credential
    reason: str | None = None
    door: str | None = None
    reader: str | None = None
    variant: str | None = None
    active: bool = True
    data: dict[str, Any] = Field(default_factory=dict)
    note: str = ""  # why it is there, for the reader of the scenario

    def sim_event(self) -> SimEvent:
        return SimEvent(
            at=self.at,
            device=self.device,
            kind=self.kind,
            credential=self.credential or self.guard,
            reason=self.reason,
            door=self.door,
            reader=self.reader,
            variant=self.variant,
            active=self.active,
            data=dict(self.data),
        )


class Expectation(_Strict):
    code: str
    source: str = Field(min_length=1)
    at: float = Field(ge=0)
    tolerance: float = Field(2.0, gt=0)

    @field_validator("code")
    @classmethod
    def _known_code(cls, v: str) -> str:
        if v not in ALARM_CODES:
            raise ValueError(f"{v!r} is not an alarm code (known: {', '.join(ALARM_CODES)})")
        return v


class PassSpec(_Strict):
    credential: str = Field(min_length=1)
    visitor: str = ""
    valid_from: float  # scenario seconds
    valid_to: float
    doors: list[str]


class MqttSection(BaseModel):
    # Host and port come from the test or demo; anything else passes through to the edge.
    model_config = ConfigDict(extra="allow", frozen=True)
    devices: list[MqttDevice] = Field(min_length=1)


class SiteSection(_Strict):
    mqtt: MqttSection
    doors: dict[str, Any] = Field(default_factory=dict)
    patrol: dict[str, Any] | None = None


class Scenario(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    start: dt.datetime  # nominal scenario time 0 (with its offset); --start overrides it
    duration: float | None = Field(None, gt=0)  # default: the last event or expectation
    site: SiteSection
    passes: list[PassSpec] = Field(default_factory=list)
    events: list[ScenarioEvent] = Field(min_length=1)
    expect: list[Expectation] = Field(default_factory=list)
    path: str = ""

    @field_validator("start")
    @classmethod
    def _zoned(cls, v: dt.datetime) -> dt.datetime:
        if v.tzinfo is None:
            raise ValueError("needs a UTC offset, e.g. 2025-03-03T22:00:00+08:00")
        return v

    @property
    def nominal_start(self) -> float:
        return self.start.timestamp()

    @property
    def length(self) -> float:
        """Scenario seconds from start to end (one loop)."""
        if self.duration is not None:
            return self.duration
        return max([e.at for e in self.events] + [x.at + x.tolerance for x in self.expect])

    def bindings(self, catalog: PayloadMapCatalog | None = None) -> dict[str, DeviceBinding]:
        catalog = catalog or PayloadMapCatalog()
        out = {}
        for d in self.site.mqtt.devices:
            out[d.id] = DeviceBinding(d.id, catalog.load(d.map), d.door, dict(d.params), d.invert)
        return out

    def sorted_events(self) -> list[ScenarioEvent]:
        return sorted(self.events, key=lambda e: e.at)  # stable: same `at` keeps file order


class ExpectedAlarm(NamedTuple):
    """(code, source, real_ts, tolerance): unpacks as the contract's tuple."""

    code: str
    source: str
    ts: float  # real time (Unix seconds)
    tolerance: float  # seconds either side


@dataclass(frozen=True, slots=True)
class Scheduled:
    """One scenario event at its real time, as its device sends it."""

    ts: float
    event: ScenarioEvent
    message: Rendered


def load_scenario(path: str | Path) -> Scenario:
    """Load and check a scenario; every error names the file, line and field."""
    path = Path(path)
    raw, lines = load_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(path, ["a scenario is a mapping with name, start, site, events"])
    try:
        scenario = Scenario.model_validate({**raw, "path": str(path)})
    except ValidationError as err:
        raise ConfigError(path, describe_errors(err, lines)) from None
    problems = check(scenario, lines)
    if problems:
        raise ConfigError(path, problems)
    return scenario


def check(scenario: Scenario, lines: Mapping | None = None) -> list[str]:
    """What is wrong beyond the field types: unknown devices or maps, events a format
    cannot carry, rule sections the edge would refuse, expectations after the end."""

    def at(loc: tuple, text: str) -> str:
        line = line_of(dict(lines or {}), loc)
        return f"line {line}, {text}" if line else text

    problems: list[str] = []
    try:
        bindings = scenario.bindings()
        topic_index(bindings.values())
    except (ProfileNotFound, ConfigError, ValueError) as exc:
        return [at(("site", "mqtt", "devices"), f"site.mqtt.devices: {exc}")]
    start = scenario.nominal_start
    for i, ev in enumerate(scenario.events):
        where = ("events", i)
        if ev.credential and ev.guard:
            problems.append(at(where, f"events[{i}]: give credential or guard, not both"))
        binding = bindings.get(ev.device)
        if binding is None:
            known = ", ".join(sorted(bindings))
            problems.append(
                at((*where, "device"), f"events[{i}].device: {ev.device!r} is not in "
                   f"site.mqtt.devices ({known})")
            )  # fmt: skip
            continue
        try:
            render(ev.sim_event(), binding, start + ev.at)
        except FormatError as exc:
            problems.append(at(where, f"events[{i}]: {exc}"))
    for i, x in enumerate(scenario.expect):
        if x.at > scenario.length:
            problems.append(
                at(("expect", i), f"expect[{i}].at: {x.at:g} is after the scenario's end "
                   f"({scenario.length:g} s)")
            )  # fmt: skip
    try:
        DoorRulesConfig.from_dict(_scaled_doors(scenario.site.doors, 1.0))
    except DoorConfigError as exc:
        problems.append(at(("site", "doors"), f"site.doors: {exc}"))
    try:
        passes_from(render_passes(scenario, start))
    except DoorConfigError as exc:
        problems.append(at(("passes",), f"passes: {exc}"))
    if scenario.site.patrol is not None:
        try:
            parse_plans(_scaled_patrol(scenario.site.patrol, start, 1.0, 1, scenario.length))
        except ValueError as exc:
            problems.append(at(("site", "patrol"), f"site.patrol: {exc}"))
    return problems


# ------------------------------------------------------------------------ rendering


def _loops(loops: int) -> int:
    if isinstance(loops, bool) or not isinstance(loops, int) or loops < 1:
        raise ValueError(f"loops must be a whole number >= 1, got {loops!r}")
    return loops


def _scaled_doors(doors: Mapping[str, Any], speed: float) -> dict[str, Any]:
    out = copy.deepcopy(dict(doors))
    for section in [out.get("defaults") or {}, *(out.get("doors") or {}).values()]:
        for key in _DOOR_SECONDS:
            if isinstance(section, dict) and isinstance(section.get(key), int | float):
                section[key] = section[key] / speed
    beats = out.get("heartbeats")
    if isinstance(beats, dict):
        out["heartbeats"] = {k: v / speed if isinstance(v, int | float) else v
                             for k, v in beats.items()}  # fmt: skip
    return out


def _hms(ts: float, zone: ZoneInfo) -> str:
    local = dt.datetime.fromtimestamp(ts, zone)
    spec = "seconds" if local.microsecond == 0 else "microseconds"
    return local.time().isoformat(timespec=spec)


def _scaled_patrol(
    patrol: Mapping[str, Any], start: float, speed: float, loops: int, period: float
) -> dict[str, Any]:
    out = copy.deepcopy(dict(patrol))
    tz = out.get("tz", DEFAULT_TZ)
    routes = out.get("routes")
    if not isinstance(routes, list):
        raise ValueError("site.patrol.routes: must be a list of routes")
    for n, route in enumerate(routes):
        if not isinstance(route, dict):
            raise ValueError(f"site.patrol.routes[{n}]: must be a mapping")
        name = route.get("route", f"#{n}")
        starts_at = route.pop("starts_at", None)
        if "starts" in route or not isinstance(starts_at, list) or not starts_at:
            raise ValueError(
                f"site.patrol route {name}: give starts_at: [seconds from the scenario "
                "start] (not starts: a wall-clock time would depend on when the test runs)"
            )
        zone = ZoneInfo(route.get("tz", tz))
        for s in starts_at:
            if isinstance(s, bool) or not isinstance(s, int | float) or s < 0:
                raise ValueError(f"site.patrol route {name}: starts_at {s!r} is not seconds")
        seconds = [s + i * period for i in range(loops) for s in starts_at]
        route["starts"] = [_hms(start + s / speed, zone) for s in seconds]
        for key in _ROUTE_SECONDS:
            if isinstance(route.get(key), int | float):
                route[key] = route[key] / speed
        for cp in route.get("checkpoints") or []:
            for key in ("offset", "tolerance"):
                if isinstance(cp, dict) and isinstance(cp.get(key), int | float):
                    cp[key] = cp[key] / speed
    return out


def render_site(
    scenario: Scenario,
    start: float,
    broker: tuple[str, int],
    speed: float = 1.0,
    loops: int = 1,
) -> dict[str, Any]:
    """The site-file sections mqtt, doors and patrol for a run starting at `start` (Unix
    seconds) against `broker`; `loops` > 1 schedules that many back-to-back runs."""
    _check_speed(speed)
    loops = _loops(loops)
    if loops * scenario.length / speed >= DAY:
        raise ValueError(
            f"{loops} loops of {scenario.length:g} s exceed a day: the patrol schedule is daily"
        )
    host, port = broker
    mqtt = scenario.site.mqtt.model_dump(mode="json", exclude_none=True)
    mqtt["devices"] = [
        d.model_dump(mode="json", exclude_defaults=True) for d in scenario.site.mqtt.devices
    ]
    mqtt.update(host=host, port=int(port))  # the broker under test wins over the file
    site: dict[str, Any] = {"mqtt": {"host": host, "port": int(port), **mqtt}}
    site["doors"] = _scaled_doors(scenario.site.doors, speed)
    if scenario.site.patrol is not None:
        site["patrol"] = _scaled_patrol(scenario.site.patrol, start, speed, loops, scenario.length)
    return site


def render_passes(
    scenario: Scenario, start: float, speed: float = 1.0, loops: int = 1
) -> list[dict[str, Any]]:
    """Visitor passes with epoch times, as POST /v1/visitor-passes and the edge's
    directives carry them (site and building are the caller's)."""
    _check_speed(speed)
    out = []
    for i in range(_loops(loops)):
        base = start + i * scenario.length / speed
        for p in scenario.passes:
            out.append(
                {
                    "credential": p.credential,
                    "visitor": p.visitor,
                    "valid_from": base + p.valid_from / speed,
                    "valid_to": base + p.valid_to / speed,
                    "doors": list(p.doors),
                }
            )
    return out


def expected_alarms(
    scenario: Scenario, start: float, speed: float = 1.0, loops: int = 1
) -> list[ExpectedAlarm]:
    """The alarms the scenario must raise, in real time; tolerance stays real seconds."""
    _check_speed(speed)
    out = []
    for i in range(_loops(loops)):
        base = start + i * scenario.length / speed
        for x in scenario.expect:
            out.append(ExpectedAlarm(x.code, x.source, base + x.at / speed, x.tolerance))
    return sorted(out, key=lambda a: (a.ts, a.code, a.source))


def schedule(
    scenario: Scenario, start: float, speed: float = 1.0, loops: int = 1
) -> list[Scheduled]:
    """Every event at its real time with the message its device sends, in time order."""
    _check_speed(speed)
    bindings = scenario.bindings()
    out = []
    for i in range(_loops(loops)):
        base = start + i * scenario.length / speed
        for ev in scenario.sorted_events():
            ts = base + ev.at / speed
            out.append(Scheduled(ts, ev, render(ev.sim_event(), bindings[ev.device], ts)))
    return out


def _check_speed(speed: float) -> None:
    if isinstance(speed, bool) or not math.isfinite(speed) or speed <= 0:
        raise ValueError(f"speed must be a positive number, got {speed!r}")


SCENARIOS_DIR = Path(__file__).parent / "scenarios"


def shipped(name: str) -> Path:
    """The path of a shipped scenario, e.g. shipped("compressed-night")."""
    path = SCENARIOS_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in SCENARIOS_DIR.glob("*.yaml")))
        raise ValueError(f"no shipped scenario {name!r} (shipped: {known})")
    return path
