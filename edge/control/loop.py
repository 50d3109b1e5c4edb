"""The control rules of one site as one pure step: samples in, records and writes out.

`take(sample)` feeds a poll's readings (the main meter to the demand rule, the zones to
the control core). `plan(now)` runs one step at the data's time:
  1. demand blocks that closed, demand alarms;
  2. zones silent for `link_timeout` lose their commands; leases that ended drop;
  3. the limiter's setups become leased commands at priority 10 (demand limit), a red,
     fresh budget colour one at 11 (budget), the API's operator overrides at 8;
  4. the core proposes at most one interlocked write per zone.
It returns the step's records and the writes; the caller sends each write and hands the
read-back to `done` (control mode), or calls `advise` (advise mode: nothing is sent).
No I/O and no clock here: the edge runtime, `steward-edge replay` and bench/control.py
run the same step.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from typing import Any

from edge.control.commands import budget_setup, override_commands, rule_commands
from edge.control.limiter import DemandLimiter, DemandView, LimiterConfig, Load, ZoneView
from edge.control.records import (
    block_record,
    command_record,
    limiter_record,
    mismatch_record,
    write_record,
)
from edge.control.settings import ControlConfig, DemandSettings
from edge.control.zone_control import CommandChange, ControlCore, WriteIntent
from edge.directives import ControlDirectives
from edge.model import Event, Quality, Sample
from edge.rules.demand import DemandConfig, DemandRule
from edge.rules.engine import alarm_record

log = logging.getLogger("edge.control")
STATE_VERSION = 1


class ControlLoop:
    """Demand rule + limiter + control core: one site's control decisions."""

    def __init__(self, demand: DemandSettings | None, control: ControlConfig | None) -> None:
        self.demand_settings = demand
        self.config = control
        self.counts: Counter[str] = Counter()
        self._pending: list[Event] = []
        self.demand: DemandRule | None = None
        if demand is not None:
            d = demand
            self.demand = DemandRule(
                DemandConfig(
                    d.source, d.limit_kw, d.margin_kw, d.hysteresis_kw, tz=d.tz, basis=d.basis
                )
            )
        self.core: ControlCore | None = None
        self.limiter: DemandLimiter | None = None
        if control is not None:
            self.core = ControlCore(control.interlocks, {z.device: z.points for z in control.zones})
            loads = tuple(
                Load(z.device, z.priority, z.max_setup_k) for z in control.zones if z.shed
            )
            if self.demand is not None and loads:
                lim = control.settings.limiter
                self.limiter = DemandLimiter(
                    LimiterConfig(
                        loads,
                        step_k=lim.step_k,
                        max_zones_per_step=lim.max_zones_per_step,
                        max_shed_share=lim.max_shed_share,
                        confirm=lim.confirm,
                        hold=lim.hold,
                        stagger=lim.stagger,
                        futility_kw=lim.futility_kw,
                    )
                )
        self._zone_values: dict[str, dict[str, float]] = {}
        self._last_ok: dict[str, float] = {}
        self._started: float | None = None
        self._now: float | None = None
        self._blocks_reported = -math.inf
        self._mismatch: set[str] = set()  # "device/point" with control.write_mismatch raised
        self.directives: ControlDirectives | None = None
        self._refused_overrides: set[int] = set()

    # ---------------------------------------------------------------- state

    def snapshot(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "demand": self.demand.snapshot() if self.demand else None,
            "limiter": self.limiter.snapshot() if self.limiter else None,
            "core": self.core.snapshot() if self.core else None,
            "blocks_reported": (
                self._blocks_reported if math.isfinite(self._blocks_reported) else None
            ),
            "mismatch": sorted(self._mismatch),
            "refused_overrides": sorted(self._refused_overrides),
        }

    def restore(self, snap: dict[str, Any]) -> None:
        """Continue from `snapshot()`; ValueError/KeyError/TypeError when it is unusable."""
        if snap.get("version") != STATE_VERSION:
            raise ValueError(f"version {snap.get('version')!r}")
        if self.demand is not None and snap.get("demand"):
            self.demand = DemandRule.restore(self.demand.config, snap["demand"])
        if self.limiter is not None and snap.get("limiter"):
            self.limiter = DemandLimiter.restore(self.limiter.config, snap["limiter"])
        if self.core is not None and snap.get("core"):
            self.core.restore(snap["core"])
        if snap.get("blocks_reported") is not None:
            self._blocks_reported = float(snap["blocks_reported"])
        self._mismatch = set(snap.get("mismatch", []))
        self._refused_overrides = set(snap.get("refused_overrides", []))

    # ---------------------------------------------------------------- inputs

    def set_directives(self, directives: ControlDirectives) -> None:
        """The budget colour and overrides from the API (taken at the next step)."""
        self.directives = directives

    def take(self, sample: Sample) -> None:
        """A poll's readings: the meter's for the demand rule, the zones' for the core."""
        d = self.demand_settings
        is_meter = self.demand is not None and d is not None and sample.device == d.meter
        is_zone = self.core is not None and sample.device in self.core.histories
        if not (is_meter or is_zone):
            return  # every other device of the building: nothing to do per reading
        good = {
            r.point: float(r.value)
            for r in sample.readings
            if r.quality == Quality.GOOD and isinstance(r.value, int | float)
        }
        if is_meter:
            assert d is not None and self.demand is not None
            value = good.get(d.point_name)
            if value is not None:
                reading = [(sample.ts, value)]
                if d.from_ == "energy":
                    conds = self.demand.feed_energy(reading)
                else:
                    conds = self.demand.feed_power(reading)
                self._pending += [alarm_record(c) for c in conds]
                self._pending += self._new_blocks()
        if is_zone and good:
            assert self.core is not None
            self.core.observe(sample.device, good, sample.ts)
            self._zone_values.setdefault(sample.device, {}).update(good)
            self._last_ok[sample.device] = sample.ts

    def _new_blocks(self) -> list[Event]:
        demand, d = self.demand, self.demand_settings
        assert demand is not None and d is not None
        out = []
        for b in demand.blocks:
            if b.start <= self._blocks_reported:
                continue
            self._blocks_reported = b.start
            self.counts["blocks"] += 1
            self.counts["blocks_over"] += int(b.over)
            out.append(block_record(b, demand.config.source, d.meter, demand.config.limit_kw))
        return out

    # ---------------------------------------------------------------- one step

    def plan(self, now: float) -> tuple[list[Event], list[WriteIntent]]:
        """One rule step at `now` (event time): its records, and the writes to send."""
        if self._started is None:
            self._started = now
        self._now = now
        records, self._pending = self._pending, []
        if self.demand is not None:
            records += [alarm_record(c) for c in self.demand.tick(now)]
            records += self._new_blocks()
        if self.core is None:
            return records, []
        changes = self._links(now) + self.core.expire(now)
        records += self._limit(now)
        changes += self._commands(now)
        records += [command_record(c) for c in changes]
        records += self._pending  # overrides refused in this step
        self._pending = []
        for note in self.core.notes:
            log.warning("control: %s", note)
        self.core.notes.clear()
        for (device, point), reasons in self.core.refusals.items():
            if not all(r.startswith("rate:") for r in reasons):
                self.counts["refused"] += 1
                log.debug("control: %s/%s refused: %s", device, point, "; ".join(reasons))
        return records, self.core.plan(now)

    def advise(self, intent: WriteIntent, now: float) -> list[Event]:
        """Advise mode: the write is reported, not sent (the zone keeps what it holds)."""
        assert self.core is not None
        self.core.wrote(intent, now, intent.before)
        self.counts["advised"] += 1
        log.info(
            "control (advise only): would write %s/%s = %g (target %g, %s)",
            intent.device, intent.point, intent.value, intent.target, intent.reason,
        )  # fmt: skip
        return [write_record(intent, now, "advise", None, None)]

    def done(
        self, intent: WriteIntent, now: float, read_back: float | None, error: str | None = None
    ) -> list[Event]:
        """A write was sent at `now` and read back (None: no answer): its records."""
        assert self.core is not None
        verified = self.core.wrote(intent, now, read_back)
        self.counts["writes"] += 1
        self.counts["verified" if verified else "unverified"] += 1
        if error:
            self.counts["write_errors"] += 1
        out = [write_record(intent, now, "control", read_back, verified, error)]
        return out + self._judge_write(intent, now, read_back, verified, error)

    def final(self, now: float) -> tuple[list[Event], list[WriteIntent]]:
        """Stopping: every command released; the defaults to write at once."""
        if self.core is None:
            return [], []
        changes, intents = self.core.final_intents(now)
        return [command_record(c) for c in changes], intents

    def _links(self, now: float) -> list[CommandChange]:
        assert self.core is not None and self.config is not None and self._started is not None
        timeout = self.config.settings.link_timeout
        changes = []
        for zone in self.core.devices():
            last = self._last_ok.get(zone, self._started)
            if now - last >= timeout and zone not in self.core.link_down:
                lost = self.core.link_lost(zone, now, f"no good reading for {now - last:.0f} s")
                self.counts["links_lost"] += 1
                log.warning(
                    "control: zone %s silent for %.0f s: %d commands released; it gets its "
                    "default when it answers again",
                    zone,
                    now - last,
                    len(lost),
                )
                changes += lost
        return changes

    def _limit(self, now: float) -> list[Event]:
        if self.limiter is None or self.demand is None:
            return []
        assert self.core is not None
        p = self.demand.prediction
        view = DemandView(
            at_risk=self.demand.at_risk,
            over=self.demand.over,
            predicted_kw=None if p is None else p.predicted_kw,
            limit_kw=self.demand.config.limit_kw,
        )
        zones = {
            z: ZoneView(
                available=(
                    z not in self.core.link_down
                    and z in self._last_ok
                    and self.core.may_shed(z, now)
                ),
                power_kw=self._zone_values.get(z, {}).get("active_power"),
            )
            for z in self.core.devices()
        }
        out = []
        for action in self.limiter.update(now, view, zones):
            self.counts[action.kind] += 1
            log.info(
                "control: %s %s (%+.1f K): %s",
                action.kind,
                action.zone,
                action.setup_k,
                action.reason,
            )
            out.append(limiter_record(action, now, self.demand.config.source))
        return out

    def _commands(self, now: float) -> list[CommandChange]:
        core, cfg = self.core, self.config
        assert core is not None and cfg is not None
        setups = self.limiter.setups() if self.limiter is not None else {}
        budget = budget_setup(cfg, self.directives, now)
        limit = self.demand.config.limit_kw if self.demand is not None else None
        changes = rule_commands(core, cfg, setups, budget, limit, self._zone_values, now)
        more, refusals = override_commands(core, self.directives, self._refused_overrides, now)
        self.counts["overrides_refused"] += len(refusals)
        self._pending += refusals
        return changes + more

    def _judge_write(
        self,
        intent: WriteIntent,
        now: float,
        read_back: float | None,
        verified: bool,
        error: str | None,
    ) -> list[Event]:
        key = f"{intent.device}/{intent.point}"
        if verified:
            if key in self._mismatch:
                return [
                    self._mismatch_alarm(
                        intent.device, intent.point, False, now, "read back as written"
                    )
                ]
            return []
        if read_back is None or key in self._mismatch:
            return []  # no answer: the link rule judges it; a raised mismatch stays raised
        self.counts["mismatches"] += 1
        log.error(
            "control: %s/%s written %g but reads back %g: the device ignored the write",
            intent.device,
            intent.point,
            intent.value,
            read_back,
        )
        return [
            self._mismatch_alarm(
                intent.device,
                intent.point,
                True,
                now,
                f"written {intent.value:g}, reads back {read_back:g}",
                {"written": intent.value, "read_back": read_back, "owner": intent.owner},
            )
        ]

    def _mismatch_alarm(
        self, device: str, point: str, active: bool, now: float, why: str, data: dict | None = None
    ) -> Event:
        key = f"{device}/{point}"
        (self._mismatch.add if active else self._mismatch.discard)(key)
        return mismatch_record(device, point, active, now, why, data)

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"counts": dict(self.counts)}
        if self.demand is not None:
            p = self.demand.prediction
            last = self.demand.blocks[-1] if self.demand.blocks else None
            out["demand"] = {
                "limit_kw": self.demand.config.limit_kw,
                "at_risk": self.demand.at_risk,
                "over": self.demand.over,
                "predicted_kw": None if p is None else p.predicted_kw,
                "last_block": None
                if last is None
                else {"label": last.label, "demand_kw": last.demand_kw, "over": last.over},
                "counts": dict(self.demand.counts),
            }
        if self.limiter is not None:
            out["limiter"] = {
                "state": self.limiter.state,
                "setups": self.limiter.setups(),
                "counts": dict(self.limiter.counts),
            }
        if self.core is not None:
            now = self._now if self._now is not None else 0.0
            out["commands"] = [
                {
                    "device": c.device,
                    "point": c.point,
                    "slot": c.slot,
                    "owner": c.owner,
                    "value": c.value,
                    "lease_until": c.lease_until,
                }
                for c in self.core.active(now)
            ]
            out["links_down"] = sorted(self.core.link_down)
        return out
