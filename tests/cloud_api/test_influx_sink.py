"""The InfluxDB sink against a real VictoriaMetrics (InfluxDB v2 write API), read back over
VictoriaMetrics' export API; and ingest carrying on when it is down."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import orjson
import pytest
from api_testkit import (
    DAY0,
    api_server,
    count,
    point,
    post_batch,
    reading_batch,
    record,
    register_edge,
)
from servers import free_port, require_binary, running, stop

from cloud_api.metrics import ApiMetrics
from cloud_api.store.base import EdgeIdentity
from cloud_api.store.influx import InfluxSink, line_protocol
from cloud_api.store.sqlite import SqliteStore
from edge.model import ReadingBatch, ReadingRecord, WirePoint


@pytest.fixture
def victoria(tmp_path: Path):
    binary = require_binary("victoria-metrics")
    port = free_port()
    args = [
        binary,
        f"-httpListenAddr=127.0.0.1:{port}",
        f"-storageDataPath={tmp_path / 'vm'}",
        "-retentionPeriod=100y",
        "-loggerLevel=ERROR",
    ]
    with running(args, port, tmp_path / "vm.log") as proc:
        yield f"http://127.0.0.1:{port}", proc


def exported(url: str, expected_series: int, timeout: float = 10.0) -> dict[str, dict]:
    """Series of the export API by metric name, once `expected_series` are there."""
    deadline = time.monotonic() + timeout
    found: dict[str, dict] = {}
    while time.monotonic() < deadline:
        httpx.get(f"{url}/internal/force_flush")  # make buffered samples searchable now
        answer = httpx.get(
            f"{url}/api/v1/export", params={"match[]": '{__name__=~"(meter|hvac|device)_.*"}'}
        )
        found = {}
        for line in answer.text.splitlines():
            series = orjson.loads(line)
            found[series["metric"].pop("__name__")] = series
        if len(found) >= expected_series:
            return found
        time.sleep(0.2)
    raise AssertionError(f"VictoriaMetrics has {sorted(found)} after {timeout} s")


def exported_where(url: str, selector: str, expected: int, timeout: float = 10.0) -> list[dict]:
    """Series matching `selector`, sorted by metric name, once `expected` are there."""
    deadline = time.monotonic() + timeout
    found: list[dict] = []
    while time.monotonic() < deadline:
        httpx.get(f"{url}/internal/force_flush")
        answer = httpx.get(f"{url}/api/v1/export", params={"match[]": selector})
        found = [orjson.loads(line) for line in answer.text.splitlines()]
        if len(found) >= expected:
            break
        time.sleep(0.2)
    return sorted(found, key=lambda s: (s["metric"]["__name__"], sorted(s["metric"].items())))


def metric_value(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


RECORDS = [
    record(
        1,
        DAY0 + 0.25,
        "m1",
        [
            point("energy", 1500.5, kind="counter"),
            point("power", 12.75),
            point("phase_fault", None, quality="bad", reason="timeout"),
            point("status", "ok"),
        ],
        tags={"kind": "meter", "floor": "2"},
    ),
    record(
        2,
        DAY0 + 60.5,
        "m1",
        [point("energy", 1501.25, kind="counter"), point("power", 13.0)],
        tags={"kind": "meter", "floor": "2"},
    ),
    record(
        3,
        DAY0 + 61,
        "ahu-1",
        [point("supply_temp", 17.5), point("stale_temp", 3.0, quality="stale")],
        tags={"kind": "hvac"},
    ),
    record(4, DAY0 + 62, "door-7", [point("open_seconds", 4.0)]),
]


def test_readings_reach_victoriametrics_exactly_as_ingested(tmp_path: Path, victoria) -> None:
    vm_url, vm_proc = victoria
    db = tmp_path / "steward.sqlite"
    token = register_edge(db, "edge-influx", "s1")
    env = {"STEWARD_API_INFLUX_URL": vm_url, "STEWARD_API_INFLUX_FLUSH_SECONDS": "0.1"}
    batch = reading_batch(RECORDS, building="town-hall")
    with api_server(tmp_path, db=db, env=env) as api, api.client(token) as client:
        assert post_batch(client, batch).status_code == 200
        assert post_batch(client, batch).status_code == 409  # a replay is not copied again

        series = exported(vm_url, expected_series=4)
        # bad, stale and text readings stay in the primary store only
        meter_labels = {"site": "s1", "building": "town-hall", "device": "m1", "floor": "2"}
        assert series == {
            "meter_energy": {
                "metric": meter_labels,
                "values": [1500.5, 1501.25],
                "timestamps": [(DAY0 * 1000) + 250, (DAY0 + 60) * 1000 + 500],
            },
            "meter_power": {
                "metric": meter_labels,
                "values": [12.75, 13.0],
                "timestamps": [(DAY0 * 1000) + 250, (DAY0 + 60) * 1000 + 500],
            },
            "hvac_supply_temp": {
                "metric": {"site": "s1", "building": "town-hall", "device": "ahu-1"},
                "values": [17.5],
                "timestamps": [(DAY0 + 61) * 1000],
            },
            "device_open_seconds": {
                "metric": {"site": "s1", "building": "town-hall", "device": "door-7"},
                "values": [4.0],
                "timestamps": [(DAY0 + 62) * 1000],
            },
        }
        assert metric_value(client.get("/metrics").text, "steward_influx_points_written_total") == 6

        # VictoriaMetrics goes away: ingest carries on into SQLite, the sink counts errors
        stop(vm_proc)
        more = reading_batch(
            [
                record(
                    5,
                    DAY0 + 120,
                    "m1",
                    [point("energy", 1502.0, kind="counter")],
                    tags={"kind": "meter"},
                )
            ],
            building="town-hall",
        )
        answer = post_batch(client, more)
        assert answer.status_code == 200 and answer.json()["acked"] == 5
        deadline = time.monotonic() + 10
        errors = 0.0
        while time.monotonic() < deadline and errors < 1:
            errors = metric_value(client.get("/metrics").text, "steward_influx_write_errors_total")
            time.sleep(0.1)
        assert errors >= 1
        assert client.get("/healthz").json()["status"] == "ok"  # the sink is not the store
    # 4 records: 4 + 2 + 2 + 1 readings stored raw, plus the one sent while VM was down
    assert count(db, "SELECT count(*) FROM samples") == 10


def test_line_protocol_escapes_names_and_keeps_our_tags_authoritative() -> None:
    records = [
        ReadingRecord.model_validate(
            record(
                1,
                DAY0 + 0.001,
                "pump/2",
                [point("flow_m3", 2.5), point("note", "x")],
                tags={"kind": "water pump", "site": "spoofed", "zone": "a,b=c"},
            )
        )
    ]
    lines, readings, unwritable = line_protocol("s 1", "b1", records)
    assert (readings, unwritable) == (1, 0)
    assert lines == [
        r"water\ pump,building=b1,device=pump/2,site=s\ 1,zone=a\,b\=c flow_m3=2.5 1699920000001"
    ]


# Tag keys and values that line protocol must escape; each must arrive exactly as sent.
AWKWARD_TAGS = {
    "m-backslash": {"kind": "meter", "area": "hall\\", "floor": "2"},  # ends in a backslash
    "m-specials": {
        "kind": "sub,meter \\",  # the measurement: a comma, a space, a trailing backslash
        "note": 'a b,c=d "quoted" C:\\\\share\\x',  # spaces, , = " \\ and a lone \\
        "floor level": "2",
        "k=v,x y": "z",
    },
    "m-unicode": {"kind": "heat pump", "zone": "Bâtiment Nord – étage 2 ✓"},
}


# Field names: every character a point name may hold; values: exponents both ways.
FIELDS = [("power", 1.5e-07), ("energy", 1e16), ("flow.m3:h/x-1_b", -2.25)]


def test_awkward_tag_keys_and_values_reach_victoriametrics_exactly(
    tmp_path: Path, victoria
) -> None:
    vm_url, _ = victoria
    db = tmp_path / "steward.sqlite"
    token = register_edge(db, "edge-esc", "s-esc")
    env = {"STEWARD_API_INFLUX_URL": vm_url, "STEWARD_API_INFLUX_FLUSH_SECONDS": "0.1"}
    records = [
        record(seq, DAY0 + seq, device, [point(f, v) for f, v in FIELDS], tags=t)
        for seq, (device, t) in enumerate(AWKWARD_TAGS.items(), start=1)
    ]
    with api_server(tmp_path, db=db, env=env) as api, api.client(token) as client:
        answer = post_batch(client, reading_batch(records, site="s-esc", building="b1"))
        assert answer.status_code == 200, answer.text
        series = exported_where(vm_url, '{site="s-esc"}', expected=9)
        text = client.get("/metrics").text
    got = {(s["metric"].pop("__name__"), s["metric"]["device"]): s for s in series}
    assert len(got) == 9, [s["metric"] for s in series]
    for seq, (device, tags) in enumerate(AWKWARD_TAGS.items(), start=1):
        labels = {k: v for k, v in tags.items() if k != "kind"}
        labels.update(site="s-esc", building="b1", device=device)
        for field, value in FIELDS:
            one = got[(f"{tags['kind']}_{field}", device)]
            assert one["metric"] == labels
            assert one["values"] == [value]
            assert one["timestamps"] == [(DAY0 + seq) * 1000]
    assert metric_value(text, "steward_influx_points_written_total") == 9


def _sink_value(metrics: ApiMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_a_tag_line_protocol_cannot_carry_costs_only_its_own_readings_and_is_counted(
    tmp_path: Path, victoria
) -> None:
    """The API refuses such tags at the door; the sink must still not lose a whole write
    (or write a wrong series) when one reaches it, e.g. from a store filled before."""
    vm_url, _ = victoria
    metrics = ApiMetrics()
    sink = InfluxSink(
        SqliteStore(tmp_path / "steward.sqlite"),
        url=vm_url,
        token="",
        org="o",
        bucket="b",
        metrics=metrics,
        flush_seconds=0.1,
    )

    def rec(seq: int, device: str, tags: dict[str, str]) -> ReadingRecord:
        # model_construct: past the wire model's checks, as a store-side bug would be
        return ReadingRecord.model_construct(
            seq=seq,
            ts=DAY0 + seq,
            device=device,
            tags=tags,
            points=[
                WirePoint(point="power", value=float(seq)),
                WirePoint(point="volt", value=230.0),
            ],
        )

    batch = ReadingBatch.model_construct(
        site="s-bad",
        building="b1",
        lane="readings",
        backlog={},
        records=[
            rec(1, "ok-1", {"kind": "meter"}),
            rec(2, "empty-key", {"kind": "meter", "": "x"}),
            rec(3, "newline", {"kind": "meter", "note": "two\nlines"}),
            rec(4, "comment", {"kind": "#meter"}),
            rec(5, "ok-2", {"kind": "meter", "floor": ""}),  # an empty value is no tag
        ],
    )
    try:
        sink.ingest(EdgeIdentity("edge-bad", "s-bad"), batch, time.time())
        series = exported_where(vm_url, '{site="s-bad"}', expected=4)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
            _sink_value(metrics, "steward_influx_points_written_total") < 4
        ):
            time.sleep(0.05)
    finally:
        sink.close()
    assert sorted((s["metric"]["__name__"], s["metric"]["device"]) for s in series) == [
        ("meter_power", "ok-1"),
        ("meter_power", "ok-2"),
        ("meter_volt", "ok-1"),
        ("meter_volt", "ok-2"),
    ]
    assert all(set(s["metric"]) == {"__name__", "site", "building", "device"} for s in series)
    assert _sink_value(metrics, "steward_influx_points_written_total") == 4
    assert _sink_value(metrics, "steward_influx_points_dropped_total", reason="unwritable") == 6


def test_the_sink_answers_every_other_store_method_from_its_primary(tmp_path: Path) -> None:
    """Alarms, users, edges: what the sink does not define is its primary's (a dead
    InfluxDB URL: nothing here writes to it)."""
    primary = SqliteStore(tmp_path / "steward.sqlite")
    sink = InfluxSink(
        primary, url="http://127.0.0.1:9", token="", org="o", bucket="b", metrics=ApiMetrics()
    )
    try:
        sink.add_edge(EdgeIdentity("edge-x", "s1"), "hash-x")
        assert [e.name for e in primary.list_edges()] == ["edge-x"]
        assert sink.credential("hash-x") == primary.credential("hash-x")
        assert sink.list_alarms(DAY0) == ([], None)
        assert sink.list_patrol_rounds() == []
        with pytest.raises(AttributeError, match="_reader"):
            sink._reader  # noqa: B018 -- private names are not handed through
    finally:
        sink.close(timeout=1.0)
