"""Junk a real `steward-api serve` process must not store: oversized text, tags and event
data, control and bidi characters, the same point twice, timestamps far ahead of the API's
clock. Each gets a 4xx naming the field; values right at the bounds still go in; the
OpenAPI document states the bounds in JSON Schema keywords."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

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
    simple_batch,
)

SKEW = 60  # seconds a record may be ahead of the API's clock, in this module's server


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    directory: Path = tmp_path_factory.mktemp("bounds")
    db = directory / "steward.sqlite"
    token = register_edge(db, "edge-bounds", "s1")
    env = {"STEWARD_API_MAX_CLOCK_SKEW_SECONDS": str(SKEW)}
    with api_server(directory, db=db, env=env) as api:
        with api.client(token) as client:
            first = post_batch(client, simple_batch(1, 10))
            assert first.status_code == 200, first.text
        yield api, token


def stored(api) -> tuple[int, int, int]:
    return (
        count(api.db, "SELECT count(*) FROM samples"),
        count(api.db, "SELECT count(*) FROM events"),
        count(api.db, "SELECT coalesce(sum(acked), 0) FROM cursors"),
    )


def readings(*points: dict, tags: dict | None = None, ts: float = DAY0 + 3600) -> dict:
    """One record (seq 1): a good power reading plus `points`."""
    one = record(1, ts, "m1", [point("power", 1.0), *points], tags=tags or {"kind": "meter"})
    return reading_batch([one])


def event(**fields: object) -> dict:
    body = {"seq": 1, "ts": DAY0, "source": "door-7", "code": "door.forced", **fields}
    return {"site": "s1", "building": "b1", "lane": "events", "records": [body]}


def ahead(seconds: float) -> dict:
    now = time.time()
    batch = simple_batch(1, 3)
    batch["records"][1]["ts"] = now + seconds
    return batch


CONTROL = "must not contain control characters"
BIDI = "or Unicode bidi controls"

# A case's batch, or what makes it when the case runs: "ahead of the clock" is ahead of
# the clock at that moment, not when the module was collected (minutes earlier, maybe).
CASES: dict[str, tuple[dict | Callable[[], dict], list[str]]] = {
    "a text value over 1,024 characters": (
        readings(point("label", "x" * 1025)),
        ["records[0].points[1].value", "at most 1024 characters"],
    ),
    "a 10 MB text value": (
        readings(point("label", "x" * 10_000_000)),
        ["records[0].points[1].value", "at most 1024 characters"],
    ),
    "a tag key over 64 characters": (
        readings(tags={"k" * 65: "v"}),
        ["records[0].tags", "at most 64 characters"],
    ),
    "a tag value over 256 characters": (
        readings(tags={"zone": "z" * 257}),
        ["records[0].tags.zone", "at most 256 characters"],
    ),
    "33 tags": (
        readings(tags={f"t{i}": "v" for i in range(33)}),
        ["records[0].tags", "at most 32 items"],
    ),
    "an empty tag key": (readings(tags={"": "v"}), ["records[0].tags", "at least 1 character"]),
    "an ANSI escape in a tag value": (
        readings(tags={"zone": "\x1b[31mred"}),
        ["records[0].tags.zone", CONTROL, "U+001B at index 0"],
    ),
    "a newline in a tag key": (
        readings(tags={"zo\nne": "north"}),
        ["records[0].tags", CONTROL, "U+000A at index 2"],
    ),
    "a bidi override in a tag value": (
        readings(tags={"zone": "abc\u202egnp.exe"}),
        ["records[0].tags.zone", BIDI, "U+202E at index 3"],
    ),
    "a bidi isolate in a text value": (
        readings(point("label", "ok\u2066x\u2069")),
        ["records[0].points[1].value", BIDI, "U+2066 at index 2"],
    ),
    "a NUL in a text value": (
        readings(point("label", "serial\x00")),
        ["records[0].points[1].value", CONTROL, "U+0000 at index 6"],
    ),
    "a C1 control in a unit": (
        readings(point("volt", 230.0, unit="V\x85")),
        ["records[0].points[1].unit", CONTROL, "U+0085 at index 1"],
    ),
    "a bidi override in an event message": (
        event(message="door \u202eopen"),
        ["records[0].message", BIDI, "U+202E at index 5"],
    ),
    "a terminal escape in a reason": (
        readings(point("volt", None, quality="bad", reason="timeout\x1b]0;pwned\x07")),
        ["records[0].points[1].reason", CONTROL],
    ),
    "event data over 16 KiB": (
        event(data={"blob": "x" * 17_000}),
        ["records[0].data", "at most 16384 bytes as JSON"],
    ),
    "event data with 65 keys": (
        event(data={f"k{i}": i for i in range(65)}),
        ["records[0].data", "at most 64 items"],
    ),
    "the same point twice in one record": (
        readings(point("energy", 5.0), point("power", 2.0)),
        ["records[0]: points[2] (power) repeats points[0]"],
    ),
    "a record years ahead of the API's clock": (
        partial(ahead, 5 * 365 * 86400),
        ["records[1].ts", f"ahead of the API's clock (at most {SKEW} s allowed)"],
    ),
    "a record two minutes ahead of the API's clock": (
        partial(ahead, 120),
        ["records[1].ts", "ahead of the API's clock"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_junk_is_refused_with_a_4xx_naming_the_field_and_nothing_is_stored(
    setup, case: str
) -> None:
    api, _ = setup
    # an edge of its own per case, so that no case's answer depends on another's
    token = register_edge(api.db, f"edge-case-{list(CASES).index(case)}", "s1")
    batch, phrases = CASES[case]
    batch = batch() if callable(batch) else batch
    before = stored(api)
    with api.client(token) as client:
        answer = post_batch(client, batch)
    assert answer.status_code == 422, answer.text[:500]
    message = answer.json()["message"]
    for phrase in phrases:
        assert phrase in message, (case, message)
    assert "\n" not in message and "\x1b" not in message and "\u202e" not in message
    assert stored(api) == before
    assert api.proc.poll() is None


def test_values_right_at_the_bounds_are_stored(setup) -> None:
    api, _ = setup
    token = register_edge(api.db, "edge-at-bounds", "s1")
    now = time.time()
    tags = {f"t{i:02}": "v" * 256 for i in range(31)}
    tags["k" * 64] = "café – Zürich ✓ \t"[:-2]  # printable non-ASCII is fine
    batch = reading_batch(
        [
            record(
                1,
                now + SKEW - 5,  # a clock a little fast is fine
                "m9",  # its own device: m1's series belong to the edge that created them
                [point("label", "y" * 1024), point("power", 3.0, unit="m³/h")],
                tags=tags,
            )
        ]
    )
    with api.client(token) as client:
        answer = post_batch(client, batch)
        assert answer.status_code == 200, answer.text[:500]
        data_event = event(message="m" * 2000, data={f"k{i}": "x" * 200 for i in range(64)})
        answer = post_batch(client, data_event)
        assert answer.status_code == 200, answer.text[:500]
    assert count(api.db, "SELECT count(*) FROM samples WHERE text = ?", ("y" * 1024,)) == 1


def test_openapi_states_the_bounds_in_json_schema_keywords(setup) -> None:
    api, _ = setup
    with api.client() as client:
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
    point_ = schemas["WirePoint"]["properties"]
    text = next(s for s in point_["value"]["anyOf"] if s.get("type") == "string")
    assert text["maxLength"] == 1024 and "pattern" in text
    assert point_["unit"]["maxLength"] == 32 and "pattern" in point_["unit"]
    assert "pattern" in point_["reason"]["anyOf"][0]
    record_ = schemas["ReadingRecord"]["properties"]
    assert record_["tags"]["maxProperties"] == 32
    assert record_["tags"]["propertyNames"]["maxLength"] == 64
    assert record_["tags"]["propertyNames"]["minLength"] == 1
    assert "pattern" in record_["tags"]["propertyNames"]
    assert record_["tags"]["additionalProperties"]["maxLength"] == 256
    assert "pattern" in record_["tags"]["additionalProperties"]
    assert record_["points"]["maxItems"] == 2000
    assert record_["device"]["maxLength"] == 128 and "pattern" in record_["device"]
    event_ = schemas["EventRecord"]["properties"]
    assert event_["message"]["maxLength"] == 2000 and "pattern" in event_["message"]
    assert event_["data"]["maxProperties"] == 64
    backlog = schemas["Backlog"]["properties"]
    assert backlog["records"]["maximum"] == 2**63 - 1
    # the text pattern is one a JSON Schema (ECMA-262) validator can compile
    pattern = point_["unit"]["pattern"]
    assert "\\u202a" in pattern.lower() and "\\x{" not in pattern
