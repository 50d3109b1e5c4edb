"""The meter tree of a building from its devices' tags, and the main-vs-sub-meter balance.

Tags (site YAML `tags:`): `system` is `main` or one of the four sub-metering systems of
Chinese public buildings (照明插座 lighting-sockets, 空调 hvac, 动力 power, 特殊 special);
`parent: <device id>` places a meter under another. Any other `system` (or none) is
"unclassified": reported, not an error. A meter without a system of its own belongs to the
system of its nearest classified ancestor (a sub-sub-meter under the HVAC meter is HVAC).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

MAIN = "main"
SYSTEMS = ("lighting-sockets", "hvac", "power", "special")
UNCLASSIFIED = "unclassified"


class MeterTree:
    """Meters, their parents and systems. Problems are listed in `.problems`, never raised."""

    def __init__(self, tags: Mapping[str, Mapping[str, str]]) -> None:
        self.devices = tuple(sorted(tags))
        self._own = {d: tags[d].get("system") for d in self.devices}
        # Meters tagged with a system this module does not know (a typo, or a local name).
        self.unknown_systems = {
            d: s for d, s in self._own.items() if s is not None and s not in (MAIN, *SYSTEMS)
        }
        self.problems: list[str] = []
        parent: dict[str, str] = {}
        for d in self.devices:
            p = tags[d].get("parent")
            if p is None or p == "":
                continue
            if p == d:
                self.problems.append(f"meter {d!r}: parent is itself")
            elif p not in tags:
                self.problems.append(f"meter {d!r}: parent {p!r} is not a known meter")
            else:
                parent[d] = p
        # A cycle leaves all its meters without a parent (their place is unknown).
        in_cycle: set[str] = set()
        for d in self.devices:
            path, node = [d], parent.get(d)
            while node is not None and node not in path and node not in in_cycle:
                path.append(node)
                node = parent.get(node)
            if node is not None and node in path:
                cycle = path[path.index(node) :]
                if not in_cycle & set(cycle):
                    names = " -> ".join([*cycle, node])
                    self.problems.append(f"meters form a cycle of parents: {names}")
                in_cycle.update(cycle)
        self._parent = {d: p for d, p in parent.items() if d not in in_cycle}
        self.mains = tuple(d for d in self.devices if self._own[d] == MAIN)
        self.root_mains = tuple(m for m in self.mains if m not in self._parent)
        if len(self.root_mains) > 1:
            self.problems.append(
                "several main meters without a parent: "
                + ", ".join(self.root_mains)
                + " (give the others `parent:` or check the tags; the balance needs one)"
            )
        self._children: dict[str, list[str]] = {d: [] for d in self.devices}
        for d, p in self._parent.items():
            self._children[p].append(d)

    def parent(self, device: str) -> str | None:
        return self._parent.get(device)

    def children(self, device: str) -> list[str]:
        """Meters whose parent is `device` (sorted)."""
        return list(self._children.get(device, ()))

    def system_of(self, device: str) -> str:
        """main, one of SYSTEMS (own or inherited from the nearest classified ancestor), or
        unclassified."""
        node: str | None = device
        while node is not None:
            own = self._own.get(node)
            if own == MAIN:
                return MAIN if node == device else UNCLASSIFIED
            if own in SYSTEMS:
                return own
            node = self._parent.get(node)
        return UNCLASSIFIED

    def top_level(self) -> list[str]:
        """Sub-meters directly under a main meter or without a parent (sorted)."""
        return [
            d
            for d in self.devices
            if self._own[d] != MAIN
            and (self._parent.get(d) is None or self._parent[d] in self.mains)
        ]

    def by_system(self) -> dict[str, list[str]]:
        """Top-level sub-meters grouped by system (only systems that have meters)."""
        out: dict[str, list[str]] = {}
        for d in self.top_level():
            out.setdefault(self.system_of(d), []).append(d)
        return out


def build_tree(devices: Mapping[str, Mapping[str, str]]) -> MeterTree:
    """The tree of a building's meters from {device id: tags}."""
    return MeterTree(devices)


@dataclass(frozen=True)
class Balance:
    """Main meter vs the sum of the meters directly below it.

    `share` = unaccounted / main; None (with `note` saying why) when it cannot be trusted:
    no main meter, main 0 or missing, a sub-meter's energy missing, or a tree problem.
    """

    meter: str | None
    main: float | None
    accounted: float | None
    unaccounted: float | None
    share: float | None
    sub_meters: tuple[str, ...] = ()
    note: str = ""


def _known(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def balance(tree: MeterTree, energy: Mapping[str, float], main: str | None = None) -> Balance:
    """Balance of one main meter (default: the building's only top main meter).

    Below the only top main count its children and every parentless sub-meter.
    """
    if main is None:
        if len(tree.root_mains) != 1:
            why = (
                "no main meter (tag one `system: main`)"
                if not tree.root_mains
                else ("several main meters without a parent: " + ", ".join(tree.root_mains))
            )
            return Balance(None, None, None, None, None, note=why)
        main = tree.root_mains[0]
    if main not in tree.mains:
        return Balance(main, None, None, None, None, note=f"{main!r} is not a main meter")
    subs = set(tree.children(main))
    if main in tree.root_mains and len(tree.root_mains) == 1:
        subs.update(d for d in tree.top_level() if tree.parent(d) is None)
    subs_sorted = tuple(sorted(subs))
    main_kwh = energy.get(main)
    main_kwh = float(main_kwh) if _known(main_kwh) else None
    missing = [d for d in subs_sorted if not _known(energy.get(d))]
    accounted = None if missing else float(sum(energy[d] for d in subs_sorted))
    unaccounted = main_kwh - accounted if main_kwh is not None and accounted is not None else None
    note = ""
    if tree.problems:
        note = "meter tree has problems: " + "; ".join(tree.problems)
    elif main_kwh is None:
        note = f"no energy for the main meter {main!r}"
    elif missing:
        note = "no energy for sub-meter(s) " + ", ".join(missing)
    elif not subs_sorted:
        note = f"no sub-meters below {main!r}"
    elif main_kwh == 0:
        note = f"the main meter {main!r} measured 0"
    share = unaccounted / main_kwh if not note and unaccounted is not None and main_kwh else None
    return Balance(main, main_kwh, accounted, unaccounted, share, subs_sorted, note)
