"""SqliteStore's methods for alarms, access events and patrol rounds (a mixin: the
tables and queries are sqlite_alarms.py's, sqlite_access.py's and sqlite_patrols.py's).

Every alarm read and action first applies what time has done (expired shelves, ended
chattering) at the caller's `now`, so nobody sees a shelf that has run out.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from cloud_api.store import sqlite_access, sqlite_alarms, sqlite_patrols
from cloud_api.store.keyset import decode_cursor


class SecurityQueries:
    """Needs the store's `_reader()` and `_transaction()` context managers."""

    def _reader(self) -> AbstractContextManager[sqlite3.Connection]: ...  # pragma: no cover
    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...  # pragma: no cover

    def tick_alarms(self, now: float) -> None:
        """Apply what time has done to the alarms by `now` (for reads of the alarms table
        outside these methods, e.g. the cockpit's counts)."""
        self._tick_alarms(now)

    def _tick_alarms(self, now: float) -> None:
        with self._reader() as db:
            pending = sqlite_alarms.tick_pending(db, now)
        if pending:
            with self._transaction() as db:
                sqlite_alarms.tick_due(db, now)

    def list_alarms(
        self,
        now: float,
        *,
        site: str | None = None,
        building: str | None = None,
        codes: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
        colours: Sequence[str] | None = None,
        start: float | None = None,
        end: float | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """BadCursorError for a cursor this store did not hand out."""
        after = None if cursor is None else decode_cursor(cursor)
        self._tick_alarms(now)
        with self._reader() as db:
            return sqlite_alarms.list_alarms(
                db,
                site=site,
                building=building,
                codes=codes,
                states=states,
                colours=colours,
                start=start,
                end=end,
                limit=limit,
                after=after,
            )

    def get_alarm(self, alarm_id: int, now: float) -> dict[str, Any] | None:
        self._tick_alarms(now)
        with self._reader() as db:
            return sqlite_alarms.get_alarm(db, alarm_id)

    def act_on_alarm(
        self,
        alarm_id: int,
        action: str,
        user: str,
        now: float,
        note: str = "",
        until: float | None = None,
        assignee: str | None = None,
    ) -> dict[str, Any]:
        """See sqlite_alarms.act for what it raises."""
        with self._transaction() as db:
            sqlite_alarms.tick_due(db, now)
            return sqlite_alarms.act(db, alarm_id, action, user, now, note, until, assignee)

    def list_access_events(
        self,
        *,
        site: str | None = None,
        building: str | None = None,
        door: str | None = None,
        credential: str | None = None,
        kinds: Sequence[str] | None = None,
        start: float | None = None,
        end: float | None = None,
        limit: int = 1000,
        cursor: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        after = None if cursor is None else decode_cursor(cursor)
        with self._reader() as db:
            return sqlite_access.list_access_events(
                db,
                site=site,
                building=building,
                door=door,
                credential=credential,
                kinds=kinds,
                start=start,
                end=end,
                limit=limit,
                after=after,
            )

    def list_patrol_rounds(
        self,
        *,
        site: str | None = None,
        building: str | None = None,
        route: str | None = None,
        day: str | None = None,
    ) -> list[dict[str, Any]]:
        with self._reader() as db:
            return sqlite_patrols.list_rounds(
                db, site=site, building=building, route=route, day=day
            )


def migrate(db: sqlite3.Connection) -> None:
    """The tables and indexes of alarms, access events and patrol rounds (after the
    events table exists)."""
    sqlite_alarms.migrate(db)
    sqlite_patrols.migrate(db)
    sqlite_access.migrate(db)
