"""Demand limiter: hand-worked timelines (expected values written out below, not computed
by the limiter), config validation, and snapshot/restore continuing identically."""

import json

import pytest

from edge.control.limiter import (
    DemandLimiter,
    DemandView,
    LimiterConfig,
    Load,
    ZoneView,
)

RISK = DemandView(at_risk=True, over=False, predicted_kw=112.0, limit_kw=100.0)
OVER = DemandView(at_risk=False, over=True, predicted_kw=None, limit_kw=100.0)
FINE = DemandView(at_risk=False, over=False, predicted_kw=90.0, limit_kw=100.0)


def views(powers: dict[str, float | None], down: tuple[str, ...] = ()) -> dict[str, ZoneView]:
    return {z: ZoneView(available=z not in down, power_kw=p) for z, p in powers.items()}


def kinds(actions) -> list[tuple[str, str, float]]:
    return [(a.kind, a.zone, a.setup_k) for a in actions]


# ---- the main timeline ---------------------------------------------------------------
# 4 zones a..d, priorities 1..4, max_setup_k 1.0, step 0.5 K, 1 zone per step, share 0.5
# (so at most floor(0.5 * 4) = 2 zones shed), confirm 300 s, hold 900 s, stagger 300 s,
# futility 0.3 kW. Every zone draws 2.0 kW; b's power does not fall when shed (futile).
#   t=0     at risk: inactive -> curtail (episode 1); a +0.5 -> 0.5 (a's power before: 2.0)
#   t=300   a at 1.5 kW: fell 0.5 >= 0.3, not futile. Already-shed zones first: a -> 1.0
#   t=600   a at its max 1.0; a new zone: b -> 0.5 (2 shed = the share cap)
#   t=900   b at 1.9 kW: fell 0.1 < 0.3 -> futile, b back to 0 ("futile" action);
#           its place goes to the next zone in the same update: c -> 0.5
#   t=1200  c at 1.6 kW: fell 0.4, not futile; c -> 1.0
#   t=1500  a, c at max, 2 shed = cap, b futile, d would make 3: "nothing left to shed:
#           2 zones shed, 1 futile, 0 unavailable, at most 2 at once"
#   t=1800  still at risk: said once per episode, so nothing
#   t=1900  fine: curtail -> holding (fine since 1900)
#   t=2500  fine 600 s < 900: still holding
#   t=2800  fine 900 s: releasing; highest priority number first: c -> 0
#   t=2900  100 s since the last release < 300: nothing
#   t=3100  300 s: a -> 0; nothing left shed -> inactive
MAIN = LimiterConfig(
    loads=tuple(Load(z, p, max_setup_k=1.0) for z, p in zip("abcd", (1, 2, 3, 4), strict=True)),
    step_k=0.5,
    max_zones_per_step=1,
    max_shed_share=0.5,
)
POWERS = {
    0: {"a": 2.0, "b": 2.0, "c": 2.0, "d": 2.0},
    300: {"a": 1.5, "b": 2.0, "c": 2.0, "d": 2.0},
    600: {"a": 1.5, "b": 2.0, "c": 2.0, "d": 2.0},
    900: {"a": 1.5, "b": 1.9, "c": 2.0, "d": 2.0},
    1200: {"a": 1.5, "b": 1.9, "c": 1.6, "d": 2.0},
}
MAIN_STEPS = [
    # (t, demand, expected actions, expected setups, expected state)
    (0, RISK, [("shed", "a", 0.5)], {"a": 0.5}, "curtail"),
    (300, RISK, [("shed", "a", 1.0)], {"a": 1.0}, "curtail"),
    (600, RISK, [("shed", "b", 0.5)], {"a": 1.0, "b": 0.5}, "curtail"),
    (900, RISK, [("futile", "b", 0.0), ("shed", "c", 0.5)], {"a": 1.0, "c": 0.5}, "curtail"),
    (1200, RISK, [("shed", "c", 1.0)], {"a": 1.0, "c": 1.0}, "curtail"),
    (1500, RISK, [("nothing_left", "", 0.0)], {"a": 1.0, "c": 1.0}, "curtail"),
    (1800, RISK, [], {"a": 1.0, "c": 1.0}, "curtail"),
    (1900, FINE, [], {"a": 1.0, "c": 1.0}, "holding"),
    (2500, FINE, [], {"a": 1.0, "c": 1.0}, "holding"),
    (2800, FINE, [("release", "c", 0.0)], {"a": 1.0}, "releasing"),
    (2900, FINE, [], {"a": 1.0}, "releasing"),
    (3100, FINE, [("release", "a", 0.0)], {}, "inactive"),
]


def power_at(t: float) -> dict[str, float]:
    return POWERS[max(k for k in POWERS if k <= t)]


def test_main_timeline():
    lim = DemandLimiter(MAIN)
    for t, demand, actions, setups, state in MAIN_STEPS:
        got = lim.update(t, demand, views(power_at(t)))
        assert kinds(got) == actions, f"t={t}"
        assert lim.setups() == setups, f"t={t}"
        assert lim.state == state, f"t={t}"
    assert lim.counts == {
        "episodes": 1,
        "sheds": 5,  # a, a, b, c, c
        "releases": 2,
        "futile": 1,
        "futility_unknown": 0,
        "nothing_left": 1,
        "dropped_unavailable": 0,
    }


def test_main_timeline_reasons_and_states():
    lim = DemandLimiter(MAIN)
    said = {}
    for t, demand, *_ in MAIN_STEPS:
        for a in lim.update(t, demand, views(power_at(t))):
            said[(t, a.kind)] = a
    # judged 300 s after b's first step (t=600), with b's power then (1.9) vs before (2.0)
    assert said[(900, "futile")].reason.startswith(
        "its power fell 0.10 kW (2.0 kW -> 1.9 kW) in 300 s after its first shed step"
    )
    assert said[(1500, "nothing_left")].reason == (
        "nothing left to shed: 2 zones shed, 1 futile, 0 unavailable, at most 2 at once"
    )
    assert "predicted 112.0 kW, limit 100 kW" in said[(0, "shed")].reason
    assert said[(0, "shed")].state == "curtail"
    assert said[(2800, "release")].state == "releasing"
    assert "demand fine for 900 s" in said[(2800, "release")].reason


def test_futile_zone_not_shed_again_this_episode_but_again_in_the_next():
    # Continue the main timeline: a new episode at t=4000 clears b's futility.
    # t=4000 at risk: episode 2, a -> 0.5; t=4300 a fell (2.0 -> 1.5): a -> 1.0;
    # t=4600 b (not futile any more) -> 0.5.
    lim = DemandLimiter(MAIN)
    for t, demand, *_ in MAIN_STEPS:
        lim.update(t, demand, views(power_at(t)))
    full = {"a": 2.0, "b": 2.0, "c": 2.0, "d": 2.0}
    assert kinds(lim.update(4000, RISK, views(full))) == [("shed", "a", 0.5)]
    assert kinds(lim.update(4300, RISK, views({**full, "a": 1.5}))) == [("shed", "a", 1.0)]
    assert kinds(lim.update(4600, RISK, views({**full, "a": 1.5}))) == [("shed", "b", 0.5)]
    assert lim.counts["episodes"] == 2


# ---- at risk again while releasing ---------------------------------------------------
# 3 zones a, b, c priorities 1, 2, 3, max 1.0 K, 2 zones per step, share 1.0 (cap 3),
# powers fall enough each time (judged at confirm, never futile).
#   t=0     over: a, b -> 0.5 (new zones, cap 2 per step)
#   t=300   a, b -> 1.0 (already-shed zones first)
#   t=600   a, b at max: c -> 0.5
#   t=700   fine: holding
#   t=1600  900 s fine: releasing, c (priority 3) -> 0
#   t=1700  at risk: back to curtail, no release. Last step 600, so a step is due: a, b
#           at max, c is a zone not shed -> c 0.5 (the order does not remember releases;
#           the interlocks' 15-min min release decides whether the write goes out)
#   t=1800  fine: holding from 1800 (the holding time starts again)
#   t=2600  800 s < 900: holding
#   t=2700  900 s: releasing, c -> 0 (last release 1600, 1100 s ago)
#   t=2800  100 s after the last release: nothing
#   t=3000  b -> 0;  t=3300  a -> 0, inactive. One episode.
def test_at_risk_while_releasing_goes_back_to_curtail():
    cfg = LimiterConfig(
        loads=(Load("a", 1, 1.0), Load("b", 2, 1.0), Load("c", 3, 1.0)),
        max_zones_per_step=2,
        max_shed_share=1.0,
    )
    lim = DemandLimiter(cfg)
    before = views({"a": 3.0, "b": 3.0, "c": 3.0})
    after = views({"a": 1.0, "b": 1.0, "c": 1.0})
    steps = [
        (0, OVER, before, [("shed", "a", 0.5), ("shed", "b", 0.5)], "curtail"),
        (300, OVER, after, [("shed", "a", 1.0), ("shed", "b", 1.0)], "curtail"),
        (600, RISK, before, [("shed", "c", 0.5)], "curtail"),
        (700, FINE, before, [], "holding"),
        (1600, FINE, after, [("release", "c", 0.0)], "releasing"),
        (1700, RISK, before, [("shed", "c", 0.5)], "curtail"),
        (1800, FINE, before, [], "holding"),
        (2600, FINE, after, [], "holding"),
        (2700, FINE, after, [("release", "c", 0.0)], "releasing"),
        (2800, FINE, after, [], "releasing"),
        (3000, FINE, after, [("release", "b", 0.0)], "releasing"),
        (3300, FINE, after, [("release", "a", 0.0)], "inactive"),
    ]
    for t, demand, zv, actions, state in steps:
        assert kinds(lim.update(t, demand, zv)) == actions, f"t={t}"
        assert lim.state == state, f"t={t}"
    assert lim.setups() == {}
    assert lim.counts["episodes"] == 1
    assert lim.counts["releases"] == 4
    assert lim.counts["futile"] == 0


# ---- link loss, unknown power, share rounding ----------------------------------------
# 2 zones a (1), b (2), max 2.0, 1 zone per step, share 1.0 (cap 2).
#   t=0    a -> 0.5 (a's power before: 2.0)
#   t=100  a unavailable: its setup dropped, no action, not shed, "dropped_unavailable" 1
#   t=300  a still down: b -> 0.5 (b's power unknown: None)
#   t=600  a back, b's futility cannot be judged (before None): "futility_unknown" 1, not
#          futile; already-shed zones first: b -> 1.0
#   t=900  b -> 1.5;  t=1200  b -> 2.0;  t=1500  b at max: a (a zone not shed) -> 0.5
def test_link_loss_and_unknown_power():
    cfg = LimiterConfig(loads=(Load("a", 1), Load("b", 2)), max_zones_per_step=1, max_shed_share=1)
    lim = DemandLimiter(cfg)
    up = {"a": 2.0, "b": None}
    assert kinds(lim.update(0, RISK, views(up))) == [("shed", "a", 0.5)]
    assert lim.update(100, RISK, views(up, down=("a",))) == []
    assert lim.setups() == {}
    assert lim.counts["dropped_unavailable"] == 1
    assert kinds(lim.update(300, RISK, views(up, down=("a",)))) == [("shed", "b", 0.5)]
    assert kinds(lim.update(600, RISK, views(up))) == [("shed", "b", 1.0)]
    assert lim.counts["futility_unknown"] == 1
    assert lim.counts["futile"] == 0
    assert kinds(lim.update(900, RISK, views(up))) == [("shed", "b", 1.5)]
    assert kinds(lim.update(1200, RISK, views(up))) == [("shed", "b", 2.0)]
    assert kinds(lim.update(1500, RISK, views(up))) == [("shed", "a", 0.5)]
    assert lim.setups() == {"a": 0.5, "b": 2.0}


def test_a_zone_missing_from_the_views_is_unavailable():
    cfg = LimiterConfig(loads=(Load("a", 1), Load("b", 2)), max_zones_per_step=2)
    lim = DemandLimiter(cfg)
    # share 0.5 of 2 -> 1 zone; a is missing, so b is shed
    assert kinds(lim.update(0, RISK, {"b": ZoneView(True, 1.0)})) == [("shed", "b", 0.5)]


def test_last_step_may_stop_short_at_max_setup():
    # step 0.5, max 1.2: 0.5, 1.0, then 1.2 (not 1.5), then nothing left (1 zone, cap 1)
    lim = DemandLimiter(LimiterConfig(loads=(Load("a", 1, 1.2),), futility_kw=0))
    got = [kinds(lim.update(t, RISK, views({"a": 1.0}))) for t in (0, 300, 600, 900)]
    assert got[:3] == [[("shed", "a", 0.5)], [("shed", "a", 1.0)], [("shed", "a", 1.2)]]
    assert got[3][0][0] == "nothing_left"


@pytest.mark.parametrize(
    ("n", "share", "cap"),
    [
        (4, 0.5, 2),  # floor 2.0
        (3, 0.5, 1),  # floor 1.5
        (1, 0.5, 1),  # floor 0.5 = 0, but at least 1
        (10, 0.7, 7),
        (100, 0.29, 29),  # 0.29 * 100 is 28.999999999999996 in floats: still 29
        (10, 0.3, 3),
        (3, 0.1, 1),
        (5, 1.0, 5),
        (0, 0.5, 0),  # nothing to shed
    ],
)
def test_share_cap_rounding(n, share, cap):
    loads = tuple(Load(f"z{i}", 1) for i in range(n))
    cfg = LimiterConfig(loads=loads, max_zones_per_step=max(1, n), max_shed_share=share)
    assert cfg.max_shed() == cap
    lim = DemandLimiter(cfg)
    lim.update(0, RISK, views(dict.fromkeys((ld.zone for ld in loads), 1.0)))
    assert len(lim.setups()) == cap


def test_no_loads_says_nothing_left_once():
    lim = DemandLimiter(LimiterConfig(loads=()))
    assert kinds(lim.update(0, RISK, {})) == [("nothing_left", "", 0.0)]
    assert lim.update(300, RISK, {}) == []


def test_now_must_not_go_back():
    lim = DemandLimiter(MAIN)
    lim.update(100, FINE, {})
    with pytest.raises(ValueError, match="before the previous update"):
        lim.update(99, FINE, {})
    with pytest.raises(ValueError, match="not a finite epoch time"):
        lim.update(float("nan"), FINE, {})


# ---- config validation ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"step_k": 0}, "step_k 0 must be > 0"),
        ({"step_k": float("inf")}, "step_k inf is not finite"),
        ({"max_zones_per_step": 0}, "max_zones_per_step 0 must be"),
        ({"max_zones_per_step": 1.5}, "max_zones_per_step 1.5 must be"),
        ({"max_shed_share": 0}, r"max_shed_share 0 must be in \(0, 1\]"),
        ({"max_shed_share": 1.01}, r"max_shed_share 1.01 must be in \(0, 1\]"),
        ({"confirm": 0}, "confirm 0 must be > 0"),
        ({"hold": -1}, "hold -1 must be >= 0"),
        ({"stagger": "5"}, "stagger '5' is not a number"),
        ({"futility_kw": -0.1}, "futility_kw -0.1 must be >= 0"),
        ({"loads": [Load("a", 1)]}, "loads must be a tuple"),
        ({"loads": (Load("a", 1), Load("a", 2))}, r"loads\[1\].zone 'a' appears twice"),
        ({"loads": (Load("a", 0),)}, r"loads\[0\].priority 0 \(a\) must be"),
        ({"loads": (Load("a", True),)}, r"loads\[0\].priority True"),
        ({"loads": (Load("", 1),)}, r"loads\[0\].zone '' must be"),
        ({"loads": (Load("a", 1, 0.4),)}, r"loads\[0\].max_setup_k 0.4 \(a\) is below step_k"),
        ({"loads": ("a",)}, r"loads\[0\] is a str, not a Load"),
    ],
)
def test_config_errors_name_the_field(changes, message):
    base = {"loads": (Load("a", 1),)}
    with pytest.raises(ValueError, match=message):
        LimiterConfig(**{**base, **changes})


# ---- snapshot / restore --------------------------------------------------------------
def run(split: int | None) -> list:
    """The main timeline, plus an episode with link loss; with `split`, the limiter is
    rebuilt from a JSON round trip of its snapshot before step `split`."""
    steps = [(t, d, views(power_at(t))) for t, d, *_ in MAIN_STEPS]
    full = {"a": 2.0, "b": 2.0, "c": None, "d": 2.0}
    steps += [
        (4000, RISK, views(full)),
        (4100, RISK, views(full, down=("a",))),
        (4300, OVER, views(full, down=("a",))),
        (4650, RISK, views(full)),
        (4700, FINE, views(full)),
        (5700, FINE, views(full)),
        (6000, FINE, views(full)),
    ]
    lim = DemandLimiter(MAIN)
    trace = []
    for i, (t, demand, zv) in enumerate(steps):
        if i == split:
            lim = DemandLimiter.restore(MAIN, json.loads(json.dumps(lim.snapshot())))
        trace.append((lim.update(t, demand, zv), lim.setups(), lim.state, dict(lim.counts)))
    return trace


def test_restore_mid_episode_continues_identically():
    straight = run(None)
    assert straight[-1][2] == "inactive"
    for split in range(1, 19):
        assert run(split) == straight, f"split before step {split}"


def test_restore_rejects_bad_snapshots():
    snap = DemandLimiter(MAIN).snapshot()
    with pytest.raises(ValueError, match="version 9, expected 1"):
        DemandLimiter.restore(MAIN, {**snap, "version": 9})
    with pytest.raises(ValueError, match="state 'dozing' is not one of"):
        DemandLimiter.restore(MAIN, {**snap, "state": "dozing"})
    with pytest.raises(ValueError, match="missing field 'last_step'"):
        DemandLimiter.restore(MAIN, {k: v for k, v in snap.items() if k != "last_step"})
    with pytest.raises(ValueError, match="last_release 'x' is not a number"):
        DemandLimiter.restore(MAIN, {**snap, "last_release": "x"})


def test_restore_with_a_changed_config():
    lim = DemandLimiter(MAIN)
    lim.update(0, RISK, views(power_at(0)))
    lim.update(300, RISK, views(power_at(300)))  # a at 1.0
    smaller = LimiterConfig(
        loads=(Load("a", 1, max_setup_k=0.5), Load("e", 2)), max_zones_per_step=1
    )
    back = DemandLimiter.restore(smaller, lim.snapshot())
    assert back.setups() == {"a": 0.5}  # clipped to the new max; b..d gone, e new
    assert back.state == "curtail"
