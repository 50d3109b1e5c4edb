"""Many rows into SQLite in few statements: the writer's hot path."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class BulkInsert:
    """An INSERT of many rows given as one flat list of values.

    Binding values dominates writing a batch; with 100 rows per statement SQLite steps
    (and Python releases and retakes its GIL) once per 100 rows instead of once per row,
    which makes inserting a batch ~40% faster than executemany.
    """

    head: str  # INSERT INTO table(columns)
    width: int  # values per row
    tail: str = ""  # e.g. an ON CONFLICT clause
    rows_per_statement: int = 100
    row: str = ""  # one row's VALUES, e.g. "(?,?,NULL)"; default: `width` placeholders

    def run(self, db: sqlite3.Connection, flat: list) -> None:
        row = self.row or "(" + ",".join("?" * self.width) + ")"
        chunk = self.width * self.rows_per_statement
        whole = len(flat) - len(flat) % chunk
        if whole:
            many = f"{self.head} VALUES {','.join([row] * self.rows_per_statement)} {self.tail}"
            for i in range(0, whole, chunk):
                db.execute(many, flat[i : i + chunk])
        if whole < len(flat):
            rest = flat[whole:]
            db.executemany(
                f"{self.head} VALUES {row} {self.tail}",
                [rest[i : i + self.width] for i in range(0, len(rest), self.width)],
            )
