"""A report as CSV: UTF-8 with a byte-order mark (so spreadsheet programs read Chinese
right), numbers without digit grouping, shares as fractions, times local with seconds,
an empty cell where there is no figure. A text that a spreadsheet would take for a formula
(starting with =, +, -, @, a tab or a carriage return: a hazard's description is anyone's
text) is written with a leading apostrophe, which spreadsheets show as text.

Layout: the title, the subtitle and the facts (label, value) first; then each section:
a row with its title, the table's header and rows, its notes one per row, and a blank
row. A document with `csv_table` (the hazard ledger) is that table alone, header first.
"""

from __future__ import annotations

import csv
import io

from cloud_api.reports.document import Document, Table, plain, unpack

BOM = "\ufeff"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def _rows(doc: Document, table: Table) -> list[list[str]]:
    out = [[_safe(c.label) for c in table.columns]]
    for row in table.rows:
        cells = []
        for column, entry in zip(table.columns, row, strict=True):
            value, kind, _ = unpack(entry, column.kind)
            text = plain(doc, value, kind)
            cells.append(_safe(text) if isinstance(value, str) else text)
        out.append(cells)
    return out


def render_csv(doc: Document) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if doc.csv_table is not None:
        writer.writerows(_rows(doc, doc.csv_table))
    else:
        writer.writerow([_safe(doc.title)])
        writer.writerow([_safe(doc.subtitle)])
        writer.writerows([[_safe(k), _safe(v)] for k, v in doc.facts])
        for section in doc.sections:
            writer.writerow([])
            writer.writerow([_safe(section.title)])
            if section.table is not None and section.table.rows:
                writer.writerows(_rows(doc, section.table))
            elif section.empty:
                writer.writerow([_safe(section.empty)])
            for note in section.notes:
                writer.writerow([_safe(note)])
    return (BOM + buffer.getvalue()).encode("utf-8")
