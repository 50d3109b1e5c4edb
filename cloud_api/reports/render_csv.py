"""A report as CSV: UTF-8 with a byte-order mark (so spreadsheet programs read Chinese
right), numbers without digit grouping, shares as fractions, times local with seconds,
an empty cell where there is no figure.

Layout: the title, the subtitle and the facts (label, value) first; then each section:
a row with its title, the table's header and rows, its notes one per row, and a blank
row. A document with `csv_table` (the hazard ledger) is that table alone, header first.
"""

from __future__ import annotations

import csv
import io

from cloud_api.reports.document import Document, Table, plain, unpack

BOM = "\ufeff"


def _rows(doc: Document, table: Table) -> list[list[str]]:
    out = [[c.label for c in table.columns]]
    for row in table.rows:
        cells = []
        for column, entry in zip(table.columns, row, strict=True):
            value, kind, _ = unpack(entry, column.kind)
            cells.append(plain(doc, value, kind))
        out.append(cells)
    return out


def render_csv(doc: Document) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if doc.csv_table is not None:
        writer.writerows(_rows(doc, doc.csv_table))
    else:
        writer.writerow([doc.title])
        writer.writerow([doc.subtitle])
        writer.writerows([list(fact) for fact in doc.facts])
        for section in doc.sections:
            writer.writerow([])
            writer.writerow([section.title])
            if section.table is not None and section.table.rows:
                writer.writerows(_rows(doc, section.table))
            elif section.empty:
                writer.writerow([section.empty])
            for note in section.notes:
                writer.writerow([note])
    return (BOM + buffer.getvalue()).encode("utf-8")
