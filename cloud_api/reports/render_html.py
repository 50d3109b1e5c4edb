"""A report as one printable HTML page: A4, self-contained (inline CSS, no script, no
font or image fetched), Chinese by default. Every text is escaped."""

from __future__ import annotations

from html import escape

from cloud_api.reports.document import DASH, Document, Section, Table, shown, unpack

_CSS = """
@page { size: A4; margin: 14mm 12mm; }
* { box-sizing: border-box; }
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei",
       "Microsoft YaHei", "PingFang SC", "Helvetica Neue", Arial, sans-serif;
       font-size: 10pt; color: #111; margin: 0 auto; max-width: 190mm; line-height: 1.4; }
h1 { font-size: 16pt; margin: 0 0 2mm; }
.subtitle { font-size: 11pt; margin: 0 0 3mm; color: #333; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.5mm 4mm;
           margin: 0 0 4mm; font-size: 9pt; color: #333; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
h2 { font-size: 12pt; margin: 5mm 0 1.5mm; border-bottom: 0.3mm solid #888;
     break-after: avoid; page-break-after: avoid; }
table { border-collapse: collapse; width: 100%; font-size: 8.5pt; margin: 0 0 1.5mm; }
thead { display: table-header-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
th, td { border: 0.2mm solid #999; padding: 0.8mm 1.5mm; vertical-align: top; }
th { background: #eee; text-align: left; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.total td { font-weight: 700; background: #f6f6f6; }
td.none { color: #777; text-align: center; }
.colour-green { background: #d9f2d9; }
.colour-yellow { background: #fff3c4; }
.colour-red { background: #f9d0d0; }
p.empty { margin: 1mm 0; color: #444; }
ul.notes { margin: 1mm 0 0; padding-left: 5mm; font-size: 8.5pt; color: #444; }
@media screen { body { padding: 10mm; } }
"""


def _table(doc: Document, table: Table) -> str:
    head = "".join(f"<th>{escape(c.label)}</th>" for c in table.columns)
    body = []
    first_total = len(table.rows) - table.total_rows
    for i, row in enumerate(table.rows):
        cells = []
        for column, entry in zip(table.columns, row, strict=True):
            value, kind, why = unpack(entry, column.kind)
            text = shown(doc, value, kind)
            classes = []
            if value is None:
                classes.append("none")
            elif kind == "colour":
                classes.append(f"colour-{escape(str(value))}")
            elif kind not in ("text", "time", "date"):
                classes.append("num")
            title = f' title="{escape(why)}"' if why and text == DASH else ""
            attr = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(f"<td{attr}{title}>{escape(text)}</td>")
        total = ' class="total"' if i >= first_total else ""
        body.append(f"<tr{total}>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _section(doc: Document, section: Section) -> str:
    parts = [f"<section><h2>{escape(section.title)}</h2>"]
    if section.table is not None and section.table.rows:
        parts.append(_table(doc, section.table))
    elif section.empty:
        parts.append(f'<p class="empty">{escape(section.empty)}</p>')
    if section.notes:
        items = "".join(f"<li>{escape(n)}</li>" for n in section.notes)
        parts.append(f'<ul class="notes">{items}</ul>')
    parts.append("</section>")
    return "".join(parts)


def render_html(doc: Document) -> str:
    lang = "zh-CN" if doc.lang == "zh" else "en"
    facts = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in doc.facts)
    sections = "\n".join(_section(doc, s) for s in doc.sections)
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(doc.title)} {escape(doc.subtitle)}</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<h1>{escape(doc.title)}</h1>\n"
        f'<p class="subtitle">{escape(doc.subtitle)}</p>\n'
        f'<dl class="facts">{facts}</dl>\n{sections}\n</body>\n</html>\n'
    )
