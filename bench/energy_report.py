"""What bench/energy.py prints: the figures, PASS or FAIL against the targets, and a
summary to paste into a note."""

from __future__ import annotations

import math
import os
from datetime import date

from energy_data import RETROFIT_SAVING

STATUS_TARGET = 0.200  # p99, s
ENERGY_TARGET = 0.100  # p99, s
COLD, WARM = "cold", "warm"


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest rank."""
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def p50_p99(times: list[float]) -> str:
    return f"{ms(percentile(times, 0.5))} / {ms(percentile(times, 0.99))} (n={len(times)})"


def line(name: str, times: list[float], target: float | None) -> tuple[str, bool]:
    p50, p99 = percentile(times, 0.5), percentile(times, 0.99)
    ok = target is None or p99 < target
    verdict = "" if target is None else f"  target p99 < {ms(target)}: {'PASS' if ok else 'FAIL'}"
    text = (
        f"  {name:<28} n={len(times):>4}  p50 {ms(p50):>9}  p99 {ms(p99):>9}"
        f"  max {ms(times[-1]):>9}{verdict}"
    )
    return text, ok


def models(first: dict[str, dict], gauges: set[str]) -> list[str]:
    """The budgets' baseline models by meter (the budget id is building-meter) and by
    whether the building has a temperature gauge: how many fit, use it, their CV(RMSE)."""
    groups: dict[tuple[str, bool], list[dict]] = {}
    for budget_id, body in first.items():
        building, meter = budget_id.split("-", 1)
        groups.setdefault((meter, building in gauges), []).append(body.get("fit") or {})
    out = []
    for (meter, gauge), fits in sorted(groups.items()):
        cvs = sorted(f["cv_rmse"] for f in fits if f.get("cv_rmse") is not None)
        cv = f", CV(RMSE) {cvs[0]:.0%} .. {cvs[-1]:.0%}" if cvs else ""
        fitting = sum(1 for f in fits if f.get("ok"))
        using = sum(1 for f in fits if f.get("uses_temperature"))
        where = "with a temperature gauge" if gauge else "without one"
        out.append(
            f"    {meter:<17} {where:<24} {fitting} of {len(fits)} fit"
            f" ({using} use temperature){cv}"
        )
    return out


def report(args, load0: tuple[float, float, float], led: dict, loaded, api: dict) -> bool:
    """Print the figures; whether every target was met."""
    st, en = api["status"], api["energy"]
    first = st["first"]
    ok = True
    cpu = st["server_cpu"]
    print(
        f"budget status: {api['budgets']} budgets, {st['requests']} requests; server CPU a"
        f" request on average: cold {ms(cpu[COLD])}, warm {ms(cpu[WARM])}"
    )
    for kind, what in ((COLD, "model fitted"), (WARM, "fit cached")):
        if st["times"][kind]:
            text, good = line(f"{kind} ({what})", st["times"][kind], STATUS_TARGET)
            print(text)
            ok &= good
    print(line("all", sorted(st["times"][COLD] + st["times"][WARM]), None)[0])
    colours: dict[str, int] = {}
    for body in first.values():
        colours[body["colour"]] = colours.get(body["colour"], 0) + 1
    forecasts = sum(1 for b in first.values() if b.get("forecast") is not None)
    print(f"  {forecasts} of {len(first)} budgets forecast; colours {colours}; models (G14):")
    for text in models(first, api["gauges"]):
        print(text)

    print(
        f"energy, {en['days']} days by day (from {en['from']}): server CPU"
        f" {ms(en['server_cpu_per_request'])} a request on average"
    )
    text, good = line("GET /v1/energy step=day", en["times"], ENERGY_TARGET)
    print(text)
    ok &= good
    print(f"  check: {en['check']}")

    if "savings" in api:
        seconds, body = api["savings"]
        total = body.get("total") or {}
        if body["ok"] and total:
            figure = (
                f"avoided {total['avoided_kwh']:,.0f} kWh = {total['fraction']:.1%} of the"
                f" adjusted baseline (simulated {RETROFIT_SAVING:.0%})"
            )
        else:
            figure = "no figure"
        print(
            f"contract savings (HVAC, once): {ms(seconds)}; {figure};"
            f" {len(body['excluded_days'])} days excluded; {body['verdict']}"
        )
    seconds, body = api["dual"]
    figures = ", ".join(
        f"{f['name']} {f['used']:,.1f}" + (f" ({f['colour']})" if f.get("colour") else "")
        for f in body["figures"]
    )
    print(f"dual control {body['building']} {body['year']} (once): {ms(seconds)}; {figures}")
    print(f"API process RSS at the end: {api['rss_mb']:.0f} MB")

    cold, warm = st["times"][COLD], st["times"][WARM]
    load1 = os.getloadavg()[0]
    print()
    print(
        f"summary ({date.today()}, {os.cpu_count()} cores, load average {load0[0]:.2f} at"
        f" start, {load1:.2f} at end):"
    )
    print(
        f"  {args.buildings} buildings x {args.days} days, {loaded.readings:,} readings,"
        f" loaded in {loaded.seconds:.0f} s, {loaded.file_bytes / 1e6:,.0f} MB;"
        f" ledger {led['per_s']:,.0f} readings/s (one core)"
    )
    status = [f"cold {p50_p99(cold)}"] if cold else []
    status += [f"warm {p50_p99(warm)}"] if warm else []
    print(f"  budget status p50 / p99: {', '.join(status)}; target p99 < 200 ms")
    print(f"  a year of daily energy p50 / p99: {p50_p99(en['times'])}; target p99 < 100 ms")
    print(f"  overall: {'PASS' if ok else 'FAIL'}")
    return ok
