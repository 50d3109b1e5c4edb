"""Site configuration: one YAML file per building -> a validated, fully expanded SiteConfig.

Many devices of one model stay short to write: a device entry may name a `template`
(shared fields) and cover a `units` range ("2-50", "1-8,12"); its id then carries a
`{unit}` placeholder. Every error names the file, the line and the field.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from device_profiles import Catalog, Profile, ProfileNotFound
from device_profiles.addressing import parse_units
from device_profiles.schema import Duration
from device_profiles.sourced_yaml import ConfigError, Loc, describe_errors, line_of, load_yaml
from edge.acquire.mqtt import MqttConfig
from edge.control.settings import (
    ControlConfig,
    ControlSettings,
    DemandSettings,
    check_control,
    check_demand,
)
from edge.model import MAX_TAGS, PLAIN_TEXT
from edge.rules.door_config import DoorRulesConfig
from edge.rules.patrol_plan import PatrolPlan
from edge.site_access import check_access

_PLAIN_TEXT = re.compile(PLAIN_TEXT)

Ident = str  # validated by _IDENT below; kept as str for readable errors
_IDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TcpLink(_Strict):
    host: str
    port: int = Field(502, ge=1, le=65535)
    # Serial gateways often accept only one or two clients; native TCP meters accept more.
    max_connections: int = Field(2, ge=1, le=64)


class RtuLink(_Strict):
    port: str
    baudrate: int = Field(9600, ge=300, le=921600)
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8
    # Silence between frames. Modbus RTU needs 3.5 character times (1.75 ms above 19200 baud);
    # None means "compute it from the baud rate".
    frame_gap: Duration | None = None


class BusConfig(_Strict):
    id: Ident
    tcp: TcpLink | None = None
    rtu: RtuLink | None = None
    timeout: Duration = 1.0
    retries: int = Field(1, ge=0, le=5)
    # Failing devices are polled less and less often, up to this interval.
    backoff_cap: Duration = 60.0

    @model_validator(mode="after")
    def _one_link(self) -> BusConfig:
        if (self.tcp is None) == (self.rtu is None):
            raise ValueError("a bus needs exactly one of tcp: or rtu:")
        if not _IDENT.match(self.id):
            raise ValueError(f"id {self.id!r}: use letters, digits, '_', '.', '-'")
        return self


class DeviceFields(_Strict):
    """Fields a device entry and a template share."""

    bus: str | None = None
    profile: str | None = None
    interval: Duration | None = None
    # Tags travel on every record of the device: the wire's own rules, so that a tag the
    # API would refuse is a config error here, not a dead-lettered record later.
    tags: dict[str, str] = Field(default_factory=dict)
    # Read only these points (default: every point of the profile).
    points: list[str] | None = None

    @field_validator("tags")
    @classmethod
    def _tags_the_wire_carries(cls, tags: dict[str, str]) -> dict[str, str]:
        if len(tags) > MAX_TAGS:
            raise ValueError(f"at most {MAX_TAGS} tags, got {len(tags)}")
        for key, value in tags.items():
            if not 1 <= len(key) <= 64:
                raise ValueError(f"tag name {key!r} must be 1 to 64 characters")
            if len(value) > 256:
                raise ValueError(f"tag {key}: value must be at most 256 characters")
            for text in (key, value):
                if not _PLAIN_TEXT.match(text):
                    raise ValueError(
                        f"tag {key!r}: {text!r} holds a control or bidi character, "
                        "which the central API refuses"
                    )
        return tags


class DeviceEntry(DeviceFields):
    id: str
    unit: int | None = Field(None, ge=0, le=255)
    units: str | None = None
    template: str | None = None


class OutboxSettings(_Strict):
    """Where accepted readings and events wait for the central API (path: relative to the site)."""

    path: str = "outbox.sqlite"
    # Bound on buffered readings; the oldest are dropped (counted, logged) beyond it.
    # 20 M points is about 4 days of 200 meters x 20 points every 5 s.
    max_points: int = Field(20_000_000, ge=1000)
    max_bytes: int = Field(2 * 1024**3, ge=1024**2)
    synchronous: Literal["NORMAL", "FULL"] = "NORMAL"


class UplinkSettings(_Strict):
    """The central API this edge reports to, and how it authenticates."""

    url: str = Field(pattern=r"^https?://")
    # Exactly one source for the edge's bearer token; keep secrets out of the site file
    # with token_file or token_env.
    token: str | None = None
    token_file: str | None = None
    token_env: str | None = None
    max_records: int = Field(2000, ge=1, le=20_000)
    max_age: Duration = 2.0
    # Longest wait between attempts while the API is unreachable (backoff doubles up to it).
    retry_max: Duration = 10.0
    # How far the edge's clock may be from the API's before what it stamps is held.
    clock_max_skew: Duration = Field(300.0, gt=0)

    @model_validator(mode="after")
    def _one_token_source(self) -> UplinkSettings:
        given = [k for k in ("token", "token_file", "token_env") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of token, token_file or token_env")
        return self

    def resolve_token(self, base: Path) -> str:
        """The token itself; errors say where it was looked for."""
        import os

        if self.token:
            return self.token
        if self.token_env:
            value = os.environ.get(self.token_env, "").strip()
            if not value:
                raise ValueError(
                    f"uplink.token_env: environment variable {self.token_env} is not set"
                )
            return value
        path = base / str(self.token_file)
        try:
            value = path.read_text().strip()
        except OSError as exc:
            raise ValueError(f"uplink.token_file: cannot read {path}: {exc.strerror}") from None
        if not value:
            raise ValueError(f"uplink.token_file: {path} is empty")
        return value


_NAME = re.compile(r"^[A-Za-z0-9_.:\-/]{1,128}$")  # what the central API accepts (edge/model.py)


def _wire_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"{value!r} is not a valid name: use 1-128 letters, digits, _ . : - /")
    return value


WireName = Annotated[str, AfterValidator(_wire_name)]


class DirectivesSettings(_Strict):
    """Pull the API's directives (visitor passes) for this edge every `every` seconds."""

    every: Duration = Field(5.0, gt=0)


class SiteFile(_Strict):
    site: WireName
    building: WireName
    edge: WireName | None = None
    profiles_dir: str | None = None
    default_interval: Duration = 10.0
    # Modbus; optional when mqtt: is present (a building may have only access devices).
    buses: list[BusConfig] = Field(default_factory=list)
    templates: dict[str, DeviceFields] = Field(default_factory=dict)
    devices: list[DeviceEntry] = Field(default_factory=list)
    outbox: OutboxSettings | None = None
    uplink: UplinkSettings | None = None
    mqtt: MqttConfig | None = None
    doors: dict | None = None  # edge.rules.door_config.DoorRulesConfig.from_dict's shape
    patrol: dict | None = None  # edge.rules.patrol_plan.parse_plans's shape
    directives: DirectivesSettings | None = None
    demand: DemandSettings | None = None
    control: ControlSettings | None = None


@dataclass(frozen=True)
class DeviceConfig:
    id: str
    bus: str
    unit: int
    profile: Profile
    interval: float
    tags: dict[str, str]
    points: tuple[str, ...]


@dataclass(frozen=True)
class SiteConfig:
    path: Path
    site: str
    building: str
    edge: str
    buses: dict[str, BusConfig]
    devices: list[DeviceConfig]
    outbox: OutboxSettings | None = None
    uplink: UplinkSettings | None = None
    catalog: Catalog = field(default_factory=Catalog, repr=False)
    mqtt: MqttConfig | None = None  # file paths in it already resolved against the site's
    doors: DoorRulesConfig = field(default_factory=DoorRulesConfig)
    patrol: tuple[PatrolPlan, ...] = ()
    directives: DirectivesSettings | None = None
    demand: DemandSettings | None = None
    control: ControlConfig | None = None


def _wire_of(bus: BusConfig) -> tuple[tuple, str, Loc]:
    """What a bus talks through, as a comparable key: a serial device (its real path,
    so a /dev/serial/by-id link and its /dev/ttyUSB target match) or a host:port, also
    for RTU over TCP URLs such as socket://10.0.0.7:4001."""
    if bus.tcp is not None:
        host, port = bus.tcp.host.strip().lower(), bus.tcp.port
        return ("net", host, port), f"{bus.tcp.host}:{port}", ("tcp", "host")
    assert bus.rtu is not None
    port_spec = bus.rtu.port.strip()
    _scheme, sep, rest = port_spec.partition("://")
    if sep:
        hostport = rest.split("?", 1)[0].rstrip("/")
        host, _, port = hostport.rpartition(":")
        if host and port.isdigit():
            return ("net", host.lower(), int(port)), port_spec, ("rtu", "port")
        return ("url", port_spec.lower()), port_spec, ("rtu", "port")
    return ("serial", os.path.realpath(port_spec)), port_spec, ("rtu", "port")


def load_site(path: str | Path, text: str | None = None) -> SiteConfig:
    """Read, validate and expand a site file. Raises ConfigError listing every problem."""
    path = Path(path)
    data, lines = load_yaml(path, text)
    if not isinstance(data, dict):
        raise ConfigError(
            path, ["a site file must be a mapping with site, building, buses, devices"]
        )
    try:
        raw = SiteFile.model_validate(data)
    except ValidationError as err:
        raise ConfigError(path, describe_errors(err, lines)) from None

    problems: list[str] = []

    def problem(loc: Loc, msg: str) -> None:
        problems.append(_at(lines, loc, msg))

    if raw.mqtt is None and (not raw.buses or not raw.devices):
        missing = " and ".join(k for k in ("buses", "devices") if not getattr(raw, k))
        problem((), f"{missing} missing: a site needs Modbus buses and devices, or mqtt:")
    access = check_access(raw, path.parent, problem)

    buses: dict[str, BusConfig] = {}
    wires: dict[tuple, tuple[str, str]] = {}  # what a bus talks through -> (bus id, as written)
    for i, bus in enumerate(raw.buses):
        if bus.id in buses:
            problem(("buses", i, "id"), f"bus id {bus.id!r} is used twice")
        buses[bus.id] = bus
        key, shown, field_loc = _wire_of(bus)
        if key in wires:
            other, other_shown = wires[key]
            # Two buses on one port would interleave frames on one line (or fight over
            # a gateway's few connections): every device's answers become unreliable.
            problem(
                ("buses", i, *field_loc),
                f"bus {bus.id!r} uses {shown}, which bus {other!r} already uses "
                f"({other_shown}); put the devices of both on one bus",
            )
        else:
            wires[key] = (bus.id, shown)

    base = path.parent
    dirs = [base / raw.profiles_dir] if raw.profiles_dir else []
    catalog = Catalog(dirs)

    devices: list[DeviceConfig] = []
    seen_ids: dict[str, Loc] = {}
    seen_units: dict[tuple[str, int], str] = {}
    for i, entry in enumerate(raw.devices):
        loc: Loc = ("devices", i)
        merged = DeviceFields()
        if entry.template is not None:
            tpl = raw.templates.get(entry.template)
            if tpl is None:
                known = ", ".join(raw.templates) or "none defined"
                problem(
                    (*loc, "template"), f"unknown template {entry.template!r} (templates: {known})"
                )
                continue
            merged = tpl
        bus_id = entry.bus or merged.bus
        profile_id = entry.profile or merged.profile
        interval = entry.interval or merged.interval or raw.default_interval
        tags = {**merged.tags, **entry.tags}
        wanted = entry.points if entry.points is not None else merged.points
        if bus_id is None:
            problem(loc, "bus is missing (set it on the device or its template)")
            continue
        if bus_id not in buses:
            problem((*loc, "bus"), f"unknown bus {bus_id!r} (buses: {', '.join(buses)})")
            continue
        if profile_id is None:
            problem(loc, "profile is missing (set it on the device or its template)")
            continue
        try:
            profile = catalog.load(profile_id)
        except ProfileNotFound as exc:
            problem((*loc, "profile"), str(exc))
            continue
        except ConfigError as exc:
            problem((*loc, "profile"), f"profile {profile_id!r} is invalid: {exc}")
            continue
        if interval <= 0:
            problem((*loc, "interval"), "interval must be positive")
            continue
        if wanted is not None:
            unknown = [p for p in wanted if p not in profile.points]
            if unknown:
                problem((*loc, "points"), f"{profile_id} has no point(s) {', '.join(unknown)}")
                continue
        point_names = tuple(wanted) if wanted is not None else tuple(profile.points)

        if (entry.unit is None) == (entry.units is None):
            problem(loc, "give exactly one of unit: (one device) or units: (a range)")
            continue
        if entry.units is not None:
            try:
                units = parse_units(entry.units)
            except ValueError as exc:
                problem((*loc, "units"), str(exc))
                continue
            if "{unit}" not in entry.id and len(units) > 1:
                problem(
                    (*loc, "id"), "a units range needs {unit} in the id, e.g. floor-meter-{unit}"
                )
                continue
        else:
            if entry.unit == 0:
                problem(
                    (*loc, "unit"),
                    "unit 0 is the Modbus broadcast address: no device answers a read sent "
                    "to it; give the device's own unit id (1-247; a Modbus TCP device that "
                    "ignores unit ids usually answers on 1 or 255)",
                )
                continue
            units = [entry.unit]  # type: ignore[list-item]

        for unit in units:
            dev_id = entry.id.replace("{unit}", str(unit))
            if not _IDENT.match(dev_id):
                problem((*loc, "id"), f"device id {dev_id!r}: use letters, digits, '_', '.', '-'")
                break
            if dev_id in seen_ids:
                problem((*loc, "id"), f"device id {dev_id!r} is already used")
                break
            if (bus_id, unit) in seen_units:
                other = seen_units[(bus_id, unit)]
                problem(loc, f"unit {unit} on bus {bus_id} is already device {other!r}")
                break
            seen_ids[dev_id] = loc
            seen_units[(bus_id, unit)] = dev_id
            devices.append(DeviceConfig(dev_id, bus_id, unit, profile, interval, tags, point_names))

    control = _check_control(raw, devices, problem)
    if problems:
        raise ConfigError(path, problems)
    return SiteConfig(
        path=path,
        site=raw.site,
        building=raw.building,
        edge=raw.edge or f"{raw.site}.{raw.building}",
        buses=buses,
        devices=devices,
        outbox=raw.outbox,
        uplink=raw.uplink,
        catalog=catalog,
        mqtt=access.mqtt,
        doors=access.doors,
        patrol=access.patrol,
        directives=raw.directives,
        demand=raw.demand,
        control=control,
    )


def _check_control(raw: SiteFile, devices: list[DeviceConfig], problem) -> ControlConfig | None:
    """demand: and control: against the devices: the meter and zones exist, have the
    points needed, and the zones' setpoints are polled (the read-back needs them)."""
    profiles = {d.id: d.profile for d in devices}
    if raw.demand is not None:
        check_demand(raw.demand, profiles, problem)
        meter = next((d for d in devices if d.id == raw.demand.meter), None)
        if meter is not None and raw.demand.point_name not in meter.points:
            problem(("demand", "meter"), f"{meter.id} does not poll {raw.demand.point_name}")
    if raw.control is None:
        return None
    control = check_control(raw.control, profiles, problem)
    if control is None:
        return None
    polled = {d.id: set(d.points) for d in devices}
    for i, zone in enumerate(control.zones):
        unpolled = sorted(set(zone.points) - polled[zone.device])
        if unpolled:
            problem(
                ("control", "zones", i, "device"),
                f"{zone.device} does not poll {', '.join(unpolled)}: a write is checked "
                "against what the zone reports, so its writable points must be polled",
            )
            return None
    if raw.outbox is None:
        problem(("control",), "control: needs an outbox: (commands, state and audit live there)")
    return control


def _at(lines: dict, loc: Loc, msg: str) -> str:
    """'line N, field.path: message' (the line of the deepest part of loc the YAML has)."""
    line = line_of(lines, loc)
    where = f"line {line}, " if line else ""
    dotted = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
    return f"{where}{dotted}: {msg}" if dotted else f"{where}{msg}"
