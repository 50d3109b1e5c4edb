"""The API's settings: environment variables STEWARD_API_*, or a dotenv-style file.

Precedence, highest first: values passed in code (the CLI's flags), environment
variables, the settings file (`steward-api.env` in the working directory when present,
or the file given with --env-file), the defaults below.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cloud_api.store.sqlite_series import (
    DEFAULT_COUNTER_MAX_RATE,
    DEFAULT_MAX_SERIES_PER_EDGE,
    SeriesLimits,
)

MiB = 1024 * 1024
DEFAULT_ENV_FILE = "steward-api.env"


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="STEWARD_API_",
        env_file=DEFAULT_ENV_FILE,
        env_file_encoding="utf-8",
        extra="forbid",
    )

    db: Path = Field(Path("./var/steward.sqlite"), description="the SQLite store's file")
    host: str = "127.0.0.1"
    port: int = Field(8400, ge=1, le=65535)
    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        "NORMAL",
        description="NORMAL survives a crash of the API process (kill -9); FULL also a power"
        " loss or OS crash, at the cost of one fsync per batch",
    )

    max_body_bytes: int = Field(16 * MiB, ge=1024, description="ingest body as sent")
    max_decompressed_bytes: int = Field(
        64 * MiB, ge=1024, description="ingest body after Content-Encoding: gzip"
    )

    max_series_per_edge: int = Field(
        DEFAULT_MAX_SERIES_PER_EDGE,
        ge=1,
        description="series one edge may create; a batch that would pass it is refused (403)",
    )
    counter_max_rate: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_COUNTER_MAX_RATE),
        description="per unit, the most an energy counter may rise per hour (kWh: kW); a"
        " faster rise is flagged implausible and held out, not booked (JSON in the env)",
    )
    counter_confirm_readings: int = Field(
        2,
        ge=0,
        le=20,
        description="readings after a counter's fall that must stay low before it counts as"
        " a reset; a return before that is a glitch",
    )
    counter_max_spread_seconds: float = Field(
        31 * 86400.0,
        gt=0,
        description="a counter gap longer than this is held out, not spread over buckets",
    )
    max_clock_skew_seconds: float = Field(
        300.0,
        gt=0,
        description="a record stamped further ahead of the API's receive time is refused (422)",
    )

    energy_config: Path | None = Field(
        None,
        description="the energy configuration YAML (time zones, holidays, buildings' areas,"
        " factors, tariffs, quotas; see cloud_api/energy_config.py); unset: the defaults",
    )
    energy_evaluate_seconds: float = Field(
        300.0,
        ge=0,
        description="how often the budgets are evaluated for their alarms (budget.at_risk,"
        " budget.over); 0: never (status reads still work)",
    )

    session_idle_hours: float = Field(
        12.0,
        gt=0,
        le=24 * 366,
        description="a cockpit session unused this long ends (sliding: each use restarts it)",
    )
    session_max_days: float = Field(
        7.0, gt=0, le=366, description="a cockpit session ends this long after its login"
    )
    session_cookie_secure: bool = Field(
        False,
        description="mark the session cookie Secure (sent over HTTPS only): set it when the"
        " API is reached through an HTTPS proxy",
    )

    influx_url: str | None = Field(
        None, description="InfluxDB v2 write API base URL; unset: no InfluxDB sink"
    )
    influx_token: str = ""
    influx_org: str = "steward"
    influx_bucket: str = "steward"
    influx_batch_points: int = Field(5000, ge=1, description="lines per write request")
    influx_flush_seconds: float = Field(1.0, gt=0, description="longest wait to fill a write")
    influx_queue_points: int = Field(
        1_000_000, ge=1, description="points held for the sink while it is slow or down"
    )
    influx_timeout_seconds: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _limits_agree(self) -> ApiSettings:
        if self.max_decompressed_bytes < self.max_body_bytes:
            raise ValueError(
                "max_decompressed_bytes must be at least max_body_bytes "
                f"({self.max_decompressed_bytes} < {self.max_body_bytes})"
            )
        if self.session_idle_hours > self.session_max_days * 24:
            raise ValueError(
                "session_idle_hours must be at most session_max_days in hours "
                f"({self.session_idle_hours} h > {self.session_max_days} days"
                f" = {self.session_max_days * 24:g} h)"
            )
        return self


def series_limits(
    settings: ApiSettings, rated_kw: Callable[[str, str], float | None] | None = None
) -> SeriesLimits:
    """What the store's series catalogue and counter ledgers allow, from the settings
    (and the meters' ratings from the energy configuration)."""
    return SeriesLimits(
        max_series_per_edge=settings.max_series_per_edge,
        counter_max_rate=settings.counter_max_rate,
        counter_confirm=settings.counter_confirm_readings,
        counter_max_spread=settings.counter_max_spread_seconds,
        rated_kw=rated_kw or (lambda site, device: None),
    )


def load_settings(env_file: Path | None = None, **overrides: object) -> ApiSettings:
    """Settings from the environment and a file; overrides (not None) win over both."""
    given = {key: value for key, value in overrides.items() if value is not None}
    if env_file is not None:
        if not env_file.is_file():
            raise FileNotFoundError(f"settings file {env_file} does not exist")
        return ApiSettings(_env_file=env_file, **given)  # type: ignore[call-arg]
    return ApiSettings(**given)  # type: ignore[arg-type]
