"""Monthly reports: energy, patrol compliance, the ISA-18.2 alarm load, the hazard ledger.

Each report is computed as plain figures from the store (energy_month, patrol_month,
alarm_month over the pure alarm_load, hazard_ledger), laid out as a Document (document.py,
layout_*.py; labels in zh or en from text.py) and rendered as printable HTML, CSV or PDF
(render_*.py). service.py ties these together for the API (routers/reports.py) and the
command line (report_cli.py), so both produce the same bytes from the same store.
"""
