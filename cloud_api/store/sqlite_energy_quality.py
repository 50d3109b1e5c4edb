"""Quality events of the counter ledgers, their repair log and declared meter replacements.

- energy_quality: one row for every amount a ledger held out (edge/energy/ledger.py marks
  IMPLAUSIBLE and GAP_HELD), written by the EnergyBook (sqlite_energy.py) in the ingest
  transaction: the energy `held` over [since, ts] of a series. Its state is open until a
  person repairs it (repaired), or superseded when a rebuild of the series' energy (a
  meter replacement declared after the fact) no longer holds that amount out.
- energy_repairs: every repair, never changed nor deleted (who, when, what it booked, why).
  An event is repaired once; a second repair is refused, naming the first.
- energy_replacements: meter replacements declared by a person (the audit trail: who,
  when, why), fed to the ledger by sqlite_energy_repairs.py.

Applying repairs and replacements (they change the `energy` table and ledger states) is
sqlite_energy_repairs.py's; this module only reads and writes these three tables.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from edge.energy import REPAIRABLE, Flag, Mark, Replacement, flag_names

QUALITY_SCHEMA = """
CREATE TABLE IF NOT EXISTS energy_quality(
    id INTEGER PRIMARY KEY,
    series_id INTEGER NOT NULL,
    since REAL NOT NULL,  -- the held amount was used over [since, ts]
    ts REAL NOT NULL,
    kind TEXT NOT NULL,  -- implausible | gap_held (edge.energy.Flag, lower case)
    held REAL NOT NULL,  -- in the series' unit
    state TEXT NOT NULL DEFAULT 'open',  -- open | repaired | superseded
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS energy_quality_by_series ON energy_quality(series_id, ts);
CREATE INDEX IF NOT EXISTS energy_quality_by_state ON energy_quality(state, id);
CREATE TABLE IF NOT EXISTS energy_repairs(
    id INTEGER PRIMARY KEY,
    quality_id INTEGER NOT NULL,
    action TEXT NOT NULL,  -- accept | split | estimate (edge/energy/repairs.py)
    amount REAL NOT NULL,  -- what the repair booked, in the series' unit
    by_user TEXT NOT NULL,
    at REAL NOT NULL,
    note TEXT
);
CREATE INDEX IF NOT EXISTS energy_repairs_by_quality ON energy_repairs(quality_id, id);
CREATE TABLE IF NOT EXISTS energy_replacements(
    id INTEGER PRIMARY KEY,
    series_id INTEGER NOT NULL,
    ts REAL NOT NULL,
    old_final REAL NOT NULL,
    new_initial REAL NOT NULL,
    rebuilt INTEGER NOT NULL,  -- 1: the series' energy was rebuilt from its readings
    by_user TEXT NOT NULL,
    at REAL NOT NULL,
    note TEXT,
    UNIQUE(series_id, ts)
);
"""

OPEN, REPAIRED, SUPERSEDED = "open", "repaired", "superseded"
STATES = (OPEN, REPAIRED, SUPERSEDED)
_EVENT_COLUMNS = (
    "q.id, q.series_id, s.site, s.building, s.device, s.point, s.unit, q.since, q.ts, q.kind,"
    " q.held, q.state, q.created_at"
)
_EVENT_FROM = "energy_quality q JOIN series s ON s.id = q.series_id"


@dataclass(frozen=True)
class RepairRow:
    id: int
    quality_id: int
    action: str
    amount: float
    by: str
    at: float
    note: str | None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class QualityEvent:
    id: int
    series_id: int
    site: str
    building: str
    device: str
    point: str
    unit: str
    since: float
    ts: float
    kind: str
    held: float
    state: str
    created_at: float

    def mark(self) -> Mark:
        """The ledger's mark this event stands for (what edge.energy.repair takes)."""
        return Mark(self.ts, Flag[self.kind.upper()], self.held, self.since)

    def to_dict(self, repairs: list[RepairRow]) -> dict:
        return {
            "id": self.id,
            "series": {
                "id": self.series_id,
                "site": self.site,
                "building": self.building,
                "device": self.device,
                "point": self.point,
                "unit": self.unit,
            },
            "kind": self.kind,
            "since": self.since,
            "ts": self.ts,
            "held": self.held,
            "state": self.state,
            "created_at": self.created_at,
            "repairs": [r.to_dict() for r in repairs],
        }


@dataclass(frozen=True)
class ReplacementRow:
    id: int
    series_id: int
    ts: float
    old_final: float
    new_initial: float
    rebuilt: bool
    by: str
    at: float
    note: str | None

    def replacement(self) -> Replacement:
        return Replacement(self.ts, self.old_final, self.new_initial)

    def to_dict(self) -> dict:
        return asdict(self)


def held_marks(marks: Iterable[Mark]) -> list[Mark]:
    """The marks that hold energy out: each is a quality event."""
    return [m for m in marks if m.flag & REPAIRABLE]


def note_marks(
    db: sqlite3.Connection, series_id: int, marks: Iterable[Mark], now: float | None = None
) -> None:
    """A quality event for each of the ledger's marks that holds energy out (created_at:
    `now`, by default the wall clock, like ingest's received_at)."""
    held = held_marks(marks)
    if not held:
        return
    at = time.time() if now is None else now
    db.executemany(
        "INSERT INTO energy_quality(series_id, since, ts, kind, held, state, created_at)"
        " VALUES(?,?,?,?,?,?,?)",
        [(series_id, m.since, m.ts, flag_names(m.flag)[0], m.held, OPEN, at) for m in held],
    )


def list_events(
    db: sqlite3.Connection,
    site: str | None = None,
    building: str | None = None,
    state: str | None = None,
    series_id: int | None = None,
    after_id: int = 0,
    limit: int = 1000,
) -> list[QualityEvent]:
    rows = db.execute(
        f"SELECT {_EVENT_COLUMNS} FROM {_EVENT_FROM}"
        " WHERE (?1 IS NULL OR s.site=?1) AND (?2 IS NULL OR s.building=?2)"
        " AND (?3 IS NULL OR q.state=?3) AND (?4 IS NULL OR q.series_id=?4) AND q.id > ?5"
        " ORDER BY q.id LIMIT ?6",
        (site, building, state, series_id, after_id, limit),
    ).fetchall()
    return [QualityEvent(*row) for row in rows]


def get_event(db: sqlite3.Connection, quality_id: int) -> QualityEvent | None:
    row = db.execute(
        f"SELECT {_EVENT_COLUMNS} FROM {_EVENT_FROM} WHERE q.id=?", (quality_id,)
    ).fetchone()
    return None if row is None else QualityEvent(*row)


def repairs_of(db: sqlite3.Connection, quality_ids: Iterable[int]) -> dict[int, list[RepairRow]]:
    """Each event's repairs, oldest first (events without any are left out)."""
    ids = list(quality_ids)
    out: dict[int, list[RepairRow]] = {}
    for lo in range(0, len(ids), 500):
        chunk = ids[lo : lo + 500]
        rows = db.execute(
            "SELECT id, quality_id, action, amount, by_user, at, note FROM energy_repairs"
            f" WHERE quality_id IN ({','.join('?' * len(chunk))}) ORDER BY id",
            chunk,
        )
        for row in rows:
            out.setdefault(row[1], []).append(RepairRow(*row))
    return out


def log_repair(
    db: sqlite3.Connection,
    quality_id: int,
    action: str,
    amount: float,
    by: str,
    at: float,
    note: str | None,
) -> RepairRow:
    (repair_id,) = db.execute(
        "INSERT INTO energy_repairs(quality_id, action, amount, by_user, at, note)"
        " VALUES(?,?,?,?,?,?) RETURNING id",
        (quality_id, action, amount, by, at, note),
    ).fetchone()
    db.execute("UPDATE energy_quality SET state=? WHERE id=?", (REPAIRED, quality_id))
    return RepairRow(repair_id, quality_id, action, amount, by, at, note)


def replacements_of(db: sqlite3.Connection, series_id: int) -> list[ReplacementRow]:
    rows = db.execute(
        "SELECT id, series_id, ts, old_final, new_initial, rebuilt, by_user, at, note"
        " FROM energy_replacements WHERE series_id=? ORDER BY ts",
        (series_id,),
    ).fetchall()
    return [ReplacementRow(*row[:5], bool(row[5]), *row[6:]) for row in rows]


def add_replacement(
    db: sqlite3.Connection,
    series_id: int,
    replacement: Replacement,
    rebuilt: bool,
    by: str,
    at: float,
    note: str | None,
) -> ReplacementRow:
    r = replacement
    (row_id,) = db.execute(
        "INSERT INTO energy_replacements(series_id, ts, old_final, new_initial, rebuilt,"
        " by_user, at, note) VALUES(?,?,?,?,?,?,?,?) RETURNING id",
        (series_id, r.ts, r.old_final, r.new_initial, int(rebuilt), by, at, note),
    ).fetchone()
    return ReplacementRow(
        row_id, series_id, r.ts, r.old_final, r.new_initial, rebuilt, by, at, note
    )
