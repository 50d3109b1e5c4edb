"""`steward-edge status` lines for demand and control (from `ControlRuntime.stats()`)."""

from __future__ import annotations

from typing import Any


def status_lines(c: dict[str, Any], now: float) -> list[str]:
    lines = []
    d = c.get("demand")
    if d:
        last = d["last_block"]
        shown = "no block closed yet"
        if last:
            kw = "incomplete" if last["demand_kw"] is None else f"{last['demand_kw']:.1f} kW"
            shown = f"last block {last['label']} {kw}" + (" OVER" if last["over"] else "")
        pred = "" if d["predicted_kw"] is None else f", predicted {d['predicted_kw']:.1f} kW"
        state = "OVER" if d["over"] else ("at risk" if d["at_risk"] else "under")
        counts = d["counts"]
        lines.append(
            f"demand: limit {d['limit_kw']:g} kW, {state}{pred}; {shown}; "
            f"{counts.get('blocks_over', 0)} blocks over, {counts.get('at_risk', 0)} at-risk raises"
        )
    counts = c.get("counts", {})
    if "commands" in c:
        lim = c.get("limiter")
        shed = ""
        if lim:
            setups = ", ".join(f"{z} {k:+.1f} K" for z, k in sorted(lim["setups"].items()) if k)
            shed = f"; limiter {lim['state']}" + (f" ({setups})" if setups else "")
        lines.append(
            f"control ({c['mode']}): {len(c['commands'])} commands active{shed}; "
            f"{counts.get('writes', 0)} writes ({counts.get('verified', 0)} verified, "
            f"{counts.get('mismatches', 0)} ignored by the device), "
            f"{counts.get('advised', 0)} advised, {counts.get('links_lost', 0)} links lost"
        )
        for cmd in c["commands"]:
            left = f"{cmd['lease_until'] - now:.0f} s left" if cmd["lease_until"] else ""
            lines.append(
                f"  {cmd['device']}/{cmd['point']} = {cmd['value']:g} at priority "
                f"{cmd['slot']} by {cmd['owner']} ({left})"
            )
        if c.get("links_down"):
            lines.append(f"  not answering: {', '.join(c['links_down'])}")
    return lines
