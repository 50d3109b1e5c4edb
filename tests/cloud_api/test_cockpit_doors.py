"""GET /v1/cockpit/doors: each door's state from its access events and door alarms, sent
through POST /v1/ingest as the edge sends them; the expected state after each step is
written out by hand (the rules in cloud_api/cockpit/doors.py's docstring)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest
from security_testkit import T0, Central, access, alarm, central

from cloud_api.store.sqlite import SqliteStore


@pytest.fixture
def api(tmp_path: Path):
    with central(tmp_path) as hub:
        yield hub


def doors(api: Central, **params: object) -> list[dict]:
    answer = api.get("/v1/cockpit/doors", **params)
    assert answer.status_code == 200, answer.text
    return answer.json()["doors"]


def d1(api: Central) -> tuple:
    (door,) = [d for d in doors(api, site="s1", building="b1") if d["door"] == "D1"]
    return door["state"], door["since"], door["last_kind"]


def test_state_follows_opened_closed_forced_and_held_open(api: Central) -> None:
    t = T0
    api.send(access(0, t, "access.granted", "r1", door="D1", credential="C1"))
    assert d1(api) == ("unknown", None, "access.granted")  # a badge, no position yet

    api.send(access(0, t + 2, "door.opened", "c1", door="D1"))
    assert d1(api) == ("open", t + 2, "door.opened")
    api.send(access(0, t + 10, "door.closed", "c1", door="D1"))
    assert d1(api) == ("closed", t + 10, "door.closed")

    # Opened without a grant: the edge raises door.forced with the door as the source.
    api.send(
        access(0, t + 100, "door.opened", "c1", door="D1"),
        alarm(0, t + 100, "door.forced", "D1", True, "red"),
    )
    assert d1(api) == ("forced", t + 100, "door.opened")
    # Still open past the hold time: held open too, but forced is the one shown.
    api.send(alarm(0, t + 160, "door.held_open", "D1", True, "yellow"))
    assert d1(api) == ("forced", t + 100, "door.opened")
    # Closing clears both.
    api.send(
        access(0, t + 200, "door.closed", "c1", door="D1"),
        alarm(0, t + 200, "door.forced", "D1", False),
        alarm(0, t + 200, "door.held_open", "D1", False),
    )
    assert d1(api) == ("closed", t + 200, "door.closed")

    # A badge, the door opens and is held open.
    api.send(
        access(0, t + 299, "access.granted", "r1", door="D1", credential="C1"),
        access(0, t + 300, "door.opened", "c1", door="D1"),
        alarm(0, t + 330, "door.held_open", "D1", True, "yellow"),
    )
    assert d1(api) == ("held_open", t + 330, "door.opened")
    # A late door.closed from before the opening changes nothing.
    api.send(access(0, t + 250, "door.closed", "c1", door="D1"))
    assert d1(api) == ("held_open", t + 330, "door.opened")
    # A badge at the door: the latest kind, not a position.
    api.send(access(0, t + 340, "access.denied", "r1", door="D1", credential="C9"))
    assert d1(api) == ("held_open", t + 330, "access.denied")
    # Closed after the raise, though the clear never came: the newer fact wins.
    api.send(access(0, t + 400, "door.closed", "c1", door="D1"))
    assert d1(api) == ("closed", t + 400, "door.closed")


def test_doors_by_place_the_device_is_its_own_door_and_scans_are_no_doors(api: Central) -> None:
    t = T0
    api.send(access(0, t, "door.opened", "gate-7"))  # no door: the device's own
    api.send(access(0, t, "door.closed", "c2", door="D2"), building="b2")
    api.send(access(0, t, "patrol.scan", "cp-reader", credential="G1"))
    api.send(access(0, t, "access.granted", "r5", credential="C1"))  # no door, not a door kind
    assert doors(api) == [
        {
            "site": "s1",
            "building": "b1",
            "door": "gate-7",
            "state": "open",
            "since": t,
            "last_kind": "door.opened",
        },
        {
            "site": "s1",
            "building": "b2",
            "door": "D2",
            "state": "closed",
            "since": t,
            "last_kind": "door.closed",
        },
    ]
    assert [d["door"] for d in doors(api, site="s1", building="b2")] == ["D2"]
    assert doors(api, site="s2") == []
    # A door alarm of another building with the same door name does not leak.
    api.send(alarm(0, t + 5, "door.forced", "D2", True, "red"), building="b9")
    assert [d["state"] for d in doors(api, site="s1", building="b2")] == ["closed"]


def test_a_store_from_before_the_door_table_fills_it_from_its_events(api: Central) -> None:
    t = T0
    api.send(
        access(0, t, "door.opened", "c1", door="D1"),
        access(0, t + 5, "door.closed", "c1", door="D1"),
        access(0, t + 9, "access.granted", "r1", door="D1", credential="C1"),
        access(0, t + 1, "door.opened", "c3", door="D3"),
    )
    before = doors(api)
    with contextlib.closing(sqlite3.connect(api.db)) as db:
        db.execute("DROP TABLE door_state")
        db.commit()
    SqliteStore(api.db).close()  # opening it migrates: the table again, from the events
    with contextlib.closing(sqlite3.connect(api.db)) as db:
        rows = db.execute(
            "SELECT door, position, position_ts, last_kind, last_ts FROM door_state ORDER BY door"
        ).fetchall()
    assert rows == [
        ("D1", "door.closed", t + 5, "access.granted", t + 9),
        ("D3", "door.opened", t + 1, "door.opened", t + 1),
    ]
    assert [(d["door"], d["state"], d["since"], d["last_kind"]) for d in before] == [
        ("D1", "closed", t + 5, "access.granted"),
        ("D3", "open", t + 1, "door.opened"),
    ]
