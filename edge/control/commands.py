"""Where commands come from: the limiter's setups (priority 10), a red budget (11) and the
API's operator overrides (8). Each step turns them into leased commands on the core.

A shed raises a cooling setpoint, or lowers a heating one when the zone heats. The demand
command never asks for less setup than the budget's already holds (both are "at least
this much" wishes, so the stronger one stands at the higher priority). A budget colour
older than `max_age` permits nothing: its command is not renewed and its lease ends.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from edge.control.priority import BUDGET, DEMAND_LIMIT, OPERATOR
from edge.control.settings import ControlConfig
from edge.control.zone_control import CommandChange, ControlCore
from edge.directives import ControlDirectives, Override
from edge.model import Event

log = logging.getLogger(__name__)
HEATING = 2  # mode / running_state value of the steward/hvac-zone profile


def budget_setup(
    config: ControlConfig, directives: ControlDirectives | None, now: float
) -> tuple[float, str]:
    """K of setup a red budget allows now (0 when none, not red, or stale), and why."""
    b = config.settings.budget
    d = directives
    if b is None or d is None or d.budget_colour != "red":
        return 0.0, ""
    age = now - d.fetched_at
    if age > b.max_age:
        return 0.0, f"budget colour {age:.0f} s old, more than {b.max_age:g} s: stale"
    return b.setup_k, f"budget {d.budget_id} red ({age:.0f} s old): {b.setup_k:+.1f} K"


def shed_point(values: Mapping[str, float]) -> tuple[str, float]:
    """(point, sign): a heating zone sheds by lowering its heating setpoint."""
    mode, running = values.get("mode"), values.get("running_state")
    heating = mode == HEATING or (mode == 0 and running == HEATING)
    return ("heating_setpoint", -1.0) if heating else ("cooling_setpoint", 1.0)


def held_point(core: ControlCore, device: str) -> tuple[str, float] | None:
    """The point a shed already holds: it stays there until released (lowering a heating
    setpoint stops the heating, which must not move the shed to the cooling setpoint)."""
    for point, sign in (("heating_setpoint", -1.0), ("cooling_setpoint", 1.0)):
        if core.holder(device, point, DEMAND_LIMIT) or core.holder(device, point, BUDGET):
            return point, sign
    return None


def rule_commands(
    core: ControlCore,
    config: ControlConfig,
    setups: Mapping[str, float],
    budget: tuple[float, str],
    limit_kw: float | None,
    zone_values: Mapping[str, Mapping[str, float]],
    now: float,
) -> list[CommandChange]:
    """Put, renew or relinquish the demand (10) and budget (11) commands of every zone."""
    lease_until = now + config.settings.lease
    budget_k, budget_why = budget
    changes: list[CommandChange] = []
    for zone in config.zones:
        device = zone.device
        if device in core.link_down:
            continue
        point, sign = held_point(core, device) or shed_point(zone_values.get(device, {}))
        other = "heating_setpoint" if point == "cooling_setpoint" else "cooling_setpoint"
        for slot, owner in ((DEMAND_LIMIT, "demand"), (BUDGET, "budget")):
            changes += core.command(device, other, slot, None, owner, "season changed", 0, now)
        default = core.default(device, point)
        if default is None:
            continue  # not read yet: nothing to set up from
        demand_k = setups.get(device, 0.0) if zone.shed else 0.0
        if demand_k > 0:
            k = max(demand_k, budget_k)
            why = f"demand limit {limit_kw:g} kW: {sign * k:+.1f} K"
            value = default + sign * k
            changes += core.command(
                device, point, DEMAND_LIMIT, value, "demand", why, lease_until, now
            )
        else:
            why = "demand under the limit"
            changes += core.command(device, point, DEMAND_LIMIT, None, "demand", why, 0, now)
        if budget_k > 0:
            value = default + sign * budget_k
            changes += core.command(
                device, point, BUDGET, value, "budget", budget_why, lease_until, now
            )
        else:
            why = budget_why or "budget not red"
            changes += core.command(device, point, BUDGET, None, "budget", why, 0, now)
    return changes


def override_owner(o: Override) -> str:
    return f"operator:{o.by}#{o.id}"


def _override_id(owner: str) -> int | None:
    _, _, tail = owner.rpartition("#")
    return int(tail) if owner.startswith("operator:") and tail.isdigit() else None


def override_commands(
    core: ControlCore, directives: ControlDirectives | None, refused: set[int], now: float
) -> tuple[list[CommandChange], list[Event]]:
    """Overrides in the directives held at priority 8 until their end; one no longer
    listed (released through the API) is relinquished. One the core cannot take (an
    unknown zone or point) is refused once, with an event naming why."""
    wanted = {o.id: o for o in (directives.overrides if directives else ()) if o.until > now}
    changes: list[CommandChange] = []
    events: list[Event] = []
    for device, point in core.points():
        owner = core.holder(device, point, OPERATOR)
        if owner is None:
            continue
        o = wanted.get(_override_id(owner))  # type: ignore[arg-type]
        if o is None or (o.device, o.point) != (device, point):
            changes += core.command(
                device, point, OPERATOR, None, owner, "override released", 0, now
            )
    for o in wanted.values():
        if o.device in core.link_down:
            continue
        try:
            changes += core.command(
                o.device, o.point, OPERATOR, o.value, override_owner(o), o.reason, o.until, now
            )
        except (KeyError, ValueError, PermissionError) as exc:
            if o.id in refused:
                continue
            refused.add(o.id)
            log.warning("control: override %d refused: %s", o.id, exc)
            events.append(
                Event(
                    ts=now,
                    source=o.device,
                    code="control.refused",
                    message=f"override {o.id} by {o.by} refused: {exc}",
                    data={
                        "override": o.id,
                        "device": o.device,
                        "point": o.point,
                        "reason": str(exc),
                    },
                )
            )
    return changes, events
