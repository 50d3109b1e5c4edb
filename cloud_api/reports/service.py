"""One report, from the parameters a person gives to the bytes of a file: the API
(routers/reports.py) and the command line (report_cli.py) both call these, so the same
store gives the same report either way.

Parameters arrive as text and are checked here: a bad month, language, format or number
of operators is a ReportInputError naming it; a site or building the store does not know
is an UnknownPlaceError naming the known ones.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

from cloud_api.energy.budgets import FitCache
from cloud_api.reports.alarm_month import alarm_month
from cloud_api.reports.document import Document
from cloud_api.reports.energy_month import energy_month
from cloud_api.reports.errors import ReportInputError
from cloud_api.reports.hazard_ledger import hazard_ledger
from cloud_api.reports.layout_energy import energy_document
from cloud_api.reports.layout_security import alarm_document, hazard_document, patrol_document
from cloud_api.reports.patrol_month import patrol_month
from cloud_api.reports.periods import Month, parse_day, parse_month
from cloud_api.reports.places import check_building, resolve_site
from cloud_api.reports.render_csv import render_csv
from cloud_api.reports.render_html import render_html
from cloud_api.reports.render_pdf import render_pdf
from cloud_api.reports.text import LANGS

FORMATS = ("html", "csv", "pdf")
MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "pdf": "application/pdf",
}
MAX_OPERATORS = 100
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Rendered:
    body: bytes
    media_type: str
    filename: str


def check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise ReportInputError("lang", f"expected one of {', '.join(LANGS)}, got {lang!r}")
    return lang


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ReportInputError("format", f"expected one of {', '.join(FORMATS)}, got {fmt!r}")
    return fmt


def file_stem(*parts: str) -> str:
    """e.g. energy-tower-a-2026-11: the parts joined by '-', anything but letters, digits,
    '.', '_' and '-' replaced (a file name in a Content-Disposition header or on disk)."""
    return "-".join(_UNSAFE.sub("-", p).strip("-") for p in parts if p)


def render(doc: Document, fmt: str) -> bytes:
    check_format(fmt)
    if fmt == "html":
        return render_html(doc).encode("utf-8")
    if fmt == "csv":
        return render_csv(doc)
    return render_pdf(doc)


def _monthly(
    db: sqlite3.Connection, config, site: str | None, building: str, month: str | None, lang: str
) -> tuple[str, Month]:
    """A monthly report's checked request: the site (resolved when left out) and month;
    a bad language, month, site or building raises with the field named."""
    check_lang(lang)
    m = parse_month(month)
    site = resolve_site(db, config, site)
    check_building(db, config, site, building)
    return site, m


def energy_report(
    db: sqlite3.Connection,
    config,
    site: str | None,
    building: str,
    month: str | None,
    lang: str,
    now: float,
    fits: FitCache | None = None,
) -> tuple[Document, str]:
    """The monthly energy report's document and its file name stem."""
    site, m = _monthly(db, config, site, building, month, lang)
    figures = energy_month(db, config, site, building, m, now, fits)
    return energy_document(figures, lang), file_stem("energy", building, m.label)


def patrol_report(
    db: sqlite3.Connection,
    config,
    site: str | None,
    building: str,
    month: str | None,
    lang: str,
    now: float,
) -> tuple[Document, str]:
    site, m = _monthly(db, config, site, building, month, lang)
    figures = patrol_month(db, config, site, building, m, now)
    doc = patrol_document(figures, lang, config.calendar(site).tz)
    return doc, file_stem("patrol", building, m.label)


def parse_operators(text: str | int | None) -> int:
    if text is None:
        return 1
    try:
        operators = int(text)
    except (TypeError, ValueError):
        raise ReportInputError(
            "operators", f"expected a whole number of operators, got {text!r}"
        ) from None
    if not 1 <= operators <= MAX_OPERATORS:
        raise ReportInputError("operators", f"must be 1 to {MAX_OPERATORS}, got {operators}")
    return operators


def alarm_report(
    db: sqlite3.Connection,
    config,
    site: str | None,
    building: str,
    month: str | None,
    lang: str,
    now: float,
    operators: str | int | None = None,
) -> tuple[Document, str]:
    count = parse_operators(operators)
    site, m = _monthly(db, config, site, building, month, lang)
    figures = alarm_month(db, config, site, building, m, now, count)
    return alarm_document(figures, lang), file_stem("alarms", building, m.label)


def hazard_report(
    db: sqlite3.Connection,
    config,
    site: str | None,
    building: str | None,
    first: str | None,
    last: str | None,
    lang: str,
    now: float,
) -> tuple[Document, str]:
    check_lang(lang)
    first_day, last_day = parse_day(first, "from"), parse_day(last, "to")
    site = resolve_site(db, config, site)
    if building is not None:
        check_building(db, config, site, building)
    figures = hazard_ledger(db, config, site, building, first_day, last_day, now)
    span = [d.isoformat() for d in (first_day, last_day) if d is not None]
    stem = file_stem("hazards", building or site, *span)
    return hazard_document(figures, lang), stem
