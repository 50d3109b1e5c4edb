"""Find and load profiles by id ("chint/dtsu666") from the shipped catalog and site folders."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

from pydantic import ValidationError

from device_profiles.schema import Profile
from device_profiles.sourced_yaml import ConfigError, describe_errors, load_yaml

BUILTIN_DIR = Path(__file__).parent / "catalog"
PAYLOAD_MAPS_SUBDIR = "payload_maps"


class ProfileNotFound(LookupError):
    pass


class Catalog:
    """Profiles from one or more folders; earlier folders override later ones (site first)."""

    def __init__(self, dirs: Iterable[str | Path] = ()):
        self.dirs = [Path(d) for d in dirs] + [BUILTIN_DIR]
        self._cache: dict[str, Profile] = {}

    def ids(self) -> list[str]:
        found = set()
        for d in self.dirs:
            found.update(
                p.relative_to(d).with_suffix("").as_posix()
                for p in d.rglob("*.yaml")
                # MQTT payload maps live beside the register maps but are another format.
                if p.relative_to(d).parts[0] != PAYLOAD_MAPS_SUBDIR
            )
        return sorted(found)

    def path(self, profile_id: str) -> Path:
        if not profile_id or ".." in profile_id or profile_id.startswith("/"):
            raise ProfileNotFound(f"invalid profile id {profile_id!r}")
        for d in self.dirs:
            candidate = d / f"{profile_id}.yaml"
            if candidate.is_file():
                return candidate
        raise ProfileNotFound(
            f"no profile {profile_id!r}; known profiles: {', '.join(self.ids()) or 'none'}"
        )

    def load(self, profile_id: str) -> Profile:
        if profile_id not in self._cache:
            self._cache[profile_id] = load_file(self.path(profile_id), profile_id)
        return self._cache[profile_id]

    def all(self) -> dict[str, Profile]:
        return {pid: self.load(pid) for pid in self.ids()}


def load_file(path: str | Path, profile_id: str | None = None) -> Profile:
    """Load and validate one profile file; errors name the file, line and field."""
    path = Path(path)
    data, lines = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(path, ["a profile must be a mapping with vendor, model, kind and points"])
    data = {"id": profile_id or path.stem, **data}
    try:
        return Profile.model_validate(data)
    except ValidationError as err:
        raise ConfigError(path, describe_errors(err, lines)) from None


@cache
def builtin() -> Catalog:
    return Catalog()


def load(profile_id: str) -> Profile:
    """Load a shipped profile, e.g. load("chint/dtsu666")."""
    return builtin().load(profile_id)


def catalog() -> dict[str, Profile]:
    """Every shipped profile by id."""
    return builtin().all()
