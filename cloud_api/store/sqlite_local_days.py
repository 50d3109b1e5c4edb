"""The sites' time zones in the SQLite store, and rebuilding 1-day buckets when one changes.

The store's 1-day buckets (rollups and energy) are local days of the series' site (see
local_days.py); which zone each site's buckets were made in is recorded in
`site_timezones`. SqliteStore is given `timezone_of(site) -> str` (the energy
configuration's zone of the site); without it, recorded sites keep their zone and others
get "Asia/Shanghai" (see SiteDays). On open, every site whose recorded zone differs from
its zone now (or that has none: a file from before local days) has its 1-day buckets
rebuilt from its 15-min ones, which a local day is made of: a file written before local
days (UTC days, no record) is converted, and so is one whose site changed zone. Each site
is rebuilt in one transaction and logged with its progress; a new site's zone is recorded
when its first batch is stored.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable

from cloud_api.store.local_days import DEFAULT_TIMEZONE, FINE_STEP, LocalDays
from cloud_api.store.rollup import STEPS, Aggregate, regroup_by
from cloud_api.store.sqlite_bulk import BulkInsert
from cloud_api.store.sqlite_rollups import ROLLUP_COLUMNS

log = logging.getLogger("steward.api.store")

DAY_STEP = STEPS["1d"]  # the `step` value 1-day rows carry (their length varies: 23-25 h)
TimezoneOf = Callable[[str], str]

SITE_TIMEZONES_SCHEMA = """
CREATE TABLE IF NOT EXISTS site_timezones(
    site TEXT PRIMARY KEY,
    timezone TEXT NOT NULL,  -- the IANA zone this site's 1-day buckets are local days of
    since REAL NOT NULL  -- when they became so (epoch s)
);
"""
_NOTE_SITE = (
    "INSERT INTO site_timezones(site, timezone, since) VALUES(?,?,?)"
    " ON CONFLICT(site) DO UPDATE SET timezone=excluded.timezone, since=excluded.since"
)
_INSERT_DAY_ROLLUPS = BulkInsert(
    f"INSERT INTO rollups(series_id, step, bucket_start, {ROLLUP_COLUMNS})", 12
)
_INSERT_DAY_ENERGY = BulkInsert(
    "INSERT INTO energy(series_id, step, bucket_start, booked, held_out, flags)", 6
)
_PROGRESS_EVERY = 10.0  # seconds between progress lines


class SiteDays:
    """The writer's local days per site; records a site's zone with its first batch.

    With `timezone_of` the zones are the caller's (the energy configuration's): a site
    recorded in another zone is rebuilt on open. Without it (a tool opening the file
    with no configuration), a site keeps the zone it is recorded in, and a site without a
    record gets the default, Asia/Shanghai.
    """

    def __init__(self, timezone_of: TimezoneOf | None = None) -> None:
        self._given = timezone_of
        self._recorded: dict[str, str] = {}
        self._days: dict[str, LocalDays] = {}
        self._noted: set[str] = set()  # sites whose zone is recorded (or staged) in the file

    def timezone_of(self, site: str) -> str:
        if self._given is not None:
            return self._given(site)
        return self._recorded.get(site, DEFAULT_TIMEZONE)

    def adopt(self, recorded: dict[str, str]) -> None:
        """The zones the file records per site (read on open)."""
        self._recorded = dict(recorded)
        self._days.clear()

    def days(self, site: str) -> LocalDays:
        days = self._days.get(site)
        if days is None:
            days = self._days[site] = LocalDays(self.timezone_of(site))
        return days

    def for_batch(self, db: sqlite3.Connection, site: str, now: float) -> LocalDays:
        """The site's local days, its zone recorded in the writer's transaction."""
        days = self.days(site)
        if site not in self._noted:
            db.execute(
                "INSERT INTO site_timezones(site, timezone, since) VALUES(?,?,?)"
                " ON CONFLICT(site) DO NOTHING",
                (site, days.timezone, now),
            )
            self._noted.add(site)  # forget() drops it if the transaction rolls back
        return days

    def forget(self) -> None:
        self._noted.clear()


def convert(db: sqlite3.Connection, site_days: SiteDays) -> list[str]:
    """Rebuild the 1-day buckets of every site whose recorded zone is not its zone now
    (db in autocommit mode); the sites rebuilt."""
    recorded = dict(db.execute("SELECT site, timezone FROM site_timezones"))
    site_days.adopt(recorded)
    sites = [row[0] for row in db.execute("SELECT DISTINCT site FROM series ORDER BY site")]
    rebuilt = []
    for site in sites:
        days = site_days.days(site)
        if recorded.get(site) == days.timezone:
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            rebuild_site(db, site, days, recorded.get(site))
            db.execute(_NOTE_SITE, (site, days.timezone, time.time()))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        rebuilt.append(site)
    return rebuilt


def rebuild_site(db: sqlite3.Connection, site: str, days: LocalDays, was: str | None = None) -> int:
    """Replace the site's 1-day rollup and energy rows by local days of `days` made from
    its 15-min rows, inside the caller's transaction; the number of series rebuilt."""
    series = [
        row[0] for row in db.execute("SELECT id FROM series WHERE site=? ORDER BY id", (site,))
    ]
    log.info(
        "store: site %s: rebuilding 1-day buckets of %d series as local days of %s (they were"
        " %s), from their 15-min buckets",
        site,
        len(series),
        days.timezone,
        f"local days of {was}" if was else "UTC days",
    )
    started = last_note = time.monotonic()
    for done, series_id in enumerate(series, 1):
        _rebuild_rollups(db, series_id, days)
        _rebuild_energy(db, series_id, days)
        now = time.monotonic()
        if now - last_note >= _PROGRESS_EVERY:
            last_note = now
            log.info("store: site %s: %d of %d series rebuilt", site, done, len(series))
    log.info(
        "store: site %s: 1-day buckets of %d series rebuilt in %.1f s",
        site,
        len(series),
        time.monotonic() - started,
    )
    return len(series)


def _rebuild_rollups(db: sqlite3.Connection, series_id: int, days: LocalDays) -> None:
    fine = {
        row[0]: Aggregate(*row[1:])
        for row in db.execute(
            f"SELECT bucket_start, {ROLLUP_COLUMNS} FROM rollups INDEXED BY rollups_by_series"
            " WHERE series_id=? AND step=? ORDER BY bucket_start",
            (series_id, FINE_STEP),
        )
    }
    db.execute("DELETE FROM rollups WHERE series_id=? AND step=?", (series_id, DAY_STEP))
    flat: list = []
    for start, a in regroup_by(fine, days.start_of).items():
        flat.extend((series_id, DAY_STEP, start, a.count, a.sum, a.min, a.max, a.first, a.last))
        flat.extend((a.first_ts, a.last_ts, a.increase))
    _INSERT_DAY_ROLLUPS.run(db, flat)


def _rebuild_energy(db: sqlite3.Connection, series_id: int, days: LocalDays) -> None:
    daily: dict[int, list] = {}
    for start, booked, held, flags in db.execute(
        "SELECT bucket_start, booked, held_out, flags FROM energy INDEXED BY energy_by_series"
        " WHERE series_id=? AND step=? ORDER BY bucket_start",
        (series_id, FINE_STEP),
    ):
        day = daily.setdefault(days.start_of(start), [0.0, 0.0, 0])
        day[0] += booked
        day[1] += held
        day[2] |= flags
    db.execute("DELETE FROM energy WHERE series_id=? AND step=?", (series_id, DAY_STEP))
    flat: list = []
    for start, (booked, held, flags) in daily.items():
        flat.extend((series_id, DAY_STEP, start, booked, held, flags))
    _INSERT_DAY_ENERGY.run(db, flat)
