"""Energy quality through the real API (in-process server, real SQLite file): an
implausible jump held out, listed, repaired once (a second repair is a 409 naming the
first); a meter replacement declared after the fact rebuilds the series' energy (the
implausible event it explains is superseded; a repaired event keeps its repair); roles.

Every figure is worked out by hand in the test. Meters read every 15 min; the store's
default rating for kWh is 100,000 kWh/h, so at most 25,000 kWh in 15 min.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from api_testkit import DAY0, add_user, in_process_api, point, reading_batch, record, register_edge

Q = 900  # a quarter hour


class Feed:
    """Readings into the API as edge-1 would send them, seq after seq."""

    def __init__(self, api) -> None:
        self.api, self.seq = api, 0

    def send(self, device: str, readings: list[tuple[int, float]], kind: str = "counter") -> None:
        records = []
        for quarter, value in readings:
            self.seq += 1
            unit = "kWh" if kind == "counter" else "kW"
            p = point("energy_import", value, unit=unit, kind=kind)
            records.append(record(self.seq, DAY0 + quarter * Q, device, [p]))
        answer = self.api.client.post(
            "/v1/ingest", json=reading_batch(records), headers=self.api.as_(self.api.edge)
        )
        assert answer.status_code == 200, answer.text


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):
    directory: Path = tmp_path_factory.mktemp("energy-quality")
    with in_process_api(directory, now=DAY0 + 86400) as running:
        running.tokens = {
            role: add_user(running.db, f"user-{role}", role)
            for role in ("viewer", "operator", "energy_manager", "admin")
        }
        running.edge = register_edge(running.db, "edge-1", "s1", "b1")
        feed = Feed(running)
        # m1: 1000, 1010, then 1,000,000 up in one quarter (far above 25,000): held out
        feed.send("m1", [(0, 1000.0), (1, 1010.0), (2, 1_001_010.0), (3, 1_001_020.0)])
        feed.send("m1", [(4, 1_001_030.0), (5, 1_001_040.0)])
        # m2: swapped at quarter 1.5 for a used meter that reads 500,000 (not declared yet)
        feed.send("m2", [(0, 1000.0), (1, 1010.0), (2, 500_002.0), (3, 500_007.0)])
        feed.send("m2", [(4, 500_012.0)])
        feed.send("g1", [(0, 5.0)], kind="gauge")
        running.feed = feed
        running.ids = {
            s["device"]: s["id"]
            for s in running.client.get("/v1/series", headers=_as(running, "viewer")).json()[
                "series"
            ]
        }
        yield running


def _as(api, role: str) -> dict[str, str]:
    return api.as_(api.tokens[role])


def _events(api, **query: str) -> list[dict]:
    answer = api.client.get("/v1/energy/quality", params=query, headers=_as(api, "viewer"))
    assert answer.status_code == 200, answer.text
    return answer.json()["events"]


def _event_of(api, device: str) -> dict:
    (event,) = [e for e in _events(api) if e["series"]["device"] == device]
    return event


def _quarters(api, device: str) -> dict[int, tuple[float, float, list[str]]]:
    """15-min buckets of the device's energy: quarter -> (consumption, held out, flags)."""
    answer = api.client.get(
        f"/v1/series/{api.ids[device]}/data", params={"step": "15m"}, headers=_as(api, "viewer")
    )
    assert answer.status_code == 200, answer.text
    return {
        (b["start"] - DAY0) // Q: (b["consumption"], b["held_out"], b["flags"])
        for b in answer.json()["points"]
    }


def test_1_an_implausible_jump_is_a_quality_event_to_repair(api) -> None:
    event = _event_of(api, "m1")
    assert event["kind"] == "implausible" and event["state"] == "open"
    # 1,001,010 - 1010 = 1,000,000 over quarter 1 .. quarter 2
    assert event["held"] == pytest.approx(1_000_000.0)
    assert (event["since"], event["ts"]) == (DAY0 + Q, DAY0 + 2 * Q)
    assert event["series"]["point"] == "energy_import" and event["series"]["unit"] == "kWh"
    assert event["repairs"] == []
    # 1000 -> 1010 = 10 in quarter 0; the jump held out in quarter 2 (the level 1,001,010
    # taken from there: 10 a quarter after it)
    assert _quarters(api, "m1") == {
        0: (10.0, 0.0, []),
        1: (0.0, 0.0, []),  # a reading, nothing booked: quarter 1 .. 2 is held out
        2: (10.0, 1_000_000.0, ["implausible"]),
        3: (10.0, 0.0, []),
        4: (10.0, 0.0, []),
        5: (0.0, 0.0, []),
    }
    assert [e["series"]["device"] for e in _events(api, site="s1", building="b1")] == ["m1", "m2"]
    assert _events(api, site="s2") == [] and _events(api, state="repaired") == []


def test_2_only_an_energy_manager_or_admin_repairs(api) -> None:
    event = _event_of(api, "m1")
    for role in ("viewer", "operator"):
        answer = api.client.post(
            f"/v1/energy/quality/{event['id']}/repair",
            json={"action": "accept"},
            headers=_as(api, role),
        )
        assert answer.status_code == 403, answer.text
        assert "'energy.write' needs one of: admin, energy_manager" in answer.json()["detail"]
    assert _event_of(api, "m1")["state"] == "open"


def test_3_a_bad_repair_names_the_field(api) -> None:
    url = f"/v1/energy/quality/{_event_of(api, 'm1')['id']}/repair"
    cases = [
        ({"action": "estimate"}, "estimate", "needs the amount"),
        ({"action": "accept", "estimate": 3}, "estimate", "only the action 'estimate'"),
        ({"action": "estimate", "estimate": -1}, "estimate", "greater than or equal to 0"),
        ({"action": "undo"}, "action", "'accept', 'split' or 'estimate'"),
    ]
    for body, field, words in cases:
        answer = api.client.post(url, json=body, headers=_as(api, "energy_manager"))
        assert answer.status_code == 422, answer.text
        assert field in answer.text and words in answer.text, answer.text
    missing = api.client.post(
        "/v1/energy/quality/999/repair", json={"action": "accept"}, headers=_as(api, "admin")
    )
    assert missing.status_code == 404 and "no quality event 999" in missing.text


def test_4_an_estimate_replaces_the_jump_and_a_second_repair_is_refused(api) -> None:
    event_id = _event_of(api, "m1")["id"]
    url = f"/v1/energy/quality/{event_id}/repair"
    body = {"action": "estimate", "estimate": 12.0, "note": "register fault; baseline 12 kWh"}
    answer = api.client.post(url, json=body, headers=_as(api, "energy_manager"))
    assert answer.status_code == 201, answer.text
    done = answer.json()
    assert done["event"]["state"] == "repaired"
    assert done["repair"]["action"] == "estimate" and done["repair"]["amount"] == 12.0
    assert done["repair"]["by"] == "user-energy_manager" and done["repair"]["at"] == api.now
    # 12 over quarter 1 .. 2: all in quarter 1; the 1,000,000 leaves quarter 2's held_out
    quarters = _quarters(api, "m1")
    assert quarters[1] == (12.0, 0.0, ["repaired"])
    assert quarters[2] == (10.0, 0.0, ["implausible"])
    assert sum(c for c, _, _ in quarters.values()) == pytest.approx(10 + 12 + 10 + 10 + 10)

    again = api.client.post(url, json={"action": "accept"}, headers=_as(api, "admin"))
    assert again.status_code == 409, again.text
    refused = again.json()
    assert refused["first_repair"]["id"] == done["repair"]["id"]
    first = f"repair {done['repair']['id']} (estimate, 12 kWh) by user-energy_manager"
    assert first in refused["detail"]
    assert _quarters(api, "m1") == quarters  # nothing booked twice
    (listed,) = _events(api, state="repaired")
    assert [r["note"] for r in listed["repairs"]] == ["register fault; baseline 12 kWh"]


def test_5_a_replacement_explains_a_new_meter_that_reads_higher(api) -> None:
    before = _event_of(api, "m2")
    assert before["held"] == pytest.approx(500_002 - 1010)  # 498,992: implausible
    url = f"/v1/series/{api.ids['m2']}/replacements"
    body = {"ts": DAY0 + 1.5 * Q, "old_final": 1014.0, "new_initial": 500_000.0, "note": "swap"}
    for role in ("viewer", "operator"):
        assert api.client.post(url, json=body, headers=_as(api, role)).status_code == 403
    answer = api.client.post(url, json=body, headers=_as(api, "energy_manager"))
    assert answer.status_code == 201, answer.text
    declared = answer.json()
    assert declared["readings_fed"] == 5 and declared["replacement"]["rebuilt"] is True
    # Rebuilt: 10 in quarter 0; the old meter's last 1014 - 1010 = 4 over 900..1350 and the
    # new one's 500,002 - 500,000 = 2 over 1350..1800, both in quarter 1; then 5 and 5.
    assert _quarters(api, "m2") == {
        0: (10.0, 0.0, []),
        1: (6.0, 0.0, ["replaced"]),
        2: (5.0, 0.0, []),
        3: (5.0, 0.0, []),
        4: (0.0, 0.0, []),
    }
    assert _event_of(api, "m2")["state"] == "superseded"
    superseded = api.client.post(
        f"/v1/energy/quality/{before['id']}/repair",
        json={"action": "accept"},
        headers=_as(api, "admin"),
    )
    assert superseded.status_code == 409 and "superseded" in superseded.text

    twice = api.client.post(url, json=body, headers=_as(api, "admin"))
    assert twice.status_code == 409, twice.text
    assert twice.json()["existing"]["id"] == declared["replacement"]["id"]
    listed = api.client.get(url, headers=_as(api, "viewer")).json()["replacements"]
    assert [(r["old_final"], r["by"], r["note"]) for r in listed] == [
        (1014.0, "user-energy_manager", "swap")
    ]


def test_6_a_rebuild_keeps_a_repair_and_ingest_continues_from_the_new_meter(api) -> None:
    # m1's meter is swapped at quarter 5 + 500 s for a new one at 0; the new meter's
    # first reading 3 at quarter 6 waits as suspect (1,001,040 -> 3) until declared.
    api.feed.send("m1", [(6, 3.0)])
    url = f"/v1/series/{api.ids['m1']}/replacements"
    body = {"ts": DAY0 + 5 * Q + 500, "old_final": 1_001_045.0, "new_initial": 0.0}
    answer = api.client.post(url, json=body, headers=_as(api, "admin"))
    assert answer.status_code == 201, answer.text
    assert answer.json()["readings_fed"] == 7
    event = _event_of(api, "m1")
    assert event["state"] == "repaired" and len(event["repairs"]) == 1
    # the repair's 12 is booked again in quarter 1; quarter 5: the old meter's last
    # 1,001,045 - 1,001,040 = 5 (4500..5000) and the new one's 3 - 0 = 3 (5000..5400)
    quarters = _quarters(api, "m1")
    assert quarters[1] == (12.0, 0.0, ["repaired"])
    assert quarters[2] == (10.0, 0.0, ["implausible"])
    assert quarters[5] == (8.0, 0.0, ["replaced"])
    assert sum(c for c, _, _ in quarters.values()) == pytest.approx(40 + 12 + 5 + 3)
    # The next batch continues from the new meter's 3 at quarter 6: 8 - 3 = 5
    api.feed.send("m1", [(7, 8.0)])
    assert _quarters(api, "m1")[6] == (5.0, 0.0, [])


def test_7_a_replacement_that_cannot_be_is_refused_and_leaves_nothing(api) -> None:
    url = f"/v1/series/{api.ids['m1']}/replacements"
    admin = _as(api, "admin")
    before = _quarters(api, "m1")
    # the ledger's base is 8 at quarter 7: an old_final of 5 would run the register back
    below = {"ts": DAY0 + 8 * Q, "old_final": 5.0, "new_initial": 0.0}
    answer = api.client.post(url, json=below, headers=admin)
    assert answer.status_code == 422, answer.text
    assert "old_final" in answer.text and "below the old meter's reading 8.0" in answer.text
    future = {"ts": api.now + 60, "old_final": 9.0, "new_initial": 0.0}
    answer = api.client.post(url, json=future, headers=admin)
    assert answer.status_code == 422 and "after the API's clock" in answer.text
    gauge = api.client.post(
        f"/v1/series/{api.ids['g1']}/replacements",
        json={"ts": DAY0, "old_final": 1.0, "new_initial": 0.0},
        headers=admin,
    )
    assert gauge.status_code == 422 and "only a counter" in gauge.text
    listed = api.client.get(url, headers=admin).json()["replacements"]
    assert len(listed) == 1  # quarter 5's only
    assert _quarters(api, "m1") == before
