"""Property: over random demand and zone sequences the limiter keeps its promises.

The checker knows nothing of edge.control.limiter's internals: it sees only what a caller
sees (setups() after each update, the actions, the views it fed) and checks:
- never more than max(1, floor(share * n)) zones with a setup > 0 (share drawn as a
  fraction num/den, the cap computed in integers);
- no setup above the zone's max_setup_k, a setup rises by at most step_k and falls only
  back to 0;
- no setup rise for a zone within `confirm` s of its previous rise;
- staggered releases at least `stagger` s apart, never while at risk or over;
- an unavailable (or missing) zone has no setup;
- every change of setups() is explained: a rise by a "shed" action, a fall to 0 by a
  "release" or "futile" action or the zone being unavailable.
And liveness, so "do nothing" fails: at risk with a zone free to shed (available, never
said futile, the share cap not reached, no rise for `confirm` s) some setup must rise;
after the run, long enough fine demand gives every setup back and ends inactive.
Midway the limiter is sometimes rebuilt from a JSON round trip of its snapshot.
"""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.control.limiter import DemandLimiter, DemandView, LimiterConfig, Load, ZoneView

EPS = 1e-9
ZONES = ("a", "b", "c", "d", "e")
SHARES = [(1, 5), (1, 3), (1, 2), (2, 3), (3, 4), (1, 1)]


@st.composite
def configs(draw):
    n = draw(st.integers(1, len(ZONES)), label="zones")
    step = draw(st.sampled_from([0.3, 0.5]), label="step_k")
    loads = tuple(
        Load(
            z,
            draw(st.integers(1, 3), label=f"priority {z}"),
            draw(st.sampled_from([0.5, 1.0, 1.2, 2.0]), label=f"max {z}"),
        )
        for z in ZONES[:n]
    )
    num, den = draw(st.sampled_from(SHARES), label="share")
    cfg = LimiterConfig(
        loads=loads,
        step_k=step,
        max_zones_per_step=draw(st.integers(1, 3), label="per step"),
        max_shed_share=num / den,
        confirm=draw(st.sampled_from([60.0, 300.0]), label="confirm"),
        hold=draw(st.sampled_from([0.0, 300.0, 900.0]), label="hold"),
        stagger=draw(st.sampled_from([0.0, 120.0, 300.0]), label="stagger"),
    )
    return cfg, max(1, (num * n) // den)


demand_views = st.builds(
    DemandView,
    at_risk=st.booleans(),
    over=st.sampled_from([False, False, False, True]),
    predicted_kw=st.sampled_from([None, 95.0, 120.0]),
    limit_kw=st.just(100.0),
)
zone_views = st.builds(
    ZoneView,
    available=st.sampled_from([True, True, True, True, False]),
    power_kw=st.one_of(st.none(), st.sampled_from([0.0, 0.5, 1.0, 1.9, 2.0, 3.0])),
)
gaps = st.one_of(
    st.sampled_from([0, 1, 59, 60, 61, 119, 120, 121, 299, 300, 301, 600, 900, 901]),
    st.integers(0, 1500),
)


class Checker:
    def __init__(self, cfg: LimiterConfig, cap: int) -> None:
        self.cfg, self.cap = cfg, cap
        self.top = {ld.zone: ld.max_setup_k for ld in cfg.loads}
        self.setups: dict[str, float] = {}
        self.last_rise: dict[str, float] = {}
        self.last_any_rise: float | None = None
        self.last_release: float | None = None
        self.ever_futile: set[str] = set()

    def check(self, t, demand, zones, actions, setups) -> None:
        cfg, trouble = self.cfg, demand.at_risk or demand.over
        by_kind: dict[str, set[str]] = {}
        for a in actions:
            by_kind.setdefault(a.kind, set()).add(a.zone)
        shed = {z for z, v in setups.items() if v > 0}
        assert len(shed) <= self.cap, f"t={t}: {len(shed)} shed > cap {self.cap}: {setups}"
        for z, v in setups.items():
            assert v <= self.top[z], f"t={t}: {z} setup {v} > max {self.top[z]}"
            view = zones.get(z)
            assert view is not None and view.available, f"t={t}: unavailable {z} has {v}"
        rose = set()
        for z in self.top:
            old, new = self.setups.get(z, 0.0), setups.get(z, 0.0)
            if new > old:
                rose.add(z)
                assert new - old <= cfg.step_k + EPS, f"t={t}: {z} rose {old} -> {new}"
                last = self.last_rise.get(z)
                assert last is None or t - last >= cfg.confirm, f"t={t}: {z} rose again"
                assert z in by_kind.get("shed", set()), f"t={t}: {z} rose without a shed"
                self.last_rise[z] = t
            elif new < old:
                assert new == 0, f"t={t}: {z} fell {old} -> {new}, not back to 0"
                gone = by_kind.get("release", set()) | by_kind.get("futile", set())
                down = zones.get(z) is None or not zones[z].available
                assert z in gone or down, f"t={t}: {z} fell to 0 unexplained"
            else:
                assert z not in by_kind.get("shed", set()), f"t={t}: shed {z} unchanged"
        releases = [a for a in actions if a.kind == "release"]
        assert len(releases) <= 1, f"t={t}: {len(releases)} releases at once"
        if releases:
            assert not trouble, f"t={t}: released while at risk or over"
            last = self.last_release
            assert last is None or t - last >= cfg.stagger, f"t={t}: release {t - last} s after"
            self.last_release = t
        # Liveness: a zone free to shed at a due step is shed (or some setup rises).
        free = [
            z
            for z in self.top
            if self.setups.get(z, 0.0) == 0
            and z not in self.ever_futile
            and zones.get(z) is not None
            and zones[z].available
        ]
        due = self.last_any_rise is None or t - self.last_any_rise >= cfg.confirm
        room = len({z for z, v in self.setups.items() if v > 0}) < self.cap
        if trouble and due and free and room:
            assert rose, f"t={t}: at risk, {free} free to shed, nothing shed"
        if rose:
            self.last_any_rise = t
        self.ever_futile |= by_kind.get("futile", set())
        self.setups = dict(setups)


@settings(max_examples=120, deadline=None)
@given(drawn=configs(), data=st.data())
def test_limiter_keeps_its_promises(drawn, data):
    cfg, cap = drawn
    lim = DemandLimiter(cfg)
    checker = Checker(cfg, cap)
    t = 1_780_000_000.0
    for _ in range(data.draw(st.integers(1, 40), label="updates")):
        t += data.draw(gaps, label="gap")
        demand = data.draw(demand_views, label="demand")
        zones = {
            ld.zone: data.draw(zone_views, label=f"view {ld.zone}")
            for ld in cfg.loads
            if data.draw(st.integers(0, 19), label=f"present {ld.zone}") > 0
        }
        if data.draw(st.integers(0, 9), label="restart") == 0:
            lim = DemandLimiter.restore(cfg, json.loads(json.dumps(lim.snapshot())))
        actions = lim.update(t, demand, zones)
        checker.check(t, demand, zones, actions, lim.setups())
    # Fine demand, every zone up, for long enough: everything is given back.
    fine = DemandView(False, False, 50.0, 100.0)
    up = {ld.zone: ZoneView(True, 1.0) for ld in cfg.loads}
    wait = max(cfg.hold, cfg.stagger, 1.0)
    for _ in range(len(cfg.loads) + 2):
        t += wait
        checker.check(t, fine, up, lim.update(t, fine, up), lim.setups())
    assert lim.setups() == {}
    assert lim.state == "inactive"
