"""A report as a PDF (reportlab): A4, the same sections, tables and figures as the HTML.

A text with Chinese (or anything else Helvetica cannot encode, like "≥") is set in Adobe's
STSong-Light CID font (UnicodeCIDFont: reportlab ships its metrics; the PDF reader supplies
the glyphs, nothing is downloaded or embedded); any other text, numbers above all, in
Helvetica, whose metrics every reader matches. Wide tables (more than ten columns) turn
the page landscape.
"""

from __future__ import annotations

import io
from functools import cache
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from cloud_api.reports.document import Document, Section, shown, unpack
from cloud_api.reports.document import Table as DocTable

CJK = "STSong-Light"
LATIN, LATIN_BOLD = "Helvetica", "Helvetica-Bold"
WIDE = 10  # columns beyond which the page turns landscape
MARGIN = 12 * mm


@cache
def _cjk_font() -> str:
    pdfmetrics.registerFont(UnicodeCIDFont(CJK))
    return CJK


def _latin_ok(text: str) -> bool:
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def font_for(text: str, bold: bool = False) -> str:
    """The font a text is set in (see the module doc)."""
    if not _latin_ok(text):
        return _cjk_font()
    return LATIN_BOLD if bold else LATIN


def _para(text: str, size: float, bold: bool = False, align: int = 0) -> Paragraph:
    font = font_for(text, bold)
    style = ParagraphStyle(
        name=f"{font}-{size}-{align}",
        fontName=font,
        fontSize=size,
        leading=size * 1.3,
        alignment=align,
        wordWrap="CJK" if font == CJK else None,
    )
    return Paragraph(escape(text), style)


def _ems(text: str) -> float:
    """A text's width in half-ems, roughly: a Chinese character is two Latin ones."""
    return float(sum(2 if ord(ch) >= 0x2E80 else 1 for ch in text))


def _widths(table: DocTable, texts: list[list[str]], width: float) -> list[float]:
    """Column widths in proportion to what they hold (long text capped), summing to width."""
    weights = []
    for i, column in enumerate(table.columns):
        longest = max([_ems(column.label) / 2, *(_ems(row[i]) for row in texts)])
        weights.append(min(max(longest, 4.0), 36.0))
    total = sum(weights)
    return [width * w / total for w in weights]


def _table(doc: Document, table: DocTable, width: float) -> Table:
    texts = []
    for row in table.rows:
        line = []
        for column, entry in zip(table.columns, row, strict=True):
            value, kind, _ = unpack(entry, column.kind)
            line.append(shown(doc, value, kind))
        texts.append(line)
    first_total = len(table.rows) - table.total_rows
    data = [[_para(c.label, 7.5, bold=True) for c in table.columns]]
    for r, line in enumerate(texts):
        cells = []
        for column, entry, text in zip(table.columns, table.rows[r], line, strict=True):
            kind = unpack(entry, column.kind)[1]
            numeric = kind not in ("text", "time", "date", "colour")
            cells.append(_para(text, 7.5, bold=r >= first_total, align=2 * numeric))
        data.append(cells)
    style = [
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 2),
        ("RIGHTPADDING", (0, 0), (-1, -1), 2),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]
    if table.total_rows:
        style.append(("BACKGROUND", (0, first_total + 1), (-1, -1), colors.HexColor("#f4f4f4")))
    return Table(
        data, colWidths=_widths(table, texts, width), repeatRows=1, style=TableStyle(style)
    )


def _section(doc: Document, section: Section, width: float) -> list:
    flow: list = [
        Spacer(1, 3 * mm),
        _para(section.title, 11, bold=True),
        Spacer(1, 1.5 * mm),
    ]
    if section.table is not None and section.table.rows:
        flow.append(_table(doc, section.table, width))
    elif section.empty:
        flow.append(_para(section.empty, 8.5))
    for note in section.notes:
        flow.append(_para(f"- {note}", 7.5))
    return flow


def render_pdf(doc: Document) -> bytes:
    wide = any(s.table is not None and len(s.table.columns) > WIDE for s in doc.sections)
    page = landscape(A4) if wide else A4
    width = page[0] - 2 * MARGIN
    buffer = io.BytesIO()
    footer = f"{doc.title}  {doc.subtitle}"

    def number_pages(canvas, template) -> None:
        canvas.saveState()
        canvas.setFont(font_for(footer), 7)
        canvas.drawString(MARGIN, 7 * mm, footer)
        canvas.drawRightString(page[0] - MARGIN, 7 * mm, str(template.page))
        canvas.restoreState()

    template = SimpleDocTemplate(
        buffer,
        pagesize=page,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN + 3 * mm,
        title=f"{doc.title} {doc.subtitle}",
        author="Steward",
    )
    flow: list = [
        _para(doc.title, 16, bold=True),
        Spacer(1, 2 * mm),
        _para(doc.subtitle, 11),
        Spacer(1, 2 * mm),
    ]
    for label, value in doc.facts:
        flow.append(_para(f"{label}: {value}", 8.5))
    for section in doc.sections:
        flow.extend(_section(doc, section, width))
    template.build(flow, onFirstPage=number_pages, onLaterPages=number_pages)
    return buffer.getvalue()
