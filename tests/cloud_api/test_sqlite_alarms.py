"""Alarms and patrol rounds in the SQLite store, fed by ingest (no HTTP, no auth).

Oracles are worked by hand from the ISA-18.2 states: a raise is unack, a clear before
anyone acknowledged is rtn_unack, and so on.
"""

from __future__ import annotations

import contextlib
import sqlite3

import pytest
from api_testkit import STORE_NOW, parse
from security_testkit import T0, alarm, event_batch, patrol_round, round_result

from cloud_api.store.base import EdgeIdentity, UnknownAlarmError
from cloud_api.store.sqlite import SqliteStore
from edge.rules.alarms import InvalidTransition

EDGE = EdgeIdentity("edge-1", "s1")


def ingest(store: SqliteStore, records: list[dict], **where: str):
    return store.ingest(EDGE, parse(event_batch(records, **where)), STORE_NOW)


def log_rows(store: SqliteStore) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(store.path)) as db:
        return db.execute(
            "SELECT alarm_id, action, from_state, to_state, by, ts FROM alarm_log ORDER BY id"
        ).fetchall()


def only(store: SqliteStore, now: float = T0 + 1000) -> dict:
    (found,), _ = store.list_alarms(now)
    return found


def test_a_resent_batch_changes_no_alarm_again(store: SqliteStore) -> None:
    first = [
        alarm(1, T0, "door.forced", "D2", True, "red", "door D2 forced"),
        alarm(2, T0 + 30, "door.forced", "D2", False),
    ]
    second = [*first, alarm(3, T0 + 60, "door.forced", "D2", True, "red")]
    ingest(store, first)
    ingest(store, first)  # the answer was lost: the edge sends the batch again
    ingest(store, second)  # and then a batch overlapping it
    ingest(store, second)
    a = only(store)
    # Hand count: raise (1), clear (2), raise (3): two raises, whatever was resent.
    assert (a["raise_count"], a["state"], a["active"], a["raised_at"]) == (
        2,
        "unack",
        True,
        T0 + 60,
    )
    assert [(r[1], r[2], r[3]) for r in log_rows(store)] == [
        ("raise", "normal", "unack"),
        ("clear", "unack", "rtn_unack"),
        ("raise", "rtn_unack", "unack"),
    ]
    assert all(r[4] == "system" for r in log_rows(store))


def test_one_alarm_per_site_building_code_source(store: SqliteStore) -> None:
    ingest(
        store,
        [
            alarm(1, T0, "door.held_open", "D1", True),
            alarm(2, T0 + 1, "door.held_open", "D2", True),
            alarm(3, T0 + 2, "door.forced", "D1", True, "red"),
            alarm(4, T0 + 3, "door.held_open", "D1", True, "red"),  # an update, not a new one
        ],
    )
    ingest(store, [alarm(5, T0 + 4, "door.held_open", "D1", True)], building="b2")
    alarms, _ = store.list_alarms(T0 + 10)
    keys = sorted((a["building"], a["code"], a["source"]) for a in alarms)
    assert keys == [
        ("b1", "door.forced", "D1"),
        ("b1", "door.held_open", "D1"),
        ("b1", "door.held_open", "D2"),
        ("b2", "door.held_open", "D1"),
    ]
    d1 = next(
        a
        for a in alarms
        if a["building"] == "b1" and a["source"] == "D1" and a["code"] == "door.held_open"
    )
    assert (d1["colour"], d1["raise_count"]) == ("red", 1)


def test_a_clear_of_an_alarm_never_raised_makes_none(store: SqliteStore) -> None:
    ingest(store, [alarm(1, T0, "device.offline", "reader-1", False)])
    assert store.list_alarms(T0) == ([], None)


def test_a_colour_missing_on_the_wire_is_the_codes_default(store: SqliteStore) -> None:
    ingest(store, [alarm(1, T0, "access.duress", "R1", True, colour=None)])
    assert only(store)["colour"] == "red"  # duress is red at once (alarm_codes.py)


def test_the_id_stays_across_raise_clear_raise(store: SqliteStore) -> None:
    ingest(store, [alarm(1, T0, "door.tamper", "D1", True)])
    first_id = only(store)["id"]
    ingest(store, [alarm(2, T0 + 5, "door.tamper", "D1", False)])
    ingest(store, [alarm(3, T0 + 9, "door.tamper", "D1", True)])
    assert only(store)["id"] == first_id


def test_actions_act_on_one_alarm_and_name_who(store: SqliteStore) -> None:
    ingest(
        store,
        [
            alarm(1, T0, "door.forced", "D1", True, "red"),
            alarm(2, T0, "door.forced", "D2", True, "red"),
        ],
    )
    alarms, _ = store.list_alarms(T0 + 10)
    d1 = next(a["id"] for a in alarms if a["source"] == "D1")
    d2 = next(a["id"] for a in alarms if a["source"] == "D2")
    before = store.get_alarm(d2, T0 + 10)
    after = store.act_on_alarm(d1, "ack", "alice", T0 + 20, note="on my way")
    assert (after["state"], after["acked_by"], after["acked_at"]) == ("acked", "alice", T0 + 20)
    assert store.get_alarm(d2, T0 + 30) == before
    history = store.get_alarm(d1, T0 + 30)["history"]
    assert history[-1] == {
        "action": "ack",
        "from": "unack",
        "to": "acked",
        "by": "alice",
        "ts": T0 + 20,
        "note": "on my way",
    }
    with pytest.raises(InvalidTransition, match="it is acked; allowed from acked: shelve"):
        store.act_on_alarm(d1, "ack", "bob", T0 + 40)
    with pytest.raises(UnknownAlarmError):
        store.act_on_alarm(9999, "ack", "bob", T0 + 40)


def test_a_shelf_expires_lazily_at_the_callers_now(store: SqliteStore) -> None:
    ingest(store, [alarm(1, T0, "door.held_open", "D1", True)])
    alarm_id = only(store)["id"]
    store.act_on_alarm(alarm_id, "shelve", "alice", T0 + 100, until=T0 + 400)
    assert only(store, T0 + 399)["state"] == "shelved"
    assert only(store, T0 + 400)["state"] == "unack"  # automatic unshelve: unack again
    last = store.get_alarm(alarm_id, T0 + 500)["history"][-1]
    assert (last["action"], last["from"], last["to"], last["by"], last["ts"]) == (
        "shelve_expired",
        "shelved",
        "unack",
        "system",
        T0 + 400,
    )


def test_patrol_rounds_upsert_newest_ts_wins(store: SqliteStore) -> None:
    start = T0 + 22 * 3600
    running = round_result("north", start, "2023-11-18", "running", ["on_time", "pending"])
    finished = round_result("north", start, "2023-11-18", "finished", ["on_time", "missed"])
    ingest(store, [patrol_round(1, start + 700, finished), patrol_round(2, start + 10, running)])
    (got,) = store.list_patrol_rounds()
    assert (got["state"], got["counts"]["missed"], got["site"]) == ("finished", 1, "s1")
    ingest(store, [patrol_round(2, start + 10, running)])  # a resend: nothing changes
    assert store.list_patrol_rounds()[0]["state"] == "finished"


def test_a_round_result_without_start_stays_an_event_only(store: SqliteStore) -> None:
    bad = round_result("north", T0, "2023-11-17", "running", ["pending"])
    del bad["start"]
    outcome = ingest(store, [patrol_round(1, T0, bad)])
    assert outcome.ack.accepted == 1
    assert store.list_patrol_rounds() == []


def test_chattering_is_flagged_and_its_end_applied_lazily(store: SqliteStore) -> None:
    # Six raises 20 s apart (cleared between): more than 5 within 600 s is chattering.
    records = []
    for i in range(6):
        records.append(alarm(2 * i + 1, T0 + 20 * i, "door.tamper", "D5", True))
        records.append(alarm(2 * i + 2, T0 + 20 * i + 10, "door.tamper", "D5", False))
    ingest(store, records)
    a = only(store, T0 + 599)
    assert (a["chattering"], a["raise_count"]) == (True, 6)
    # At T0 + 600 the first raise (T0) leaves the window: five remain, it has stopped.
    assert only(store, T0 + 600)["chattering"] is False
    chatter = [(r[1], r[4], r[5]) for r in log_rows(store) if r[1].startswith("chatter")]
    assert chatter == [("chatter", "system", T0 + 100), ("chatter_end", "system", T0 + 600)]


def test_an_alarm_about_a_chinese_number_plate_is_stored_not_refused(store: SqliteStore) -> None:
    # A vehicle gate's credential is its plate; a denial burst per credential is about
    # "credential:<plate>", and Chinese plates start with a province character.
    ingest(store, [alarm(1, T0, "access.denied_burst", "credential:苏E99999", True, "yellow")])
    a = only(store)
    assert (a["code"], a["source"], a["state"]) == (
        "access.denied_burst",
        "credential:苏E99999",
        "unack",
    )


@pytest.mark.parametrize("source", ["door 1", "door\t1", "d1\u202e", "d1\x00"])
def test_an_alarm_source_with_space_control_or_bidi_characters_is_refused(source: str) -> None:
    with pytest.raises(ValueError, match="source"):
        parse(event_batch([alarm(1, T0, "door.forced", source, True, "red")]))
