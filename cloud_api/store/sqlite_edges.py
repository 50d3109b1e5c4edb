"""The registered edges (name, site, buildings, hashed token) and their delivery cursors,
for SqliteStore: registering, revoking, listing, and an operator resetting a cursor."""

from __future__ import annotations

import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager

import orjson

from cloud_api.store.base import (
    CursorInfo,
    EdgeCredential,
    EdgeExistsError,
    EdgeIdentity,
    EdgeInfo,
    LaneState,
)


class EdgeRegistry:
    """Mixin over SqliteStore's connections (_reader, _transaction)."""

    _reader: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _transaction: Callable[[], AbstractContextManager[sqlite3.Connection]]

    def add_edge(self, identity: EdgeIdentity, token_hash: str) -> None:
        buildings = identity.buildings
        try:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO edges(name, site, building, token_hash, created_at)"
                    " VALUES(?,?,?,?,?)",
                    (
                        identity.name,
                        identity.site,
                        None if buildings is None else ",".join(buildings),
                        token_hash,
                        time.time(),
                    ),
                )
        except sqlite3.IntegrityError as e:
            raise EdgeExistsError(f"an edge named {identity.name!r} already exists") from e

    def revoke_edge(self, name: str) -> bool:
        with self._transaction() as db:
            changed = db.execute("UPDATE edges SET revoked=1 WHERE name=?", (name,)).rowcount
        return changed > 0

    def credential(self, token_hash: str) -> EdgeCredential | None:
        with self._reader() as db:
            row = db.execute(
                "SELECT name, site, building, revoked FROM edges WHERE token_hash=?",
                (token_hash,),
            ).fetchone()
        if row is None:
            return None
        name, site, building, revoked = row
        return EdgeCredential(identity_of(name, site, building), bool(revoked))

    def list_edges(self) -> list[EdgeInfo]:
        with self._reader() as db:
            edges = db.execute(
                "SELECT name, site, building, revoked, created_at, last_seen, backlog"
                " FROM edges ORDER BY name"
            ).fetchall()
            cursors = self._cursor_rows(db, None)
        lanes: defaultdict[str, dict[str, LaneState]] = defaultdict(dict)
        for c in cursors:  # oldest update first: the latest stream of a lane wins
            before = lanes[c.edge].get(c.lane)
            lanes[c.edge][c.lane] = LaneState(
                c.acked,
                c.dropped_at_edge + (before.dropped_at_edge if before else 0),
                c.duplicates + (before.duplicates if before else 0),
                c.outbox,
                c.generation,
                c.first_seq,
            )
        out = []
        for name, site, building, revoked, created_at, last_seen, backlog in edges:
            identity = identity_of(name, site, building)
            out.append(
                EdgeInfo(
                    name=name,
                    site=site,
                    building=identity.building,
                    revoked=bool(revoked),
                    created_at=created_at,
                    last_seen=last_seen,
                    backlog=orjson.loads(backlog),
                    lanes=lanes.get(name, {}),
                    buildings=identity.buildings,
                )
            )
        return out

    def cursors(self, edge: str | None = None) -> list[CursorInfo]:
        """Every cursor (of one edge), oldest update first."""
        with self._reader() as db:
            return self._cursor_rows(db, edge)

    @staticmethod
    def _cursor_rows(db: sqlite3.Connection, edge: str | None) -> list[CursorInfo]:
        sql = (
            "SELECT edge, lane, outbox, generation, first_seq, acked, dropped_at_edge,"
            " duplicates, updated_at FROM cursors"
        )
        params: tuple = ()
        if edge is not None:
            sql += " WHERE edge=?"
            params = (edge,)
        rows = db.execute(sql + " ORDER BY updated_at, edge, lane", params).fetchall()
        return [CursorInfo(*row) for row in rows]

    def reset_cursor(self, edge: str, lane: str, outbox: str, generation: str, acked: int) -> int:
        """Set one cursor's acked seq (an operator undoing a poisoned lane); returns what it
        was. KeyError when there is no such cursor; ValueError for an acked below the
        stream's first seq - 1."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT first_seq, acked FROM cursors"
                " WHERE edge=? AND outbox=? AND generation=? AND lane=?",
                (edge, outbox, generation, lane),
            ).fetchone()
            if row is None:
                raise KeyError(
                    f"edge {edge!r} has no cursor for lane {lane!r} of outbox {outbox!r}"
                    f" generation {generation!r}"
                )
            first_seq, before = row
            if acked < first_seq - 1:
                raise ValueError(f"acked {acked} is below this stream's first seq {first_seq} - 1")
            db.execute(
                "UPDATE cursors SET acked=?, updated_at=? WHERE edge=? AND outbox=?"
                " AND generation=? AND lane=?",
                (acked, time.time(), edge, outbox, generation, lane),
            )
        return before


def identity_of(name: str, site: str, building: str | None) -> EdgeIdentity:
    if building is None:
        return EdgeIdentity(name, site)
    first, *more = building.split(",")
    return EdgeIdentity(name, site, first, tuple(more))


def set_aside_per_lane_cursors(db: sqlite3.Connection) -> None:
    """Rename a cursors table from before streams (one per edge and lane) aside."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(cursors)")}
    if columns and "outbox" not in columns:
        db.execute("ALTER TABLE cursors RENAME TO cursors_per_lane")


def adopt_per_lane_cursors(db: sqlite3.Connection) -> None:
    """Each old per-lane cursor becomes its edge's default stream for that lane."""
    found = "SELECT 1 FROM sqlite_master WHERE type='table' AND name='cursors_per_lane'"
    if db.execute(found).fetchone() is None:
        return
    db.execute("BEGIN IMMEDIATE")
    db.execute(
        "INSERT INTO cursors(edge, outbox, generation, lane, first_seq, acked, dropped_at_edge,"
        " duplicates) SELECT edge, '', '', lane, 1, acked, dropped_at_edge, duplicates"
        " FROM cursors_per_lane"
    )
    db.execute("DROP TABLE cursors_per_lane")
    db.execute("COMMIT")
