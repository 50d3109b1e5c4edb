"""`steward-edge replay`: the site's demand and control rules over stored history.

The readings (the main meter's demand point; each zone's writable points, active_power
and running_state) are fed in time order, as Samples, to the site's ControlLoop (the step
the edge runs). Nothing is written anywhere: every write the rules plan is taken with
`ControlLoop.advise`, as in advise mode. The report lists the 15-minute blocks over the
limit, the limiter's sheds and releases, the writes it would have made, and an
*estimated* reduction per block over the limit.

Two things differ from the edge, because history does not answer writes never made:
- the demand rule sees the recorded meter, so once at risk the limiter sheds up to its
  caps and holds until the recorded demand falls by itself;
- the limiter's futility check is off (futility_kw 0): no zone's recorded power could
  have fallen in response to a shed.

The estimated reduction (ESTIMATE below) is a model, not a measurement:
  setup_z(t)  = the command's cooling setpoint (ControlCore.target) minus the zone's
                default, moved toward at the interlocks' pace (max_step_k per
                min_write_interval, 0.5 K per 5 min by default) as real writes would be;
  saved_z(t)  = min(setup_z(t) * k_z(t), P_z(t)), P_z the zone's latest recorded
                active_power; k_z = --kw-per-k if given, else share_per_k (default 0.25)
                * P_z(t) kW per K;
  a block's estimated reduction = the time average over the block of sum_z saved_z, each
  value held from one rule step to the next. Estimated demand = recorded - reduction.

`replay()` is pure (readings in, ReplayReport out); edge/replay_cli.py fetches the
readings from the central API and prints the report.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from edge.control.interlocks import COOLING_SETPOINT
from edge.control.loop import ControlLoop
from edge.control.settings import ControlConfig, DemandSettings
from edge.model import Quality, Reading, Sample

ZONE_POINTS = ("active_power", "running_state")  # read besides the zones' writable points
SHARE_PER_K = 0.25  # of a zone's recorded power saved per K of setup (the default estimate)
_QUALITIES = {q.value for q in Quality}
PAD = 300.0  # s of readings after --to, so the last block can close on data
ESTIMATE = (
    "estimated reduction: an estimate, not a measurement. Each shed zone is taken to save "
    "{how} for every K its cooling setpoint is raised (ramped at the interlocks' "
    "{step:g} K per {interval:g} s), at most its recorded power; a block's figure is the "
    "time average of the zones' savings over the block"
)


@dataclass(frozen=True, slots=True)
class HistoryReading:
    ts: float
    device: str
    point: str
    value: float | None
    unit: str = ""
    quality: str = "good"


@dataclass(frozen=True)
class BlockRow:
    start: float
    label: str
    demand_kw: float | None
    over: bool
    reduction_kw: float | None  # estimated; None when no zone data covered the block

    @property
    def estimated_kw(self) -> float | None:
        if self.demand_kw is None or self.reduction_kw is None:
            return None
        return self.demand_kw - self.reduction_kw


@dataclass(frozen=True)
class ActionRow:
    ts: float
    kind: str  # shed | release | futile
    zone: str
    setup_k: float
    reason: str


@dataclass(frozen=True)
class WriteRow:
    ts: float
    device: str
    point: str
    value: float
    before: float | None
    target: float
    reason: str


@dataclass
class ReplayReport:
    site: str
    building: str
    start: float
    end: float
    tz: str
    meter: str
    point: str
    limit_kw: float
    margin_kw: float
    kw_per_k: float | None
    share_per_k: float
    step_k: float = 0.5
    interval_s: float = 300.0
    readings: int = 0
    samples: int = 0
    blocks: list[BlockRow] = field(default_factory=list)
    actions: list[ActionRow] = field(default_factory=list)
    writes: list[WriteRow] = field(default_factory=list)
    stepped: list[WriteRow] = field(default_factory=list)  # the estimate's setpoint steps
    notes: list[str] = field(default_factory=list)
    has_control: bool = True

    @property
    def over(self) -> list[BlockRow]:
        return [b for b in self.blocks if b.over]

    def writes_per_zone(self) -> dict[str, int]:
        return dict(sorted(Counter(w.device for w in self.writes).items()))

    def counts(self) -> dict[str, int]:
        return dict(Counter(a.kind for a in self.actions))

    def estimate_text(self) -> str:
        how = (
            f"{self.kw_per_k:g} kW (--kw-per-k)"
            if self.kw_per_k is not None
            else f"{self.share_per_k:g} x its recorded active_power (kW)"
        )
        return ESTIMATE.format(how=how, step=self.step_k, interval=self.interval_s)

    def render(self) -> str:
        zone = ZoneInfo(self.tz)

        def at(ts: float, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
            return datetime.fromtimestamp(ts, zone).strftime(fmt)

        complete = [b for b in self.blocks if b.demand_kw is not None]
        lines = [
            f"replay of {self.site}/{self.building}, {_iso(self.start, zone)} .. "
            f"{_iso(self.end, zone)} (advise: nothing was or is written)",
            f"demand: {self.meter} {self.point}, limit {self.limit_kw:g} kW, margin "
            f"{self.margin_kw:g} kW; {self.readings} readings in {self.samples} samples",
            f"blocks: {len(self.blocks)} ({len(complete)} complete), "
            f"{len(self.over)} over the limit",
        ]
        if self.over:
            lines.append("  block             demand kW  over by  est. reduction  est. demand")
            for b in self.over:
                shown = "-" if b.demand_kw is None else f"{b.demand_kw:9.1f}"
                by = "-" if b.demand_kw is None else f"{b.demand_kw - self.limit_kw:+7.1f}"
                red = "-" if b.reduction_kw is None else f"{b.reduction_kw:11.1f} kW"
                est = b.estimated_kw
                after = (
                    "-"
                    if est is None
                    else f"{est:8.1f} kW "
                    + ("(still over)" if est > self.limit_kw else "(not over)")
                )
                lines.append(f"  {at(b.start, '%m-%d %H:%M')}+15m  {shown:>9}  {by:>7}  "
                             f"{red:>14}  {after}")  # fmt: skip
        if not self.has_control:
            lines.append("control: the site has no control: section (no sheds, no writes)")
            lines += [f"note: {n}" for n in self.notes]
            return "\n".join(lines)
        c = self.counts()
        lines.append(
            f"limiter: {c.get('shed', 0)} sheds, {c.get('release', 0)} releases, "
            f"{c.get('futile', 0)} futile"
        )
        for a in self.actions:
            lines.append(f"  {at(a.ts)} {a.kind:7} {a.zone} setup {a.setup_k:+.1f} K: {a.reason}")
        per_zone = ", ".join(f"{z} {n}" for z, n in self.writes_per_zone().items()) or "none"
        lines.append(f"writes it would have made: {len(self.writes)} ({per_zone})")
        for w in self.writes:
            before = "?" if w.before is None else f"{w.before:g}"
            lines.append(
                f"  {at(w.ts)} {w.device} {w.point} {before} -> {w.value:g} "
                f"(target {w.target:g}): {w.reason}"
            )
        lines.append(
            "  (advise: the history keeps its recorded setpoint, so each advice steps from "
            "it toward the target, every rate interval)"
        )
        stepped = Counter(w.device for w in self.stepped)
        lines.append(
            f"in control mode (the estimate's ramp): {len(self.stepped)} setpoint steps ("
            + (", ".join(f"{z} {n}" for z, n in sorted(stepped.items())) or "none")
            + ")"
        )
        lines.append(self.estimate_text())
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _iso(ts: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, zone).isoformat(timespec="minutes")


def wanted_points(demand: DemandSettings, control: ControlConfig | None) -> dict[str, set[str]]:
    """device -> the points replay reads from history."""
    out: dict[str, set[str]] = defaultdict(set)
    out[demand.meter].add(demand.point_name)
    for z in control.zones if control is not None else ():
        out[z.device] |= set(z.points) | set(ZONE_POINTS)
    return dict(out)


def samples_of(readings: Iterable[HistoryReading]) -> list[Sample]:
    """One Sample per (ts, device), in time order."""
    grouped: dict[tuple[float, str], list[Reading]] = defaultdict(list)
    for r in readings:
        quality = Quality(r.quality) if r.quality in _QUALITIES else Quality.BAD
        grouped[(r.ts, r.device)].append(Reading(r.ts, r.device, r.point, r.value, r.unit, quality))
    return [Sample(ts, dev, rs) for (ts, dev), rs in sorted(grouped.items())]


def replay(
    site: str,
    building: str,
    demand: DemandSettings,
    control: ControlConfig | None,
    readings: Iterable[HistoryReading],
    start: float,
    end: float,
    kw_per_k: float | None = None,
    share_per_k: float = SHARE_PER_K,
) -> ReplayReport:
    """The rules over the readings (nothing written): what they would have done in
    [start, end). Readings up to `end` + PAD let the last block close."""
    if control is not None:
        settings = control.settings
        limiter = settings.limiter.model_copy(update={"futility_kw": 0.0})
        control = dataclasses.replace(
            control, settings=settings.model_copy(update={"limiter": limiter})
        )
    loop = ControlLoop(demand, control)
    assert loop.demand is not None
    report = ReplayReport(
        site, building, start, end, demand.tz, demand.meter, demand.point_name,
        demand.limit_kw, demand.margin_kw, kw_per_k, share_per_k, has_control=control is not None,
    )  # fmt: skip
    il = control.settings.interlocks if control is not None else None
    if il is not None:
        report.step_k, report.interval_s = il.max_step_k, float(il.min_write_interval)
    tick = control.settings.tick if control is not None else 0.0
    power: dict[str, float] = {}  # zone -> latest recorded active_power
    ramp: dict[str, tuple[float, float]] = {}  # zone -> (setup now, when it last moved)
    saved: dict[float, float] = defaultdict(float)  # block start -> kW*s saved
    covered: dict[float, float] = defaultdict(float)  # block start -> s with zone data
    blocks: list[dict] = []
    last_plan: float | None = None
    last_saved = 0.0

    def integrate(a: float, b: float, kw: float) -> None:
        while a < b:
            blk = loop.demand.block_start(a)
            stop = min(b, blk + 900.0)
            saved[blk] += kw * (stop - a)
            covered[blk] += stop - a
            a = stop

    def step(now: float) -> None:
        nonlocal last_plan, last_saved
        records, intents = loop.plan(now)
        for r in records:
            if r.code == "demand.block":
                blocks.append(r.data)
            elif r.code in ("control.shed", "control.release", "control.futile"):
                d = r.data
                report.actions.append(
                    ActionRow(now, r.code.split(".")[1], d["zone"], d["setup_k"], d["reason"])
                )
        for intent in intents:
            loop.advise(intent, now)
            report.writes.append(
                WriteRow(now, intent.device, intent.point, intent.value, intent.before,
                         intent.target, intent.reason)
            )  # fmt: skip
        if loop.core is not None:
            if last_plan is not None and power:
                integrate(last_plan, now, last_saved)
            last_saved = _savings(loop, now, power, ramp, report, kw_per_k, share_per_k)
        last_plan = now

    group_ts: float | None = None  # plan once every sample of an instant is in
    for s in samples_of(readings):
        report.samples += 1
        report.readings += len(s.readings)
        new_instant = group_ts is not None and s.ts != group_ts
        if new_instant and (last_plan is None or group_ts - last_plan >= tick):
            step(group_ts)
        loop.take(s)
        for r in s.readings:
            if r.point == "active_power" and r.quality == Quality.GOOD and r.value is not None:
                power[s.device] = float(r.value)
        group_ts = s.ts
    if group_ts is not None:
        step(group_ts)

    for b in blocks:
        if not start <= b["start"] < end:
            continue
        red = None
        if loop.core is not None and covered.get(b["start"], 0.0) > 0:
            red = saved[b["start"]] / 900.0
        report.blocks.append(BlockRow(b["start"], b["label"], b["demand_kw"], b["over"], red))
    report.actions = [a for a in report.actions if start <= a.ts < end]
    report.writes = [w for w in report.writes if start <= w.ts < end]
    report.stepped = [w for w in report.stepped if start <= w.ts < end]
    if not blocks:
        report.notes.append("no 15-minute block closed: the meter's history is too short")
    return report


def _savings(
    loop: ControlLoop,
    now: float,
    power: dict[str, float],
    ramp: dict[str, tuple[float, float]],
    report: ReplayReport,
    kw_per_k: float | None,
    share_per_k: float,
) -> float:
    """kW the zones would save from `now` on, by the documented estimate."""
    core = loop.core
    assert core is not None
    total = 0.0
    for zone in core.devices():
        default = core.default(zone, COOLING_SETPOINT)
        target, _ = core.target(zone, COOLING_SETPOINT, now)
        want = 0.0 if default is None or target is None else max(0.0, target - default)
        have, moved = ramp.get(zone, (0.0, -math.inf))
        if want != have and now - moved >= report.interval_s and default is not None:
            have += max(-report.step_k, min(report.step_k, want - have))
            moved = now
            report.stepped.append(
                WriteRow(now, zone, COOLING_SETPOINT, default + have, None, default + want, "")
            )
        ramp[zone] = (have, moved)
        p = power.get(zone)
        if p is None or have <= 0:
            continue
        k = kw_per_k if kw_per_k is not None else share_per_k * p
        total += min(have * k, max(p, 0.0))
    return total
