"""`steward-api report ...` (issue 10, Build 5): the command writes the report from the
store file, and names what is wrong when it cannot.

The store: site s1 (Asia/Shanghai), building tower-a, its main meter at 10 kW from
2026-11-01 00:00 to 11-03 00:00 local: 2 x 24 x 10 = 480 kWh in November 2026 (the
command runs on the real clock, past that month). Sent through POST /v1/ingest.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from api_testkit import in_process_api, register_edge
from energy_apikit import Sender, counter_readings, local_epoch, write_config

REPO = Path(__file__).resolve().parents[2]
CONFIG = """
sites:
  s1:
    buildings:
      tower-a: {area_m2: 1000}
factors:
  coal: [{version: gb2589-2020-equivalent}]
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory: Path = tmp_path_factory.mktemp("report-cli")
    config = write_config(directory, CONFIG)
    with in_process_api(directory, now=local_epoch(date(2026, 12, 3)), energy_config=config) as api:
        send = Sender(api, register_edge(api.db, "edge-s1", "s1"))
        readings = counter_readings(local_epoch(date(2026, 11, 1)), [10.0] * 96 * 2)
        send.counter("tower-a", "main", readings, {"system": "main"})
        send.counter("tower-b", "b-main", readings, {"system": "main"})
    return api.db, config


def cli(
    store: tuple[Path, Path], *args: str, db: Path | None = None
) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "cloud_api.cli", "report", *args, "--db", str(db or store[0]),
         "--energy-config", str(store[1])],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=120,
    )  # fmt: skip


def test_the_cli_writes_the_pdf_and_csv(store, tmp_path: Path) -> None:
    pdf, table = tmp_path / "out.pdf", tmp_path / "out.csv"
    done = cli(store, "energy", "--building", "tower-a", "--month", "2026-11", "--pdf", str(pdf),
               "--csv", str(table), "--lang", "en")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"wrote {pdf}" in done.stderr and "energy-tower-a-2026-11.pdf" in done.stderr
    subprocess.run(
        ["/usr/bin/pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(pdf),
         str(tmp_path / "page")], check=True, capture_output=True,
    )  # fmt: skip
    assert (tmp_path / "page-1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = subprocess.run(
        ["/usr/bin/pdftotext", str(pdf), "-"], capture_output=True, check=True
    ).stdout.decode()
    assert "480.0" in text and "Monthly energy report" in text
    rows = list(csv.reader(io.StringIO(table.read_bytes().decode("utf-8-sig"))))
    assert ["Total electricity", "480.000", "kWh"] in rows
    assert ["Electricity per m2", "0.4800", "kWh/m2"] in rows


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--building", "tower-z", "--month", "2026-11"],
         "building: unknown building 'tower-z' in site s1; known buildings: tower-a, tower-b"),
        (["--building", "tower-a", "--month", "2026-13"], "month: month 13 of '2026-13'"),
        (["--building", "tower-a", "--month", "2026-11", "--site", "s2"],
         "site: unknown site 's2'; known sites: s1"),
    ],
)  # fmt: skip
def test_the_cli_names_what_is_wrong(store, tmp_path: Path, args: list[str], words: str) -> None:
    out = tmp_path / "out.pdf"
    done = cli(store, "energy", *args, "--pdf", str(out))
    assert done.returncode == 2
    assert words in done.stderr, done.stderr
    assert not out.exists()


def test_the_cli_needs_an_output_and_a_store(store, tmp_path: Path) -> None:
    done = cli(store, "energy", "--building", "tower-a", "--month", "2026-11")
    assert done.returncode == 2 and "--pdf FILE, --csv FILE and/or --html FILE" in done.stderr
    missing = tmp_path / "nothing.sqlite"
    done = cli(store, "patrol", "--building", "b", "--month", "2026-11", "--html",
               str(tmp_path / "x.html"), db=missing)  # fmt: skip
    assert done.returncode == 2 and f"no store file at {missing}" in done.stderr
    assert not missing.exists()
