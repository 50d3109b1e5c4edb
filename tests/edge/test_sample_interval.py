"""The poll interval travels with each readings record: the API measures staleness by it.

An edge fills `interval` from the device's config; an old edge sends none and its records
are still taken (the API then says staleness is unknown)."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from pydantic import ValidationError

from device_profiles import load
from edge.acquire.modbus.bus import Bus, open_link, split_by_send_time
from edge.config import BusConfig, DeviceConfig
from edge.model import Reading, ReadingRecord, Sample
from simulators.clock import SimClock
from simulators.fleet import DeviceFleet, DeviceGroup

TS = 1.78e9


def test_a_polled_device_sends_its_configured_interval() -> None:
    profile = load("chint/dtsu666")

    async def scenario() -> list[Sample]:
        fleet = DeviceFleet([DeviceGroup(profile, [1])], seed=5, clock=SimClock(TS, 0.0))
        server = fleet.server()
        port = await server.start("127.0.0.1", 0)
        cfg = BusConfig.model_validate(
            {"id": "b", "tcp": {"host": "127.0.0.1", "port": port}, "timeout": 1.0, "retries": 0}
        )
        device = DeviceConfig("m1", "b", 1, profile, 7.5, {}, tuple(profile.points))
        samples: list[Sample] = []
        bus = Bus(cfg, [device], samples.append, lambda e: None)
        bus.link = open_link(cfg)
        try:
            await bus.poll_once(bus.pollers[0])
        finally:
            bus.link.close()
            await server.close()
        return samples

    samples = asyncio.run(scenario())
    assert samples and all(s.interval == 7.5 for s in samples)
    body = orjson.loads(orjson.dumps(samples[0].wire()))
    assert body["interval"] == 7.5
    assert ReadingRecord.model_validate({**body, "seq": 1}).interval == 7.5


def test_every_record_of_a_split_poll_carries_the_interval() -> None:
    readings = [Reading(TS, "m1", "a", 1.0, "V"), Reading(TS + 1.0, "m1", "b", 2.0, "V")]
    samples = split_by_send_time("m1", readings, {}, interval=30.0)
    assert [s.interval for s in samples] == [30.0, 30.0]  # two records: 1 s apart > 0.25 s


def test_an_old_edge_without_interval_is_still_taken() -> None:
    sample = Sample(TS, "m1", [Reading(TS, "m1", "p", 1.0, "kW")])
    body = sample.wire()
    assert "interval" not in body  # unknown: not sent, as before
    assert ReadingRecord.model_validate({**body, "seq": 1}).interval is None


@pytest.mark.parametrize("bad", [0, -5, float("nan"), float("inf"), 32 * 86400.0])
def test_a_bad_interval_is_refused_naming_the_field(bad: float) -> None:
    body = {**Sample(TS, "m1", [Reading(TS, "m1", "p", 1.0, "kW")]).wire(), "seq": 1}
    with pytest.raises(ValidationError) as caught:
        ReadingRecord.model_validate({**body, "interval": bad})
    assert caught.value.errors()[0]["loc"] == ("interval",)
