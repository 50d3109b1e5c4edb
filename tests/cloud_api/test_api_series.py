"""The catalogue and data queries over HTTP, on a real `steward-api serve` process."""

from __future__ import annotations

import re

import pytest
from api_testkit import (
    DAY0,
    add_user,
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
    (1200, 5.0, 3.0),  # the register was reset (5, 9, 15 stay low)
    (1500, 9.0, 1.0),
    (3600, 15.0, 10.0),
    (86400, 40.0, 20.0),
]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("series")
    db = directory / "steward.sqlite"
    tokens = [register_edge(db, "edge-s1", "s1"), register_edge(db, "edge-s2", "s2")]
    viewer = add_user(db, "vera", "viewer")
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
        with server.client(viewer) as client:
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
        "edge": "edge-s1",
        "wrap": None,
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

    quarter = {b["start"] - DAY0: b["consumption"] for b in buckets(energy, "15m")}
    assert quarter == {
        0: 20.0,  # 100 -> 105 -> 112 -> 120: the step 600..900 ends at this quarter's end
        # 120 -> 5 a reset (nothing), 5 -> 9 = 4, and of 9 -> 15 over 1500..3600 (6 kWh in
        # 2100 s) the 300 s up to 1800: 6 * 300 / 2100 = 6 / 7
        900: pytest.approx(4 + 6 / 7),
        # the rest of it: 6 * 900 / 2100 in each of the next two quarters
        1800: pytest.approx(6 * 900 / 2100),
        2700: pytest.approx(6 * 900 / 2100),
        # 15 -> 40 over 3600..86400 (82,800 s, 92 quarters): 25 / 92 each
        **{3600 + 900 * k: pytest.approx(25 / 92) for k in range(92)},
        86400: 0.0,
    }
    hour = {b["start"] - DAY0: b["consumption"] for b in buckets(energy, "1h")}
    # hour 0: 20 + 4 + 6 = 30 (all of 9 -> 15 ends at 3600); then 25 / 23 per hour
    assert hour == {
        0: pytest.approx(30.0),
        **{3600 * h: pytest.approx(25 / 23) for h in range(1, 24)},
        86400: 0.0,
    }
    # Days are local days of Asia/Shanghai (UTC+8, the default): DAY0 is 08:00 there, so
    # 2023-11-14 runs from DAY0 - 8 h to DAY0 + 16 h = 57,600 and holds the 30 of hour 0
    # plus 25 * (57,600 - 3,600) / 82,800 of the gap; 2023-11-15 holds the rest of it,
    # 25 * (86,400 - 57,600) / 82,800, and the last reading (0 kWh). 30 + 25 = 55 in all.
    answer = api.get(f"/v1/series/{energy}/data", params={"step": "1d"}).json()
    assert answer["timezone"] == "Asia/Shanghai"
    day = {b["start"] - DAY0: b["consumption"] for b in answer["points"]}
    assert day == {
        -8 * 3600: pytest.approx(30 + 25 * 54_000 / 82_800),  # 46.304...
        16 * 3600: pytest.approx(25 * 28_800 / 82_800),  # 8.695...
    }
    reset = next(b for b in buckets(energy, "15m") if b["start"] == DAY0 + 900)
    assert reset["flags"] == ["reset", "gap"] and reset["held_out"] == 0.0
    inside_gap = next(b for b in buckets(energy, "15m") if b["start"] == DAY0 + 7200)
    assert (inside_gap["count"], inside_gap["min"], inside_gap["flags"]) == (0, None, ["gap"])

    first_hour = buckets(power, "1h")[0]
    assert (first_hour["count"], first_hour["min"], first_hour["max"]) == (6, 1.0, 8.0)
    assert first_hour["avg"] == pytest.approx((4 + 6 + 8 + 2 + 3 + 1) / 6)
    assert (first_hour["first"], first_hour["last"]) == (4.0, 1.0)
    assert first_hour["consumption"] is None

    later = api.get(
        f"/v1/series/{energy}/data", params={"step": "15m", "from": DAY0 + 900, "limit": 1}
    ).json()
    assert [(b["start"], b["consumption"]) for b in later["points"]] == [
        (DAY0 + 900, pytest.approx(4 + 6 / 7))
    ]
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

    # The page loads only files this server serves (no CDN: it works offline) and points
    # Swagger UI at this server's document. The browser proof: test_docs_browser.py.
    page = api.get("/docs")
    assert page.status_code == 200
    loaded = re.findall(r'(?:src|href)="(/[^"]*)"', page.text)
    assert loaded and all(url.startswith("/docs/assets/") for url in loaded), loaded
    assert "://" not in page.text
    for url in loaded:
        assert api.get(url).status_code == 200, url
    assert 'url: "/openapi.json"' in api.get("/docs/assets/docs-init.js").text


# ------------------------------------------- catalogue bounds and ownership (issue 6.6, 13, 15)

CAP = 1200  # series one edge may create on the `crowded` server


@pytest.fixture(scope="module")
def crowded(tmp_path_factory: pytest.TempPathFactory):
    """A server whose edge `owner` created 1,100 series (two devices of 550 points)."""
    directory = tmp_path_factory.mktemp("crowded")
    db = directory / "steward.sqlite"
    tokens = {name: register_edge(db, name, "s1") for name in ("owner", "intruder")}
    tokens["viewer"] = add_user(db, "vera", "viewer")
    env = {"STEWARD_API_MAX_SERIES_PER_EDGE": str(CAP)}
    with api_server(directory, db=db, env=env) as server:
        records = [
            record(i + 1, DAY0, f"d{i}", [point(f"p{j}", float(j), unit="kWh") for j in range(550)])
            for i in range(2)
        ]
        with server.client(tokens["owner"]) as client:
            assert post_batch(client, reading_batch(records)).status_code == 200
        yield server, tokens


def test_the_catalogue_comes_in_pages_of_at_most_1000(crowded) -> None:
    server, tokens = crowded
    with server.client(tokens["viewer"]) as api:
        first = api.get("/v1/series").json()
        assert len(first["series"]) == 1000 and first["next"] is not None
        second = api.get(first["next"]).json()
        assert len(second["series"]) == 100 and second["next"] is None
        ids = [s["id"] for s in first["series"] + second["series"]]
        assert ids == sorted(ids) and len(set(ids)) == 1100
        small = api.get("/v1/series", params={"device": "d1", "limit": 500}).json()
        assert len(small["series"]) == 500 and "device=d1" in small["next"]
        assert api.get(small["next"]).json()["next"] is None
        too_many = api.get("/v1/series", params={"limit": 1001})
        assert too_many.status_code == 400
        assert "limit must be between 1 and 1000" in too_many.json()["detail"]


def test_a_point_whose_kind_changes_gets_422_naming_device_point_and_both_kinds(crowded) -> None:
    server, tokens = crowded
    flipped = reading_batch(
        [
            record(3, DAY0 + 60, "d0", [point("p0", 1.0, unit="kWh")]),
            record(4, DAY0 + 120, "d0", [point("p0", 2.0, unit="kWh", kind="counter")]),
        ]
    )
    with server.client(tokens["owner"]) as client:
        answer = post_batch(client, flipped)
    assert answer.status_code == 422
    body = answer.json()
    assert body["detail"][0]["loc"] == ["records", 1, "points", 0, "kind"]
    assert body["message"].startswith("records[1].points[0].kind: site s1 building b1 device d0")
    assert (
        "point p0 (series 1) is a gauge in 'kWh'; this record says counter in 'kWh'"
        in (body["message"])
    )
    with server.client(tokens["viewer"]) as api:
        p0 = api.get("/v1/series", params={"device": "d0", "limit": 1}).json()["series"][0]
        assert (p0["point"], p0["kind"]) == ("p0", "gauge")
        data = api.get(f"/v1/series/{p0['id']}/data").json()["points"]
        assert [r["value"] for r in data] == [0.0]  # record 3 was refused with its batch


def test_another_edge_writing_a_series_gets_403_naming_both_edges(crowded) -> None:
    server, tokens = crowded
    same_point = reading_batch([record(1, DAY0 + 60, "d0", [point("p0", 5.0, unit="kWh")])])
    with server.client(tokens["intruder"]) as client:
        answer = post_batch(client, same_point)
    assert answer.status_code == 403
    assert answer.json()["detail"] == (
        "site s1 building b1 device d0 point p0 (series 1) belongs to edge owner;"
        " edge intruder may not write it"
    )


def test_an_edge_past_its_cap_of_new_series_gets_403_and_nothing_is_stored(crowded) -> None:
    server, tokens = crowded
    known = record(3, DAY0 + 60, "d0", [point("p0", 7.0, unit="kWh")])
    new = record(4, DAY0 + 60, "d2", [point(f"q{j}", 1.0) for j in range(150)])  # 1250 > 1200
    with server.client(tokens["owner"]) as client:
        answer = post_batch(client, reading_batch([known, new]))
    assert answer.status_code == 403
    detail = answer.json()["detail"]
    assert f"edge owner may create at most {CAP} series" in detail
    assert "Nothing of this batch was stored" in detail
    with server.client(tokens["viewer"]) as api:
        assert api.get("/v1/series", params={"device": "d2"}).json()["series"] == []
        data = api.get("/v1/series/1/data").json()["points"]
        assert [r["value"] for r in data] == [0.0]  # the known series' reading neither
