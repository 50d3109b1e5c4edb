"""The device catalog: one YAML profile per device model, its schema and its loader."""

from device_profiles.catalog import Catalog, ProfileNotFound, catalog, load, load_file
from device_profiles.schema import CANONICAL_METER_POINTS, Point, Profile, Quirks
from device_profiles.sourced_yaml import ConfigError

__all__ = [
    "CANONICAL_METER_POINTS",
    "Catalog",
    "ConfigError",
    "Point",
    "Profile",
    "ProfileNotFound",
    "Quirks",
    "catalog",
    "load",
    "load_file",
]
