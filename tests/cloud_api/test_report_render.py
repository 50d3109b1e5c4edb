"""The report renderers on a small hand-made Document: the same figures in HTML, CSV and
PDF, anyone's text escaped (HTML) or kept from being a formula (CSV), and a Chinese text
in an English PDF still readable."""

from __future__ import annotations

import csv
import io
import re
import subprocess
from pathlib import Path

import pytest

from cloud_api.reports.document import Cell, Column, Document, Section, Table
from cloud_api.reports.errors import ReportInputError
from cloud_api.reports.periods import parse_month
from cloud_api.reports.render_csv import render_csv
from cloud_api.reports.render_html import render_html
from cloud_api.reports.render_pdf import render_pdf
from cloud_api.reports.service import file_stem, parse_operators


def document(lang: str = "en") -> Document:
    table = Table(
        [Column("Item"), Column("kWh", "kwh"), Column("Share", "share"), Column("When", "time")],
        [
            ['=HYPERLINK("http://x")', 1234.5678, 0.25, 1700000000.0],
            ["<script>alert(1)</script>", Cell(None, why="no meter"), None, None],
            ["灭火器过期 -5", -5.0, 1.0, None],
            ["Total", 1229.5678, 1.0, None],
        ],
        total_rows=1,
    )
    return Document(
        kind="test",
        lang=lang,
        title="A test report",
        subtitle="s1 / b1 / 2026-11",
        timezone="Asia/Shanghai",
        facts=[("Status", "whole month")],
        sections=[Section("Figures", table, notes=["+ a note that looks like a formula"])],
    )


def test_csv_keeps_numbers_plain_and_text_from_being_a_formula() -> None:
    body = render_csv(document())
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[:3] == [["A test report"], ["s1 / b1 / 2026-11"], ["Status", "whole month"]]
    assert rows[4:9] == [
        ["Figures"],
        ["Item", "kWh", "Share", "When"],
        ['\'=HYPERLINK("http://x")', "1234.568", "0.2500", "2023-11-15 06:13:20"],
        ["<script>alert(1)</script>", "", "", ""],
        ["灭火器过期 -5", "-5.000", "1.0000", ""],
    ]
    assert rows[10] == ["'+ a note that looks like a formula"]


def test_html_escapes_anyones_text_and_shows_a_dash_with_the_reason() -> None:
    html = render_html(document())
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<td class="none" title="no meter">—</td>' in html
    assert '<td class="num">1,234.6</td>' in html and '<td class="num">25.0%</td>' in html
    assert "2023-11-15 06:13" in html  # local time (UTC+8)
    assert '<tr class="total">' in html


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_pdf_has_the_same_figures_and_chinese_text_in_either_language(
    tmp_path: Path, lang: str
) -> None:
    path = tmp_path / "test.pdf"
    path.write_bytes(render_pdf(document(lang)))
    text = subprocess.run(
        ["/usr/bin/pdftotext", "-layout", str(path), "-"], capture_output=True, check=True
    ).stdout.decode("utf-8")
    for shown in ("1,234.6", "25.0%", "灭火器过期", "<script>alert(1)</script>", "1,229.6"):
        assert shown in text


def test_file_names_and_parameters() -> None:
    assert file_stem("energy", "tower a/東", "2026-11") == "energy-tower-a-2026-11"
    assert parse_month("2026-02").days == 28 and parse_month(" 2024-02 ").days == 29
    assert parse_operators(None) == 1 and parse_operators("3") == 3
    with pytest.raises(ReportInputError, match="operators: must be 1 to 100, got 0"):
        parse_operators("0")
    with pytest.raises(ReportInputError, match="month: required"):
        parse_month(None)
    with pytest.raises(
        ReportInputError, match=re.escape("month: 1999-12 is outside 2000-01 .. 2100-01")
    ):
        parse_month("1999-12")
