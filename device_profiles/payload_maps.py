"""Find and load MQTT payload maps ("zigbee2mqtt/contact") from the catalog and site folders."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from device_profiles.catalog import BUILTIN_DIR, PAYLOAD_MAPS_SUBDIR, ProfileNotFound
from device_profiles.payload_schema import PayloadMap
from device_profiles.sourced_yaml import ConfigError, describe_errors, line_of, load_yaml

BUILTIN_MAPS_DIR = BUILTIN_DIR / PAYLOAD_MAPS_SUBDIR


class PayloadMapCatalog:
    """Maps from one or more folders; earlier folders override later ones (site first)."""

    def __init__(self, dirs: Iterable[str | Path] = ()):
        self.dirs = [Path(d) for d in dirs] + [BUILTIN_MAPS_DIR]
        self._cache: dict[str, PayloadMap] = {}

    def ids(self) -> list[str]:
        found = set()
        for d in self.dirs:
            found.update(p.relative_to(d).with_suffix("").as_posix() for p in d.rglob("*.yaml"))
        return sorted(found)

    def load(self, map_id: str) -> PayloadMap:
        if not map_id or ".." in map_id or map_id.startswith("/"):
            raise ProfileNotFound(f"invalid payload map id {map_id!r}")
        if map_id not in self._cache:
            for d in self.dirs:
                candidate = d / f"{map_id}.yaml"
                if candidate.is_file():
                    self._cache[map_id] = load_map_file(candidate, map_id)
                    break
            else:
                raise ProfileNotFound(
                    f"no payload map {map_id!r}; known maps: {', '.join(self.ids()) or 'none'}"
                )
        return self._cache[map_id]

    def all(self) -> dict[str, PayloadMap]:
        return {mid: self.load(mid) for mid in self.ids()}


def load_map_file(path: str | Path, map_id: str | None = None) -> PayloadMap:
    """Load and validate one payload map; errors name the file, line and field."""
    path = Path(path)
    data, lines = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(path, ["a payload map must be a mapping with name, verified, messages"])
    data = {"id": map_id or path.stem, **data}
    try:
        pmap = PayloadMap.model_validate(data)
    except ValidationError as err:
        raise ConfigError(path, describe_errors(err, lines)) from None
    try:
        ZoneInfo(pmap.naive_tz)
    except (ZoneInfoNotFoundError, ValueError):
        line = line_of(lines, ("naive_tz",))
        where = f"line {line}, " if line else ""
        raise ConfigError(path, [f"{where}naive_tz: unknown time zone {pmap.naive_tz!r}"]) from None
    return pmap


@cache
def builtin_maps() -> PayloadMapCatalog:
    return PayloadMapCatalog()


def load_map(map_id: str) -> PayloadMap:
    """Load a shipped payload map, e.g. load_map("zigbee2mqtt/contact")."""
    return builtin_maps().load(map_id)
