"""15-minute demand of one meter against a limit (issue 9 D). Pure: time comes from the data.

Input is either power readings (ts, kW) or energy counter readings (ts, kWh), never both:
- power: the power read at t holds until the next reading (sample and hold), so
  [t_i, t_i+1] used p_i * (t_i+1 - t_i) / 3600 kWh;
- energy: readings go through edge.energy's ledger (`feed`), which books validated
  kWh over [t_base, t] (rollover, reset, glitch handled there).
A step longer than `max_step` s is a gap: its energy is real but when it was used is not
known, so it is left out of every block and window (never spread over them).

Demand figures (kW = kWh / hours):
- fixed blocks on :00/:15/:30/:45 of the local clock: kWh in the block / 0.25 h. A block
  is complete when every second of it is covered by short steps; otherwise its
  `demand_kw` is None (insufficient data) and `kwh` is the energy known to fall in it,
  a lower bound (energy is never negative), so `over` is still certain when it exceeds.
- a sliding 15-min window, recomputed at each local minute the data passes: its average
  kW when the window is fully covered, else None.
- a prediction of the current block's end value: kWh so far in the block plus the recent
  rate (kWh over the covered part of the last `rate_window` s / its hours) times the time
  left, / 0.25 h. None when less than half the rate window is covered.

Conditions (source: `config.source`):
  demand.at_risk  (yellow) the predicted block average >= limit - margin; cleared when a
                  prediction falls below limit - margin - hysteresis. With a gap in the
                  block the kWh so far is a lower bound, so a raise is still justified;
                  with no prediction (a quiet meter) it stays as it was.
  demand.over     (red) with basis "block" (the default), a closed block's average
                  exceeds the limit (> limit; a block at exactly the limit is not over);
                  cleared ("back under") by the next complete block not over it. With
                  basis "sliding" (a meter's 1-min-slide demand register, as China bills
                  需量), the same judged on each minute's window.
Counts in `counts`: raises of each ("at_risk", "over"), "back_under", "blocks_over" and
"windows_over" (whatever the basis), and input counts ("late", "bad_power", "gap",
"bad_energy", "no_prediction", "blocks_without_data").
A block closes when the data reaches its end, or at tick(now) once now >= end +
`close_after` (a meter that went quiet).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from edge.energy.ledger import CounterRules, CounterState, Replacement, feed
from edge.rules.alarm_codes import DEMAND_AT_RISK, DEMAND_OVER, default_colour
from edge.rules.conditions import Condition

SNAPSHOT_VERSION = 1
BLOCK = 900  # s: the demand integration period
_HOURS = BLOCK / 3600  # 0.25 h
_TOL = 1e-9  # relative: a block at exactly the limit stays not over despite float noise


@dataclass(frozen=True, slots=True)
class DemandConfig:
    source: str  # the meter (or site) the limit is about
    limit_kw: float
    margin_kw: float = 0.0  # at_risk when the prediction reaches limit - margin
    hysteresis_kw: float = 0.0  # at_risk clears below limit - margin - hysteresis
    tz: str = "Asia/Shanghai"
    rate_window: float = 300.0  # s of recent data whose rate predicts the block's end
    max_step: float = 300.0  # s: a longer step between readings is a gap
    close_after: float = 120.0  # s after a block's end before tick() closes it without data
    keep_blocks: int = 96  # closed blocks kept (a day)
    basis: str = "block"  # what demand.over judges: "block" or "sliding" (window)
    counter_rules: CounterRules = field(default_factory=CounterRules)

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"demand config {self.source!r}: unknown time zone {self.tz!r}"
            ) from exc
        if not (self.limit_kw > 0 and math.isfinite(self.limit_kw)):
            raise ValueError(f"demand config {self.source!r}: limit_kw must be > 0")
        if self.basis not in ("block", "sliding"):
            raise ValueError(
                f"demand config {self.source!r}: basis {self.basis!r} is not 'block' or 'sliding'"
            )
        if self.margin_kw < 0 or self.hysteresis_kw < 0:
            raise ValueError(f"demand config {self.source!r}: margin/hysteresis must be >= 0")
        if self.rate_window <= 0 or self.max_step <= 0:
            raise ValueError(f"demand config {self.source!r}: rate_window, max_step must be > 0")


@dataclass(frozen=True, slots=True)
class DemandBlock:
    start: float
    end: float
    label: str  # local start, e.g. "2026-12-03T23:45+08:00"
    kwh: float  # energy known to fall in the block (a lower bound when incomplete)
    covered: float  # seconds of the block covered by short steps
    demand_kw: float | None  # kwh / 0.25 h when complete, else None
    over: bool
    peak_sliding_kw: float | None  # highest full sliding window ending inside the block


@dataclass(frozen=True, slots=True)
class Prediction:
    ts: float
    block_start: float
    kwh_so_far: float
    rate_kw: float
    predicted_kw: float


class DemandRule:
    def __init__(self, config: DemandConfig) -> None:
        self.config = config
        self._zone = ZoneInfo(config.tz)
        self.counts: dict[str, int] = {}
        self.blocks: deque[DemandBlock] = deque(maxlen=max(1, config.keep_blocks))
        self.prediction: Prediction | None = None
        self.sliding_kw: float | None = None  # the latest sliding window's average
        self.at_risk = False
        self.over = False
        self._mode: str | None = None  # "power" or "energy"
        self._last: tuple[float, float | None] | None = None  # last power reading (kW or bad)
        self._counter = CounterState()
        self._steps: list[tuple[float, float, float]] = []  # (start, end, kWh), short only
        self._end: float | None = None  # the latest instant the data reached
        self._block: float | None = None  # start of the open block
        self._minute: float | None = None  # end of the latest sliding window computed
        self._peaks: dict[float, float] = {}  # block start -> its peak sliding window

    # ---- local clock ---------------------------------------------------------------

    def block_start(self, ts: float) -> float:
        """Start of the local :00/:15/:30/:45 block containing ts."""
        return ts - (ts + self._offset(ts)) % BLOCK

    def _offset(self, ts: float) -> float:
        off = datetime.fromtimestamp(ts, self._zone).utcoffset()
        return off.total_seconds() if off is not None else 0.0

    def _label(self, ts: float) -> str:
        return datetime.fromtimestamp(ts, self._zone).isoformat(timespec="minutes")

    # ---- inputs --------------------------------------------------------------------

    def feed_power(self, readings: Iterable[tuple[float, float]]) -> list[Condition]:
        """Power readings (ts, kW) in time order."""
        self._use("power")
        out: list[Condition] = []
        for ts, kw in readings:
            if self._last is not None and ts <= self._last[0]:
                self._count("late")
                continue
            if self._last is not None and self._last[1] is not None:
                t0, p0 = self._last
                self._step(t0, ts, p0 * (ts - t0) / 3600)
            if not (math.isfinite(kw) and kw >= 0):
                self._count("bad_power")  # the interval it would start stays unknown
                self._last = (ts, None)
                continue
            self._last = (ts, kw)
            self._advance(ts, out)
        return out

    def feed_energy(
        self, readings: Iterable[tuple[float, float]], replacements: Iterable[Replacement] = ()
    ) -> list[Condition]:
        """Counter readings (ts, kWh) in time order, through edge.energy's ledger.

        A replacement is applied just before the first reading at or after its ts (pass it
        with that reading's batch). Blocks close only as far as the ledger has booked: a
        suspect reading (a possible glitch) waits for the next one to decide it."""
        self._use("energy")
        out: list[Condition] = []
        replacements = list(replacements)
        for ts, value in readings:
            if not math.isfinite(value):
                self._count("bad_energy")  # the step across it is taken from the next one
                continue
            latest = self._counter.latest_ts  # suspect readings waiting included
            if latest is not None and ts <= latest:
                self._count("late")
                continue
            due = [r for r in replacements if r.ts <= ts and (latest is None or r.ts > latest)]
            base = self._counter.base_ts
            entries = feed(self._counter, [(ts, value)], self.config.counter_rules, due)
            for b in entries.bookings:
                if b.end > b.start:
                    self._step(b.start, b.end, b.amount)
            flat = not entries.bookings and not entries.marks and base is not None
            if flat and self._counter.base_ts == ts and not self._counter.pending:
                self._step(base, ts, 0.0)  # type: ignore[arg-type]  # a flat good step: 0 kWh
            # The data reaches as far as the ledger has judged: a suspect reading waits.
            booked_to = self._counter.base_ts
            if booked_to is not None and (self._end is None or booked_to > self._end):
                self._advance(booked_to, out)
        return out

    def tick(self, now: float) -> list[Condition]:
        """Close blocks the data never reached, `close_after` s after their end."""
        out: list[Condition] = []
        while self._block is not None and now >= self._block + BLOCK + self.config.close_after:
            self._close(out)
            self._block = self.block_start(self._block + BLOCK)
        return out

    # ---- internals -----------------------------------------------------------------

    def _use(self, mode: str) -> None:
        if self._mode not in (None, mode):
            raise ValueError(
                f"demand {self.config.source!r}: fed {mode} readings after {self._mode}"
                " readings; one rule takes one kind"
            )
        self._mode = mode

    def _count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def _step(self, start: float, end: float, kwh: float) -> None:
        if end - start > self.config.max_step:
            self._count("gap")
            return
        self._steps.append((start, end, kwh))

    def _energy(self, start: float, end: float) -> tuple[float, float]:
        """kWh and covered seconds of [start, end] (steps share in proportion to time)."""
        kwh = covered = 0.0
        for s, e, k in self._steps:
            overlap = min(e, end) - max(s, start)
            if overlap > 0:
                kwh += k * overlap / (e - s)
                covered += overlap
        return kwh, covered

    def _advance(self, ts: float, out: list[Condition]) -> None:
        self._end = ts if self._end is None else max(self._end, ts)
        if self._block is None:
            self._block = self.block_start(ts)
        self._slide(ts, out)
        while ts >= self._block + BLOCK:
            self._close(out)
            self._block = self.block_start(self._block + BLOCK)
        self._predict(ts, out)
        self._prune()

    def _slide(self, ts: float, out: list[Condition]) -> None:
        """The windows ending at each local minute the data passed since the last call
        (those ending more than a block ago cannot be full: a gap longer than max_step)."""
        minute = ts - (ts + self._offset(ts)) % 60
        m = minute if self._minute is None else max(self._minute + 60, minute - BLOCK)
        while m <= minute:
            self._window(m, out)
            self._minute = m
            m += 60

    def _window(self, end: float, out: list[Condition]) -> None:
        kwh, covered = self._energy(end - BLOCK, end)
        full = covered >= BLOCK * (1 - _TOL)
        kw = kwh / _HOURS
        self.sliding_kw = kw if full else None
        block = self.block_start(end - 1)  # the block the window ends in
        if full:
            self._peaks[block] = max(self._peaks.get(block, 0.0), kw)
        over = kw > self.config.limit_kw * (1 + _TOL)  # certain even when not full
        if over:
            self._count("windows_over")
        if self.config.basis == "sliding":
            self._judge(over, full, end, kw, "sliding window", block, out)

    def _predict(self, ts: float, out: list[Condition]) -> None:
        cfg = self.config
        block = self._block
        assert block is not None
        if ts < block:  # tick() closed blocks past the data: nothing to predict from yet
            self.prediction = None
            return
        so_far, _ = self._energy(block, ts)
        recent, covered = self._energy(ts - cfg.rate_window, ts)
        if covered < cfg.rate_window / 2:
            self.prediction = None
            self._count("no_prediction")
            return
        rate = recent / (covered / 3600)
        predicted = (so_far + rate * (block + BLOCK - ts) / 3600) / _HOURS
        self.prediction = Prediction(ts, block, so_far, rate, predicted)
        raise_at = cfg.limit_kw - cfg.margin_kw
        if not self.at_risk and predicted >= raise_at * (1 - _TOL):
            self.at_risk = True
            self._count("at_risk")
            out.append(self._cond(DEMAND_AT_RISK, True, ts, predicted, "predicted", block))
        elif self.at_risk and predicted < raise_at - cfg.hysteresis_kw:
            self.at_risk = False
            out.append(self._cond(DEMAND_AT_RISK, False, ts, predicted, "predicted", block))

    def _close(self, out: list[Condition]) -> None:
        start = self._block
        assert start is not None
        end = start + BLOCK
        kwh, covered = self._energy(start, end)
        peak = self._peaks.pop(start, None)
        if covered <= 0:  # a block inside a gap: nothing known, nothing to judge
            self._count("blocks_without_data")
            return
        complete = covered >= BLOCK * (1 - _TOL)
        over = kwh / _HOURS > self.config.limit_kw * (1 + _TOL)
        block = DemandBlock(
            start,
            end,
            self._label(start),
            kwh,
            covered,
            kwh / _HOURS if complete else None,
            over,
            peak,
        )
        self.blocks.append(block)
        if over:
            self._count("blocks_over")
        if self.config.basis == "block":
            self._judge(over, complete, end, kwh / _HOURS, "block", start, out)

    def _judge(
        self,
        over: bool,
        known: bool,
        ts: float,
        kw: float,
        kind: str,
        block: float,
        out: list[Condition],
    ) -> None:
        if over and not self.over:
            self.over = True
            self._count("over")
            out.append(self._cond(DEMAND_OVER, True, ts, kw, kind, block))
        elif self.over and not over and known:  # back under only when known to be under
            self.over = False
            self._count("back_under")
            out.append(self._cond(DEMAND_OVER, False, ts, kw, kind, block))

    def _prune(self) -> None:
        keep_from = min(
            self._block,  # type: ignore[arg-type]
            (self._end or 0.0) - max(self.config.rate_window, BLOCK),
        )
        self._peaks = {k: v for k, v in self._peaks.items() if k >= keep_from - BLOCK}
        if self._steps and self._steps[0][1] <= keep_from:
            self._steps = [s for s in self._steps if s[1] > keep_from]

    def _cond(
        self, code: str, active: bool, ts: float, kw: float, kind: str, block: float
    ) -> Condition:
        cfg = self.config
        if code == DEMAND_OVER:
            what = "exceeded" if active else "is back under"
            msg = f"{cfg.source}: 15-min demand {kw:.1f} kW {what} the limit {cfg.limit_kw:g} kW"
        else:
            what = "may exceed" if active else "no longer predicted to exceed"
            msg = (
                f"{cfg.source}: 15-min demand {kind} {kw:.1f} kW {what} the limit"
                f" {cfg.limit_kw:g} kW (margin {cfg.margin_kw:g} kW)"
            )
        return Condition(
            code,
            cfg.source,
            active,
            ts,
            default_colour(code),
            msg,
            {"kw": kw, "limit_kw": cfg.limit_kw, "block": self._label(block), "kind": kind},
        )

    # ---- snapshot ------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state; `restore` continues exactly where this left off."""
        return {
            "version": SNAPSHOT_VERSION,
            "counts": dict(self.counts),
            "blocks": [asdict(b) for b in self.blocks],
            "prediction": asdict(self.prediction) if self.prediction else None,
            "sliding_kw": self.sliding_kw,
            "at_risk": self.at_risk,
            "over": self.over,
            "mode": self._mode,
            "last": list(self._last) if self._last else None,
            "counter": self._counter.as_list(),
            "steps": [list(s) for s in self._steps],
            "end": self._end,
            "block": self._block,
            "minute": self._minute,
            "peaks": [[k, v] for k, v in self._peaks.items()],
        }

    @classmethod
    def restore(cls, config: DemandConfig, snap: dict[str, Any]) -> DemandRule:
        if snap.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"demand snapshot: version {snap.get('version')!r} not supported")
        r = cls(config)
        r.counts = {str(k): int(v) for k, v in snap["counts"].items()}
        r.blocks.extend(DemandBlock(**b) for b in snap["blocks"])
        r.prediction = Prediction(**snap["prediction"]) if snap["prediction"] else None
        r.sliding_kw = snap["sliding_kw"]
        r.at_risk, r.over = bool(snap["at_risk"]), bool(snap["over"])
        r._mode = snap["mode"]
        r._last = tuple(snap["last"]) if snap["last"] else None  # type: ignore[assignment]
        r._counter = CounterState.from_list(snap["counter"])
        r._steps = [(s, e, k) for s, e, k in snap["steps"]]
        r._end, r._block, r._minute = snap["end"], snap["block"], snap["minute"]
        r._peaks = {float(k): float(v) for k, v in snap["peaks"]}
        return r
