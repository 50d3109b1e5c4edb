"""Settings precedence (flags > environment > file > defaults) and the metrics text format."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cloud_api.metrics import Registry, render
from cloud_api.settings import MiB, load_settings


def test_settings_come_from_file_environment_and_flags_in_that_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("STEWARD_API_DB", "STEWARD_API_PORT", "STEWARD_API_MAX_BODY_BYTES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no steward-api.env from the working directory
    defaults = load_settings()
    assert defaults.db == Path("var/steward.sqlite")
    assert (defaults.max_body_bytes, defaults.max_decompressed_bytes) == (16 * MiB, 64 * MiB)
    assert defaults.influx_url is None

    settings_file = tmp_path / "api.env"
    settings_file.write_text(
        "STEWARD_API_DB=/srv/steward/from-file.sqlite\n"
        "STEWARD_API_PORT=9000\n"
        "STEWARD_API_INFLUX_URL=http://127.0.0.1:8428\n"
    )
    from_file = load_settings(settings_file)
    assert (from_file.db, from_file.port) == (Path("/srv/steward/from-file.sqlite"), 9000)
    assert from_file.influx_url == "http://127.0.0.1:8428"

    monkeypatch.setenv("STEWARD_API_PORT", "9100")
    assert load_settings(settings_file).port == 9100  # the environment beats the file
    assert load_settings(settings_file, port=9200).port == 9200  # a flag beats both
    assert load_settings(settings_file, port=None).port == 9100  # an unset flag does not


def test_bad_settings_name_the_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    typo = tmp_path / "typo.env"
    typo.write_text("STEWARD_API_MAX_BODY_BYTEZ=5\n")
    with pytest.raises(ValidationError, match="max_body_bytez"):
        load_settings(typo)
    with pytest.raises(FileNotFoundError, match=r"missing\.env"):
        load_settings(tmp_path / "missing.env")
    with pytest.raises(ValidationError, match="max_decompressed_bytes must be at least"):
        load_settings(max_body_bytes=10 * MiB, max_decompressed_bytes=MiB)


def test_metrics_render_in_prometheus_text_format() -> None:
    registry = Registry()
    plain = registry.counter("demo_things_total", "things done")
    labelled = registry.counter("demo_refused_total", 'refusals "quoted"\nby reason', ("reason",))
    gauge = registry.gauge("demo_depth", "queue depth", ("lane",))
    labelled.inc(reason='bad "json"\\n')
    labelled.inc(2, reason="replay")
    gauge.set(1.5, lane="readings")
    with pytest.raises(ValueError, match="cannot go down"):
        plain.inc(-1)
    with pytest.raises(ValueError, match="takes labels"):
        labelled.inc(lane="x")
    assert render(registry.families()) == (
        "# HELP demo_things_total things done\n"
        "# TYPE demo_things_total counter\n"
        "demo_things_total 0\n"
        '# HELP demo_refused_total refusals "quoted"\\nby reason\n'
        "# TYPE demo_refused_total counter\n"
        'demo_refused_total{reason="bad \\"json\\"\\\\n"} 1\n'
        'demo_refused_total{reason="replay"} 2\n'
        "# HELP demo_depth queue depth\n"
        "# TYPE demo_depth gauge\n"
        'demo_depth{lane="readings"} 1.5\n'
    )
