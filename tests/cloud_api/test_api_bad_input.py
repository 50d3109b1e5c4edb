"""Bad input against a real `steward-api serve` process: each gets a 4xx naming the problem,
nothing is stored (let alone twice), and the same process keeps serving."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest
from api_testkit import (
    add_user,
    api_server,
    count,
    point,
    post_batch,
    reading_batch,
    record,
    register_edge,
    simple_batch,
)
from prometheus_client.parser import text_string_to_metric_families

from cloud_api.store.sqlite import SqliteStore

LIMIT = 64 * 1024  # compressed / raw body
DECOMPRESSED_LIMIT = 256 * 1024


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    directory: Path = tmp_path_factory.mktemp("bad-input")
    db = directory / "steward.sqlite"
    tokens = {
        "good": register_edge(db, "edge-good", "s1"),
        "revoked": register_edge(db, "edge-gone", "s1"),
        "viewer": add_user(db, "vera", "viewer"),
    }
    store = SqliteStore(db)
    store.revoke_edge("edge-gone")
    store.close()
    env = {
        "STEWARD_API_MAX_BODY_BYTES": str(LIMIT),
        "STEWARD_API_MAX_DECOMPRESSED_BYTES": str(DECOMPRESSED_LIMIT),
    }
    with api_server(directory, db=db, env=env) as api:
        with api.client(tokens["good"]) as client:
            first = post_batch(client, simple_batch(1, 10))
            assert first.status_code == 200, first.text
        yield api, tokens


def stored(api) -> tuple[int, int]:
    return (
        count(api.db, "SELECT count(*) FROM samples"),
        count(api.db, "SELECT coalesce(max(acked), 0) FROM cursors"),
    )


def _raw(client, body: bytes, **headers: str):
    return client.post("/v1/ingest", content=body, headers=headers)


BEYOND_64_BITS = 2**64  # orjson refuses it; SQLite's integers end at 2**63 - 1
SQLITE_MAX = 2**63 - 1


def _with_big_int(batch: dict, where: str) -> bytes:
    """The batch as JSON with the integer at `where` replaced by one beyond 64 bits (which
    orjson, and so post_batch, cannot write)."""
    return orjson.dumps(batch).replace(f'"{where}"'.encode(), str(BEYOND_64_BITS).encode())


def _big_backlog() -> bytes:
    batch = simple_batch(11, 1)
    batch["backlog"] = {"readings": {"records": "BIG", "dropped": 0}}
    return _with_big_int(batch, "BIG")


def _big_event_data() -> bytes:
    event = {"seq": 1, "ts": 1.7e9, "source": "door-7", "code": "forced", "data": {"n": "BIG"}}
    batch = {"site": "s1", "building": "b1", "lane": "events", "records": [event]}
    return _with_big_int(batch, "BIG")


def _bad_value_batch() -> dict:
    batch = simple_batch(11, 3)
    batch["records"][1]["points"][0]["value"] = [1, 2]
    return batch


CASES = {
    "malformed JSON": (
        lambda c: _raw(c, b'{"site": "s1", "records": [1, 2,'),
        400,
        ["malformed JSON: EOF while parsing", "line 1 column"],
    ),
    "not JSON at all": (lambda c: _raw(c, b"site=s1"), 400, ["malformed JSON", "column 1"]),
    "a list of numbers where a value goes": (
        lambda c: post_batch(c, _bad_value_batch()),
        422,
        ["records[1].points[0].value", "number", "valid string"],
    ),
    "a non-finite value": (
        lambda c: _raw(
            c, orjson.dumps(simple_batch(11, 2)).replace(b'"value":1011.0', b'"value":NaN')
        ),
        422,
        ["records[0].points[0].value", "finite number"],
    ),
    "seq as text": (
        lambda c: post_batch(c, reading_batch([record("eleven", 1.7e9, "m1", [point("e", 1.0)])])),  # type: ignore[arg-type]
        422,
        ["records[0].seq"],
    ),
    "seq numbers with a hole": (
        lambda c: post_batch(
            c,
            reading_batch(
                [
                    record(11, 1.7e9, "m1", [point("e", 1.0)]),
                    record(13, 1.7e9, "m1", [point("e", 2.0)]),
                ]
            ),
        ),
        422,
        ["records: must carry consecutive seq numbers: seq 13 follows 11"],
    ),
    "an unknown lane": (
        lambda c: post_batch(c, {**simple_batch(11, 1), "lane": "photos"}),
        422,
        ["lane: must be", "'photos'"],
    ),
    "an integer beyond 64 bits in backlog": (
        lambda c: _raw(c, _big_backlog()),
        422,
        ["backlog.readings.records", "less than or equal to 9223372036854775807"],
    ),
    "an integer beyond 64 bits in event data": (
        lambda c: _raw(c, _big_event_data()),
        422,
        ["records[0].data", "integer beyond 64 bits"],
    ),
    "a body over the limit": (
        lambda c: _raw(c, b" " * (LIMIT + 1)),
        413,
        [f"request body exceeds the limit of {LIMIT} bytes"],
    ),
    "a gzip bomb": (
        lambda c: _raw(c, gzip.compress(b" " * (50 * 1024 * 1024)), **{"Content-Encoding": "gzip"}),
        413,
        [f"decompressed request body exceeds the limit of {DECOMPRESSED_LIMIT} bytes"],
    ),
    "corrupt gzip": (
        lambda c: _raw(c, b"\x1f\x8b\x08\x00 not really gzip", **{"Content-Encoding": "gzip"}),
        400,
        ["corrupt gzip body"],
    ),
    "truncated gzip": (
        lambda c: _raw(
            c,
            gzip.compress(orjson.dumps(simple_batch(11, 5)))[:-20],
            **{"Content-Encoding": "gzip"},
        ),
        400,
        ["corrupt gzip body: the gzip stream is truncated"],
    ),
    "an unsupported encoding": (
        lambda c: _raw(c, b"{}", **{"Content-Encoding": "br"}),
        415,
        ["unsupported Content-Encoding 'br'"],
    ),
    "another site's data": (
        lambda c: post_batch(c, simple_batch(11, 3, site="s2")),
        403,
        ["edge edge-good may only write site s1, not s2"],
    ),
    "a replayed batch": (
        lambda c: post_batch(c, simple_batch(3, 5)),
        409,
        ["records 3..7 of lane readings are already acknowledged (acked 10)"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_with_a_message_naming_the_problem(setup, case: str) -> None:
    api, tokens = setup
    send, status, phrases = CASES[case]
    before = stored(api)
    with api.client(tokens["good"]) as client:
        answer = send(client)
    assert answer.status_code == status, answer.text
    body = answer.json()
    message = body.get("message", body["detail"])  # 422 also lists the problems in detail
    for phrase in phrases:
        assert phrase in message, (case, message)
    assert stored(api) == before
    assert api.proc.poll() is None


@pytest.mark.parametrize(
    ("headers", "phrase"),
    [
        ({}, "missing token"),
        ({"Authorization": "Bearer stw_not-a-token"}, "unknown token"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "expected 'Bearer <token>'"),
        ("revoked", "the token of edge 'edge-gone' has been revoked"),
    ],
)
def test_unknown_missing_and_revoked_tokens_get_401(setup, headers, phrase: str) -> None:
    api, tokens = setup
    if headers == "revoked":
        headers = {"Authorization": f"Bearer {tokens['revoked']}"}
    before = stored(api)
    with api.client() as client:
        answer = client.post(
            "/v1/ingest", content=orjson.dumps(simple_batch(11, 2)), headers=headers
        )
    assert answer.status_code == 401
    assert phrase in answer.json()["detail"]
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert stored(api) == before


def test_after_all_that_the_same_process_still_serves_and_stored_nothing_twice(setup) -> None:
    api, tokens = setup
    assert stored(api) == (20, 10)  # the first batch: 10 records of 2 readings
    with api.client(tokens["good"]) as client:
        assert client.get("/healthz").json()["status"] == "ok"
        answer = post_batch(client, simple_batch(11, 5))
        assert answer.status_code == 200
        assert answer.json() == {
            "lane": "readings",
            "acked": 15,
            "accepted": 5,
            "duplicates": 0,
            "dropped_at_edge": 0,
        }
        text = client.get("/metrics").text
    assert stored(api) == (30, 15)
    assert api.proc.poll() is None
    for reason in (
        "bad_json",
        "invalid",
        "too_large",
        "bad_gzip",
        "wrong_site",
        "replay",
        "unauthorized",
    ):
        assert f'steward_ingest_rejected_total{{reason="{reason}"}}' in text
    # no reading was ever stored twice
    assert (
        count(
            api.db,
            "SELECT count(*) FROM (SELECT series_id, ts, count(*) AS n FROM "
            "samples GROUP BY series_id, ts HAVING n > 1)",
        )
        == 0
    )
    points = next(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "steward_ingest_points_total"
    )
    assert points == 30


@pytest.mark.parametrize(
    ("url", "status", "phrase"),
    [
        (f"/v1/series/{SQLITE_MAX + 1}", 422, "series_id: "),
        (f"/v1/series/{SQLITE_MAX + 1}/data", 422, "series_id: "),
        (f"/v1/series/-{SQLITE_MAX + 2}", 422, "series_id: "),
        (f"/v1/series/1/data?limit={BEYOND_64_BITS}", 400, "limit must be between 1 and"),
        (f"/v1/series/1/data?after=1699920000.0,{BEYOND_64_BITS}", 400, "after: "),
        (f"/v1/series/1/data?step=1h&after={BEYOND_64_BITS}", 400, "after: "),
        (f"/v1/series/1/data?step=1h&after=-{BEYOND_64_BITS}", 400, "after: "),
    ],
)
def test_ids_cursors_and_limits_beyond_sqlite_range_get_a_4xx_naming_the_parameter(
    setup, url: str, status: int, phrase: str
) -> None:
    api, tokens = setup
    with api.client(tokens["viewer"]) as client:
        answer = client.get(url)
    assert answer.status_code == status, answer.text
    body = answer.json()
    message = body.get("message", body["detail"])
    assert phrase in message, message
    assert api.proc.poll() is None
