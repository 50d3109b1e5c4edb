"""Settings precedence (flags > environment > file > defaults) and the metrics, as
prometheus_client exposes them and its parser reads them back."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import uvicorn
from api_testkit import DAY0, register_edge, simple_batch
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError
from servers import free_port, wait_for_port

from cloud_api.app import create_app
from cloud_api.metrics import ApiMetrics
from cloud_api.settings import ApiSettings, MiB, load_settings


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


@contextlib.contextmanager
def serving(app) -> Iterator[httpx.Client]:
    """`app` served by uvicorn on a thread of this process (so two apps share one)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for_port(port)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(15)


def _families(text: str) -> dict[str, Metric]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def _value(families: dict[str, Metric], sample: str, **labels: str) -> float:
    for family in families.values():
        for s in family.samples:
            if s.name == sample and s.labels == labels:
                return s.value
    raise AssertionError(f"{sample}{labels} not exposed")


def test_metrics_live_in_a_prometheus_client_registry_per_app() -> None:
    one, two = ApiMetrics(), ApiMetrics()  # two apps' worth, in one process
    assert isinstance(one.registry, CollectorRegistry)
    one.points.inc(7)
    one.sink_dropped.labels(reason="queue_full").inc(3)
    assert one.registry.get_sample_value("steward_ingest_points_total") == 7
    assert two.registry.get_sample_value("steward_ingest_points_total") == 0
    assert (
        one.registry.get_sample_value(
            "steward_influx_points_dropped_total", {"reason": "queue_full"}
        )
        == 3
    )
    with pytest.raises(ValueError):
        one.points.inc(-1)  # a counter never goes down


def test_two_apps_in_one_process_expose_their_own_figures_in_prometheus_format(
    tmp_path: Path,
) -> None:
    apps = []
    for name in ("a", "b"):
        db = tmp_path / f"{name}.sqlite"
        token = register_edge(db, f'edge-{name} "quoted" \\ back', "s1")
        apps.append((create_app(ApiSettings(db=db)), token))
    (app_a, token_a), (app_b, _) = apps
    with serving(app_a) as a, serving(app_b) as b:
        batch = simple_batch(1, 10)
        batch["backlog"] = {"readings": {"records": 5, "oldest_ts": DAY0, "dropped": 2}}
        answer = a.post(
            "/v1/ingest",
            content=orjson.dumps(batch),
            headers={"Authorization": f"Bearer {token_a}"},
        )
        assert answer.status_code == 200, answer.text
        scraped_a, scraped_b = a.get("/metrics"), b.get("/metrics")
        assert scraped_a.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        fa, fb = _families(scraped_a.text), _families(scraped_b.text)

        app_a.state.store.close()  # a store that cannot answer: the rest still does
        broken = _families(a.get("/metrics").text)

    edge_a = 'edge-a "quoted" \\ back'  # label escaping survives the round trip
    # 10 records of 2 readings each, by hand
    assert _value(fa, "steward_ingest_points_total") == 20
    assert _value(fb, "steward_ingest_points_total") == 0
    assert _value(fa, "steward_ingest_requests_total", code="200") == 1
    assert _value(fa, "steward_ingest_records_total", lane="readings", outcome="accepted") == 10
    assert _value(fa, "steward_edge_acked_seq", edge=edge_a, lane="readings") == 10
    assert _value(fa, "steward_edge_backlog_records", edge=edge_a, lane="readings") == 5
    assert _value(fa, "steward_edge_reported_dropped_records", edge=edge_a, lane="readings") == 2
    assert (
        _value(fa, "steward_edge_backlog_oldest_timestamp_seconds", edge=edge_a, lane="readings")
        == DAY0
    )
    assert _value(fa, "steward_edge_dropped_at_edge_total", edge=edge_a, lane="readings") == 0
    assert _value(fa, "steward_edge_revoked", edge=edge_a) == 0
    assert _value(fa, "steward_store_up") == 1
    assert _value(fb, "steward_edge_revoked", edge='edge-b "quoted" \\ back') == 0
    assert not [s for f in fb.values() for s in f.samples if s.labels.get("edge") == edge_a]
    # the types Prometheus will see
    for name, kind in {
        "steward_ingest_requests": "counter",
        "steward_ingest_points": "counter",
        "steward_ingest_busy_seconds": "counter",
        "steward_influx_points_dropped": "counter",
        "steward_influx_queue_points": "gauge",
        "steward_edge_dropped_at_edge": "counter",
        "steward_edge_acked_seq": "gauge",
        "steward_edge_last_seen_timestamp_seconds": "gauge",
    }.items():
        assert fa[name].type == kind, name
    assert _value(broken, "steward_store_up") == 0
    assert _value(broken, "steward_ingest_points_total") == 20


def test_serve_with_a_bad_energy_configuration_says_where_and_exits_2(tmp_path: Path) -> None:
    """No traceback for a typo in the energy file: one message naming file, line and field."""
    import subprocess
    import sys

    energy = tmp_path / "energy.yaml"
    energy.write_text("sites:\n  s1:\n    timezone: Asia/Shangai\n")
    done = subprocess.run(
        [sys.executable, "-m", "cloud_api.cli", "serve", "--db", str(tmp_path / "s.sqlite")],
        env={**os.environ, "STEWARD_API_ENERGY_CONFIG": str(energy)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"{energy}: line 3" in done.stderr and "Asia/Shangai" in done.stderr
