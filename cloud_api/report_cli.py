"""steward-api report: a monthly report written to files, straight from the store file.

    steward-api report energy --building B --month 2026-11 [--site S] --pdf out.pdf
    steward-api report patrol --building B --month 2026-11 --html out.html
    steward-api report alarms --building B --month 2026-11 [--operators N] --csv out.csv
    steward-api report hazards [--building B] [--from 2026-11-01] [--to 2026-12-01] --csv out.csv

Each takes --pdf, --csv and --html FILE (one or more), --lang zh|en (default zh), --db
(the store file) and --energy-config (else the settings'). --site may be left out when
the store holds one site. The figures are the API's (cloud_api/reports/service.py); the
store is only read. A bad month or an unknown building is named, with the known ones.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from cloud_api.settings import ApiSettings

KINDS = ("energy", "patrol", "alarms", "hazards")
FORMATS = ("pdf", "csv", "html")


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The `report` command and its four kinds, on steward-api's parser."""
    report = commands.add_parser("report", help="write a monthly report (PDF, CSV or HTML)")
    kinds = report.add_subparsers(dest="report_kind", required=True)
    for kind in KINDS:
        sub = kinds.add_parser(kind, help=f"the {kind} report")
        sub.add_argument("--site", help="default: the store's only site")
        if kind == "hazards":
            sub.add_argument("--building", help="default: every building of the site")
            sub.add_argument("--from", dest="first", help="local date YYYY-MM-DD, included")
            sub.add_argument("--to", dest="last", help="local date YYYY-MM-DD, excluded")
        else:
            sub.add_argument("--building", required=True)
            sub.add_argument("--month", required=True, help="local month YYYY-MM")
        if kind == "alarms":
            sub.add_argument("--operators", default="1", help="operators sharing the load")
        for fmt in FORMATS:
            sub.add_argument(f"--{fmt}", type=Path, metavar="FILE", help=f"write {fmt} here")
        sub.add_argument("--lang", default="zh", help="zh (default) or en")
        sub.add_argument(
            "--db", type=Path, dest="report_db", metavar="FILE", help="the SQLite store's file"
        )
        sub.add_argument(
            "--energy-config", type=Path, metavar="FILE", help="the energy configuration file"
        )


def _fail(message: str) -> int:
    print(f"steward-api report: {message}", file=sys.stderr)
    return 2


def run(settings: ApiSettings, args: argparse.Namespace) -> int:
    # Imported here: the other commands (serve above all) need neither reportlab nor these.
    from cloud_api.energy_config import load_energy_config
    from cloud_api.reports import service
    from cloud_api.reports.errors import ReportInputError, UnknownPlaceError
    from cloud_api.store.sqlite import SqliteStore
    from device_profiles.sourced_yaml import ConfigError

    outputs = [(fmt, getattr(args, fmt)) for fmt in FORMATS if getattr(args, fmt)]
    if not outputs:
        return _fail("say where to write it: --pdf FILE, --csv FILE and/or --html FILE")
    if not settings.db.is_file():
        return _fail(f"no store file at {settings.db} (give --db FILE)")
    try:
        config = load_energy_config(args.energy_config or settings.energy_config)
    except (ConfigError, OSError) as exc:
        return _fail(f"bad energy configuration:\n{exc}")
    store = SqliteStore(settings.db, settings.sqlite_synchronous)
    try:
        with store.reading() as db:
            doc, stem = _make(db, config, args, time.time())
        for fmt, path in outputs:
            body = service.render(doc, fmt)
            path.write_bytes(body)
            print(f"wrote {path} ({len(body):,} bytes; {stem}.{fmt})", file=sys.stderr)
    except (ReportInputError, UnknownPlaceError) as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot write the report: {exc}")
    finally:
        store.close()
    return 0


def _make(db, config, args: argparse.Namespace, now: float):
    from cloud_api.reports import service

    common = {"site": args.site, "lang": args.lang, "now": now}
    if args.report_kind == "energy":
        return service.energy_report(db, config, building=args.building, month=args.month, **common)
    if args.report_kind == "patrol":
        return service.patrol_report(db, config, building=args.building, month=args.month, **common)
    if args.report_kind == "alarms":
        return service.alarm_report(
            db, config, building=args.building, month=args.month, operators=args.operators, **common
        )
    return service.hazard_report(
        db, config, building=args.building, first=args.first, last=args.last, **common
    )
