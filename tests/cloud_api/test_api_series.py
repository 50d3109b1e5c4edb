"""The catalogue and data queries over HTTP, on a real `steward-api serve` process."""

from __future__ import annotations

import pytest
from api_testkit import (
    DAY0,
    api_server,
    point,
    post_batch,
    reading_batch,
    record,
    register_edge,
)

# (seconds after DAY0, energy register kWh, power kW)
READINGS = [
    (0, 100.0, 4.0),
    (300, 105.0, 6.0),
    (600, 112.0, 8.0),
    (900, 120.0, 2.0),
    (1200, 5.0, 3.0),  # the register was reset
    (1500, 9.0, 1.0),
    (3600, 15.0, 10.0),
    (86400, 40.0, 20.0),
]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("series")
    db = directory / "steward.sqlite"
    tokens = [register_edge(db, "edge-s1", "s1"), register_edge(db, "edge-s2", "s2")]
    with api_server(directory, db=db) as server:
        records = [
            record(
                i + 1,
                DAY0 + offset,
                "m1",
                [
                    point("energy", energy, unit="kWh", kind="counter"),
                    point("power", power, unit="kW"),
                ],
                tags={"kind": "meter", "floor": "3"},
            )
            for i, (offset, energy, power) in enumerate(READINGS)
        ]
        with server.client(tokens[0]) as client:
            assert post_batch(client, reading_batch(records[:3])).status_code == 200
            assert post_batch(client, reading_batch(records[3:])).status_code == 200
        other = reading_batch(
            [record(1, DAY0, "ahu-9", [point("supply_temp", 18.5, unit="C")])], site="s2"
        )
        with server.client(tokens[1]) as client:
            assert post_batch(client, other).status_code == 200
        with server.client() as client:
            yield client


def series_id(api, device: str, name: str) -> int:
    (found,) = [
        s
        for s in api.get("/v1/series", params={"device": device}).json()["series"]
        if s["point"] == name
    ]
    return found["id"]


def test_catalogue_lists_site_building_device_point_unit_and_tags(api) -> None:
    everything = api.get("/v1/series").json()["series"]
    assert len(everything) == 3
    energy = next(s for s in everything if s["point"] == "energy")
    assert {k: v for k, v in energy.items() if k != "id"} == {
        "site": "s1",
        "building": "b1",
        "device": "m1",
        "point": "energy",
        "unit": "kWh",
        "kind": "counter",
        "tags": {"kind": "meter", "floor": "3"},
    }
    only_s2 = api.get("/v1/series", params={"site": "s2"}).json()["series"]
    assert [(s["device"], s["point"]) for s in only_s2] == [("ahu-9", "supply_temp")]
    one = api.get(f"/v1/series/{energy['id']}").json()
    assert one == energy
    missing = api.get("/v1/series/999999")
    assert missing.status_code == 404 and "no series with id 999999" in missing.json()["detail"]


def test_raw_readings_in_time_order_page_by_page(api) -> None:
    power = series_id(api, "m1", "power")
    whole = api.get(f"/v1/series/{power}/data").json()
    assert whole["step"] == "raw" and whole["next"] is None
    assert [(p["ts"], p["value"]) for p in whole["points"]] == [
        (DAY0 + offset, kw) for offset, _, kw in READINGS
    ]
    pages, url = [], f"/v1/series/{power}/data?limit=3&from={DAY0 + 300}"
    while url:
        answer = api.get(url).json()
        assert len(answer["points"]) <= 3
        pages.append(answer["points"])
        url = answer["next"]
        if url:
            assert f"from={DAY0 + 300}" in url and "limit=3" in url
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [p for page in pages for p in page] == whole["points"][1:]


def test_from_and_to_take_epoch_seconds_or_iso_8601(api) -> None:
    power = series_id(api, "m1", "power")
    by_epoch = api.get(
        f"/v1/series/{power}/data", params={"from": DAY0 + 300, "to": DAY0 + 1200}
    ).json()
    assert [p["value"] for p in by_epoch["points"]] == [6.0, 8.0, 2.0]  # to is exclusive
    for start, end in [
        ("2023-11-14T00:05:00Z", "2023-11-14T00:20:00Z"),
        ("2023-11-14T08:05:00+08:00", "2023-11-14T08:20:00+08:00"),
        ("2023-11-14T00:05:00", "2023-11-14T00:20:00"),  # no offset: UTC
        ("2023-11-14T08:05:00 08:00", "2023-11-14T08:20:00 08:00"),  # '+' unencoded
    ]:
        answer = api.get(f"/v1/series/{power}/data?from={start}&to={end}").json()
        assert answer["points"] == by_epoch["points"], (start, end)
        assert answer["from"] == DAY0 + 300 and answer["to"] == DAY0 + 1200


def test_rollups_over_http_with_consumption_for_counters(api) -> None:
    energy = series_id(api, "m1", "energy")
    power = series_id(api, "m1", "power")

    def buckets(series: int, step: str) -> list[dict]:
        answer = api.get(f"/v1/series/{series}/data", params={"step": step}).json()
        assert answer["step"] == step and answer["next"] is None
        return answer["points"]

    quarter = buckets(energy, "15m")
    assert [(b["start"], b["consumption"]) for b in quarter] == [
        (DAY0, 12.0),  # 100 -> 105 -> 112
        (DAY0 + 900, 12.0),  # 112 -> 120 (8), reset to 5 (0), 5 -> 9 (4)
        (DAY0 + 3600, 6.0),  # 9 -> 15
        (DAY0 + 86400, 25.0),  # 15 -> 40
    ]
    assert [(b["start"], b["consumption"]) for b in buckets(energy, "1h")] == [
        (DAY0, 24.0),
        (DAY0 + 3600, 6.0),
        (DAY0 + 86400, 25.0),
    ]
    assert [(b["start"], b["consumption"]) for b in buckets(energy, "1d")] == [
        (DAY0, 30.0),
        (DAY0 + 86400, 25.0),
    ]

    first_hour = buckets(power, "1h")[0]
    assert (first_hour["count"], first_hour["min"], first_hour["max"]) == (6, 1.0, 8.0)
    assert first_hour["avg"] == pytest.approx((4 + 6 + 8 + 2 + 3 + 1) / 6)
    assert (first_hour["first"], first_hour["last"]) == (4.0, 1.0)
    assert first_hour["consumption"] is None

    later = api.get(
        f"/v1/series/{energy}/data", params={"step": "15m", "from": DAY0 + 900, "limit": 1}
    ).json()
    assert [(b["start"], b["consumption"]) for b in later["points"]] == [(DAY0 + 900, 12.0)]
    assert "after=" in later["next"]


@pytest.mark.parametrize(
    ("params", "status", "phrase"),
    [
        ({"from": "yesterday"}, 400, "from: expected epoch seconds or an ISO 8601 date-time"),
        ({"to": "nan"}, 400, "to: must be a finite time"),
        ({"from": DAY0 + 100, "to": DAY0}, 400, "from must be before to"),
        ({"limit": 100_001}, 400, "limit must be between 1 and 100000"),
        ({"limit": 0}, 400, "limit must be between 1 and 100000"),
        ({"after": "not-a-cursor"}, 400, "after: 'not-a-cursor' is not a cursor"),
        ({"step": "15m", "after": "x"}, 400, "after: 'x' is not a cursor"),
        ({"step": "5m"}, 422, "step"),
    ],
)
def test_bad_query_parameters_are_named(api, params: dict, status: int, phrase: str) -> None:
    power = series_id(api, "m1", "power")
    answer = api.get(f"/v1/series/{power}/data", params=params)
    assert answer.status_code == status
    assert phrase in answer.text


def test_openapi_document_and_offline_docs_page(api) -> None:
    doc = api.get("/openapi.json").json()
    for path in (
        "/v1/ingest",
        "/v1/series",
        "/v1/series/{series_id}/data",
        "/v1/edges",
        "/healthz",
        "/metrics",
    ):
        assert path in doc["paths"], path
    ingest = doc["paths"]["/v1/ingest"]["post"]
    body_ref = ingest["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schemas = doc["components"]["schemas"]
    assert body_ref.split("/")[-1] in schemas
    for name in ("ReadingBatch", "EventBatch", "WirePoint", "IngestAck", "ReplayConflict"):
        assert name in schemas, name
    assert {"400", "401", "403", "409", "413", "422"} <= set(ingest["responses"])
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"

    page = api.get("/docs")
    assert page.status_code == 200 and "/openapi.json" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN: works offline
