"""The demo's energy side: the site's energy configuration, a monthly budget set by the
demo's energy manager, and the energy part of the one-line status.

What the figures mean is in the README (Energy). The building's size and the budget's
amount are DEMO values, chosen to be plausible for the simulated load, not any real
building's: the simulator's tower uses about 3.6 GWh a year (numpy load shapes of
simulators/loads.py with seed 1 plus the four HVAC zones), so 36,000 m2 gives about
100 kWh/m2 a year, as for a large government office, and a month uses 265-360 MWh.

The simulated clock (the meters' and the edge's) runs --speed times faster than the
API's, which stays the wall clock (visitor passes and door rules live on it), so the
status asks for the simulated date: explicit from/to dates and the budget status `at`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import yaml

TIMEZONE = "Asia/Shanghai"
AREA_M2, OCCUPANTS = 36_000, 1_500  # DEMO values
MAIN_RATED_KW = 2_000  # DEMO rating of the main incomer (the simulated peak is ~1,150 kW)
BUDGET_ID = "tower-a-monthly"
BUDGET_KWH = 320_000.0  # DEMO amount: about the simulated December (~315 MWh)
SHIPPED_TARIFF = Path(__file__).resolve().parents[1] / "cloud_api/energy_examples/zhejiang-tou.yaml"


def local_date(ts: float) -> dt.date:
    return dt.datetime.fromtimestamp(ts, ZoneInfo(TIMEZONE)).date()


def tariff_lines(first_day: dt.date, shipped: Path = SHIPPED_TARIFF) -> list[str]:
    """The shipped Zhejiang EXAMPLE tariff when it is valid on the demo's first day, else a
    flat demo tariff marked EXAMPLE (a cost needs a tariff valid on every hour)."""
    try:
        tariffs = yaml.safe_load(shipped.read_text("utf-8"))["tariffs"]
        valid_from = min(t["valid_from"] for t in tariffs)
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError):
        valid_from = None
    if isinstance(valid_from, dt.date) and valid_from <= first_day:
        return [
            "# The shipped Zhejiang time-of-use EXAMPLE (cloud_api/energy_examples): its price",
            "# ratios and periods are sourced, its base price is not: check it against the bill.",
            f"tariff_file: {shipped.name}",
        ]
    why = f"applies from {valid_from}" if valid_from else "could not be read"
    return [
        f"# The shipped Zhejiang example {why}, not on the demo's first day ({first_day}):",
        "# a flat EXAMPLE price instead, so that costs show.",
        "tariffs:",
        "  - version: demo-flat-EXAMPLE",
        "    valid_from: 2000-01-01",
        "    example: true",
        "    source: EXAMPLE for the demo, not a real price",
        "    prices: {flat: 0.60}",
        "    default_period: flat",
    ]


@dataclass(frozen=True)
class EnergyPlan:
    """The energy side of the demo building `site`/`building`."""

    site: str
    building: str

    @property
    def budget(self) -> dict:
        return {
            "name": f"{self.building} electricity per month (DEMO amount)",
            "site": self.site,
            "building": self.building,
            "period": "month",
            "amount": BUDGET_KWH,
            "unit": "kWh",
        }

    def write_config(self, workdir: Path, start: float) -> Path:
        """The energy configuration the demo's API reads (STEWARD_API_ENERGY_CONFIG)."""
        lines = [
            "# Written by steward-sim demo: the energy configuration of the demo site (README,",
            "# Energy). A real site's looks the same, with its own figures.",
            f"timezone: {TIMEZONE}",
            "sites:",
            f"  {self.site}:",
            f"    timezone: {TIMEZONE}",
            "    # holidays: [...] and workdays: [...] (make-up days, 调休) belong here: the",
            "    # State Council's calendar of the year. The demo lists none.",
            "    buildings:",
            f"      {self.building}:",
            "        # DEMO values, not a real building's: sized so the simulated load (about",
            "        # 3.6 GWh a year) comes to about 100 kWh/m2 a year.",
            f"        area_m2: {AREA_M2}",
            f"        occupants: {OCCUPANTS}",
            "        # Outdoor temperature for the baseline's degree terms: the zone",
            "        # controllers' outdoor sensor.",
            "        temperature: {device: zone-20, point: outdoor_temperature}",
            "        # The most a meter can draw (a DEMO rating): a faster rise of its counter",
            "        # is held out as implausible.",
            f"        rated_kw: {{main-incomer: {MAIN_RATED_KW}}}",
            "factors:  # the defaults, named: GB/T 2589-2020 calorific equivalent, MEE-NBS 2023",
            "  coal: [{version: gb2589-2020-equivalent}]",
            "  co2: [{version: mee-nbs-2023}]",
            *tariff_lines(local_date(start)),
            "# No dual-control quotas: a quota needs its source (e.g. DB33/T 736), and the",
            "# demo has none to cite.",
            "balance_threshold: 0.10",
        ]
        path = workdir / "energy.yaml"
        path.write_text("\n".join(lines) + "\n", "utf-8")
        return path

    def set_budget(self, api: str, token: str) -> str:
        """Set the monthly budget as the energy manager, unless it is set as it should be
        (a budget is versioned: an unchanged one is not put again). 'set' or 'kept'."""
        headers = {"Authorization": f"Bearer {token}"}
        url = f"{api}/v1/budgets/{BUDGET_ID}"
        body = self.budget
        try:
            now = httpx.get(url, headers=headers, timeout=5)
            if now.status_code == 200 and all(now.json().get(k) == v for k, v in body.items()):
                return "kept"
            answer = httpx.put(url, headers=headers, json=body, timeout=5)
        except httpx.HTTPError as exc:
            raise RuntimeError(f"could not set the demo budget: {exc}") from None
        if answer.status_code != 200:
            raise RuntimeError(
                f"could not set the demo budget: {answer.status_code} {answer.text.strip()}"
            )
        return "set"

    def status(self, api: str, viewer: str, at: float) -> str:
        """The month's kWh, today's meter balance and the budget's colour and reason, at
        the simulated time `at`."""
        headers = {"Authorization": f"Bearer {viewer}"}
        today = local_date(at)
        first, tomorrow = today.replace(day=1), today + dt.timedelta(days=1)
        place = {"site": self.site, "building": self.building}
        try:
            energy = httpx.get(
                f"{api}/v1/energy",
                params={**place, "from": str(first), "to": str(tomorrow), "step": "month"},
                headers=headers,
                timeout=10,
            ).json()
            balance = httpx.get(
                f"{api}/v1/energy/balance",
                params={**place, "from": str(today), "to": str(tomorrow)},
                headers=headers,
                timeout=10,
            ).json()
            budget = httpx.get(
                f"{api}/v1/budgets/{BUDGET_ID}/status",
                params={"at": f"{at:.0f}"},
                headers=headers,
                timeout=10,
            ).json()
            kwh, colour, reason = energy["total"]["kwh"], budget["colour"], budget["reason"]
            share, balance_colour = balance["share"], balance["colour"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            return f"energy: API not answering ({exc.__class__.__name__})"
        unmetered = (
            "no meter balance yet"
            if share is None
            else f"{share:.1%} on no sub-meter today ({balance_colour})"
        )
        return f"energy {first:%Y-%m} {kwh:,.0f} kWh, {unmetered}; budget {colour}: {reason}"

    def banner(self, api: str, workdir: Path, speed: float) -> str:
        place = f"site={self.site}&building={self.building}"
        ahead = (
            ""
            if speed <= 1
            else "                      (the meters' clock runs ahead of the API's at this speed:\n"
            "                      add from=/to= local dates, and at= to the budget status)\n"
        )
        return f"""  energy this month   {api}/v1/energy?{place}&step=month
  meter balance       {api}/v1/energy/balance?{place}&from=YYYY-MM-DD
  budget status       {api}/v1/budgets/{BUDGET_ID}/status
{ahead}  energy manager      token in {workdir / "energy_manager.token"} (budgets, repairs)
"""
