"""The site file's access sections (mqtt:, doors:, patrol:, directives:), checked together.

Each section is validated by its own core (MqttConfig, DoorRulesConfig.from_dict,
parse_plans); this adds what only the whole file can tell: paths relative to the site
file, payload maps that exist, topics no two devices share, door overrides and heartbeats
that name something the MQTT devices provide, and the sections each one needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device_profiles import ProfileNotFound
from device_profiles.payload_maps import PayloadMapCatalog
from device_profiles.sourced_yaml import ConfigError, Loc
from edge.acquire.mqtt import MqttConfig, topic_index
from edge.acquire.payload_map import DeviceBinding
from edge.rules.door_config import DoorConfigError, DoorRulesConfig
from edge.rules.patrol_plan import PatrolPlan, parse_plans

Problem = Callable[[Loc, str], None]


@dataclass(frozen=True)
class AccessSections:
    mqtt: MqttConfig | None
    doors: DoorRulesConfig
    patrol: tuple[PatrolPlan, ...]


def _resolve(base: Path, p: Path | None) -> Path | None:
    return None if p is None or p.is_absolute() else base / p


def _mqtt_paths(mqtt: MqttConfig, base: Path) -> MqttConfig:
    """password_file and the TLS files are relative to the site file."""
    update: dict[str, Any] = {}
    if mqtt.password_file is not None and not mqtt.password_file.is_absolute():
        update["password_file"] = base / mqtt.password_file
    if mqtt.tls is not None:
        tls = {
            k: _resolve(base, getattr(mqtt.tls, k))
            for k in ("ca_file", "cert_file", "key_file")
            if _resolve(base, getattr(mqtt.tls, k)) is not None
        }
        if tls:
            update["tls"] = mqtt.tls.model_copy(update=tls)
    return mqtt.model_copy(update=update) if update else mqtt


def _check_files(mqtt: MqttConfig, problem: Problem) -> None:
    files: list[tuple[Loc, Path | None]] = [(("mqtt", "password_file"), mqtt.password_file)]
    if mqtt.tls is not None:
        files += [
            (("mqtt", "tls", k), getattr(mqtt.tls, k)) for k in ("ca_file", "cert_file", "key_file")
        ]
    for loc, p in files:
        if p is not None and not p.is_file():
            problem(loc, f"{p} does not exist or is not a file")


def _bindings(mqtt: MqttConfig, problem: Problem) -> list[DeviceBinding]:
    catalog = PayloadMapCatalog()
    out: list[DeviceBinding] = []
    seen: dict[str, int] = {}
    for i, d in enumerate(mqtt.devices):
        if d.id in seen:
            problem(("mqtt", "devices", i, "id"), f"device id {d.id!r} is used twice")
            continue
        seen[d.id] = i
        try:
            pmap = catalog.load(d.map)
        except ProfileNotFound as exc:
            problem(("mqtt", "devices", i, "map"), str(exc))  # it lists the known maps
            continue
        except ConfigError as exc:
            problem(("mqtt", "devices", i, "map"), f"payload map {d.map!r} is invalid: {exc}")
            continue
        try:
            b = DeviceBinding(d.id, pmap, d.door, dict(d.params), d.invert)
        except ValueError as exc:
            problem(("mqtt", "devices", i, "params"), str(exc))
            continue
        unfilled = [t for t in b.topics() if "{" in t]
        if unfilled:
            problem(
                ("mqtt", "devices", i, "params"),
                f"topic {unfilled[0]!r} has a placeholder no param fills",
            )
            continue
        out.append(b)
    try:
        topic_index(out)
    except ValueError as exc:
        problem(("mqtt", "devices"), str(exc))
    return out


def check_access(raw: Any, base: Path, problem: Problem) -> AccessSections:
    """Validate the access sections of a parsed SiteFile; report through `problem`."""
    mqtt = raw.mqtt
    if mqtt is not None:
        mqtt = _mqtt_paths(mqtt, base)
        _check_files(mqtt, problem)
        if raw.outbox is None:
            problem(
                ("mqtt",), "needs an outbox: section (access records and rule state live there)"
            )
    bindings = _bindings(mqtt, problem) if mqtt is not None else []
    for key in ("doors", "patrol"):
        if getattr(raw, key) is not None and mqtt is None:
            problem((key,), "needs an mqtt: section (the access devices it judges)")
    if raw.directives is not None and raw.uplink is None:
        problem(("directives",), "needs an uplink: section (the API it pulls from)")

    doors = DoorRulesConfig()
    if raw.doors is not None:
        try:
            doors = DoorRulesConfig.from_dict(raw.doors)
        except DoorConfigError as exc:
            problem(("doors",), str(exc))
    device_ids = {b.device for b in bindings}
    door_ids = {b.door for b in bindings if b.door} | device_ids  # a bare reader is its own gate
    known_doors = ", ".join(sorted(door_ids)) or "none"
    known_devices = ", ".join(sorted(device_ids)) or "none"
    if mqtt is not None and raw.doors is not None:
        for door in doors.doors:
            if door not in door_ids:
                problem(
                    ("doors", "doors", door),
                    f"door {door!r} is not the door of any mqtt device (doors: {known_doors})",
                )
        for dev in doors.heartbeats:
            if dev not in device_ids:
                problem(
                    ("doors", "heartbeats", dev),
                    f"{dev!r} is not an mqtt device (devices: {known_devices})",
                )

    plans: list[PatrolPlan] = []
    if raw.patrol is not None:
        try:
            plans = parse_plans(raw.patrol)
        except ValueError as exc:
            problem(("patrol",), str(exc))
    return AccessSections(mqtt if mqtt is not None else None, doors, tuple(plans))
