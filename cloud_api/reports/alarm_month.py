"""The alarm report's figures for one building and local month: the raises and standing
spells read from the alarms' audit log (cloud_api/store/sqlite_alarms.py's alarm_log),
then the pure ISA-18.2 figures (alarm_load.py).

An annunciated raise is a `raise` transition into `unack` (a raise while shelved,
suppressed or out of service reaches nobody's screen: counted apart). A spell stands from
such a raise until the alarm's next transition to `normal` (acknowledged and cleared).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from cloud_api.reports.alarm_load import AlarmLoad, Raise, Standing, alarm_load
from cloud_api.reports.periods import Month, require_started


@dataclass(frozen=True)
class AlarmMonth:
    site: str
    building: str
    month: str
    timezone: str
    start: float
    end: float
    until: float
    complete: bool
    generated_at: float
    load: AlarmLoad
    not_annunciated: int  # raises while shelved, suppressed or out of service


def read_alarm_history(
    db: sqlite3.Connection, site: str, building: str, end: float
) -> tuple[list[Raise], list[Standing], list[tuple[float, str]]]:
    """The building's annunciated raises and standing spells before `end`, and the
    (ts, state) of raises that were not annunciated."""
    rows = db.execute(
        "SELECT a.id, a.code, a.source, l.action, l.to_state, l.ts FROM alarm_log l"
        " JOIN alarms a ON a.id = l.alarm_id WHERE a.site=? AND a.building=? AND l.ts < ?"
        " AND (l.action = 'raise' OR l.to_state = 'normal') ORDER BY a.id, l.id",
        (site, building, end),
    ).fetchall()
    raises: list[Raise] = []
    spells: list[Standing] = []
    hidden: list[tuple[float, str]] = []
    open_since: dict[int, tuple[str, str, float]] = {}
    for alarm_id, code, source, action, to_state, ts in rows:
        if action == "raise" and to_state != "unack":
            hidden.append((ts, to_state))
            continue
        if action == "raise":
            raises.append(Raise(ts, code, source))
            open_since.setdefault(alarm_id, (code, source, ts))
        elif alarm_id in open_since:  # back to normal
            code, source, since = open_since.pop(alarm_id)
            spells.append(Standing(code, source, since, ts))
    spells.extend(
        Standing(code, source, since, None) for code, source, since in open_since.values()
    )
    return raises, spells, hidden


def alarm_month(
    db: sqlite3.Connection,
    config,
    site: str,
    building: str,
    month: Month,
    now: float,
    operators: int = 1,
) -> AlarmMonth:
    """The figures of the month (up to now, for the running month)."""
    calendar = config.calendar(site)
    require_started(month, calendar, now)
    start, end = month.bounds(calendar)
    until = min(end, now)
    raises, spells, hidden = read_alarm_history(db, site, building, until)
    spells = [s for s in spells if s.until is None or s.until > start]
    day_ends = [calendar.day_bounds(d)[1] for d in month.local_days()]
    load = alarm_load(raises, spells, start, until, day_ends, operators)
    return AlarmMonth(
        site=site,
        building=building,
        month=month.label,
        timezone=calendar.tz,
        start=start,
        end=end,
        until=until,
        complete=until >= end,
        generated_at=now,
        load=load,
        not_annunciated=sum(1 for ts, _ in hidden if start <= ts < until),
    )
