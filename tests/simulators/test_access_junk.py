"""Junk for the subscribed topics: every kind is produced, none of it means an event (so
valid events between junk still make exactly the scenario's alarms), and a seed repeats."""

from __future__ import annotations

from collections import Counter

from edge.acquire.payload_map import MAX_PAYLOAD, Refusal, map_payload
from simulators.access import load_scenario, shipped
from simulators.access_junk import JUNK_KINDS, JunkGenerator

ARRIVAL = 1796220066.0


def test_junk_of_every_kind_on_every_topic_never_maps_to_an_event():
    bindings = load_scenario(shipped("compressed-night")).bindings()
    by_topic = {t: b for b in bindings.values() for t in b.topics()}
    junk = JunkGenerator(bindings.values(), seed=7)
    kinds, topics, refusals = Counter(), Counter(), Counter()
    for _ in range(3000):
        kind, topic, payload = junk.next()
        kinds[kind] += 1
        topics[topic] += 1
        got = map_payload(topic, payload, ARRIVAL, by_topic[topic])
        assert isinstance(got, Refusal) or got == [], (kind, topic, payload[:80], got)
        refusals[got.reason if isinstance(got, Refusal) else "ignored"] += 1
        if kind == "huge":
            assert len(payload) > MAX_PAYLOAD
        if kind == "bad_utf8":
            assert isinstance(got, Refusal) and got.reason == "not_utf8"
    assert set(kinds) == set(JUNK_KINDS) and kinds == Counter(junk.counts)
    assert set(topics) == set(by_topic)  # every subscribed topic gets junk
    # The edge sees most of the refusal reasons it counts.
    assert {"too_large", "not_utf8", "not_json", "no_match", "missing_field", "bad_value"} <= set(
        refusals
    ), refusals


def test_the_same_seed_gives_the_same_junk():
    bindings = load_scenario(shipped("building-day")).bindings().values()
    a, b = JunkGenerator(bindings, seed=3), JunkGenerator(bindings, seed=3)
    assert [a.next() for _ in range(200)] == [b.next() for _ in range(200)]
