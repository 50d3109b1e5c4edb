"""AccessPipeline (edge/access_loop.py) on a real outbox file: records, rule state and
message digests commit together, messages are acked only after that commit, a restart
resumes the rules, and a broker's DUP resend of a committed message is dropped."""

from __future__ import annotations

import asyncio
import json
import sqlite3

from edge.access_loop import AccessPipeline
from edge.acquire.mqtt import Delivery, message_digest
from edge.outbox import Outbox
from edge.rules.access_events import AccessEvent
from edge.rules.door_config import DoorRulesConfig

T0 = 1796220000.0
DOORS = DoorRulesConfig.from_dict({"defaults": {"held_open_s": 5, "after_hours": False}})


class FakeSource:
    """Records what was acked, and what the outbox held at that moment."""

    def __init__(self, outbox_path):
        self.path = outbox_path
        self.acked: list[tuple[int, int]] = []  # (ticket, events rows committed then)

    def ack(self, d: Delivery) -> None:
        db = sqlite3.connect(self.path)
        (n,) = db.execute("SELECT count(*) FROM events").fetchone()
        db.close()
        self.acked.append((d.ticket, n))


def delivery(ticket: int, payload: bytes, events: list[AccessEvent], dup: bool = False):
    topic = "zigbee2mqtt/d1"
    return Delivery(ticket, topic, "c-1", T0 + ticket, events, dup, message_digest(topic, payload))


def rows(path) -> list[dict]:
    db = sqlite3.connect(path)
    out = [json.loads(b) for (b,) in db.execute("SELECT body FROM events ORDER BY seq")]
    db.close()
    return out


def test_commit_then_ack_restart_resumes_and_a_dup_resend_is_dropped(tmp_path):
    path = tmp_path / "outbox.sqlite"
    opened = AccessEvent(T0 + 1, "door.opened", "c-1", door="D1")
    with Outbox(path) as outbox:
        source = FakeSource(path)
        pipe = AccessPipeline(outbox, source, DOORS, [], clock=lambda: T0)
        battery = delivery(0, b'{"battery": 90}', [])  # heard, no event
        asyncio.run(pipe.process([battery, delivery(1, b'{"contact": false}', [opened])]))
        # door.opened (access record) + door.forced (no grant before it): 2 rows, then acks.
        assert source.acked == [(0, 2), (1, 2)]
        assert pipe.engine.counts()["heard"] == 1  # the battery report (events hear by their time)

    # A restart (new objects, same file): the held-open deadline is still known.
    with Outbox(path) as outbox:
        source = FakeSource(path)
        pipe = AccessPipeline(outbox, source, DOORS, [], clock=lambda: T0 + 100)
        assert pipe.counters["restored"] == 1
        resend = delivery(1, b'{"contact": false}', [opened], dup=True)
        fresh = delivery(2, b'{"battery": 90}', [])  # identical payload, no DUP: judged
        asyncio.run(pipe.process([resend, fresh]))
        assert pipe.counters["resends_dropped"] == 1
        assert [t for t, _ in source.acked] == [1, 2]  # the dropped resend is acked too
        asyncio.run(pipe.tick(T0 + 100))
    codes = [(r["code"], r.get("active"), r["ts"] - T0) for r in rows(path)]
    assert codes == [
        ("door.opened", None, 1),
        ("door.forced", True, 1),
        ("door.held_open", True, 6),  # opened at +1, held 5 s: raised once, at +6
    ]
