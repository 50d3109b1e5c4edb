"""The patrol, alarm and hazard reports' figures laid out as Documents."""

from __future__ import annotations

from datetime import timedelta

from cloud_api.reports.alarm_month import AlarmMonth
from cloud_api.reports.document import Cell, Column, Document, Section, Table
from cloud_api.reports.hazard_ledger import HazardLedger
from cloud_api.reports.layout_energy import colour_names, header
from cloud_api.reports.patrol_month import PatrolMonth, Tally
from cloud_api.reports.text import has, translator

# ------------------------------------------------------------------------------ patrol


def _tally_columns(t) -> list[Column]:
    return [
        Column(t("rounds"), "int"),
        Column(t("complete_rounds"), "int"),
        Column(t("checkpoints"), "int"),
        Column(t("on_time"), "int"),
        Column(t("late"), "int"),
        Column(t("early"), "int"),
        Column(t("missed"), "int"),
        Column(t("pending"), "int"),
        Column(t("out_of_order"), "int"),
        Column(t("compliance"), "share"),
    ]


def _tally_cells(x: Tally) -> list:
    return [
        x.rounds,
        x.complete_rounds,
        x.checkpoints,
        x.on_time,
        x.late,
        x.early,
        x.missed,
        x.pending,
        x.out_of_order,
        x.compliance,
    ]


def patrol_document(p: PatrolMonth, lang: str, timezone: str) -> Document:
    t = translator(lang)
    doc = Document(
        kind="patrol",
        lang=lang,
        title=t("patrol_title"),
        subtitle=f"{p.site} / {p.building} / {p.month}",
        timezone=timezone,
    )
    doc.facts.append((t("timezone"), timezone))
    doc.facts.append((t("generated"), doc.local_time(p.generated_at)))
    routes = Section(t("by_route"), notes=[t("compliance_note")])
    days = Section(t("by_route_day"))
    if p.total is None:
        routes.empty = days.empty = t("no_rounds")
    else:
        routes.table = Table([Column(t("route")), *_tally_columns(t)], total_rows=1)
        routes.table.rows = [[x.route, *_tally_cells(x)] for x in p.by_route]
        routes.table.rows.append([t("total"), *_tally_cells(p.total)])
        days.table = Table([Column(t("route")), Column(t("day")), *_tally_columns(t)])
        days.table.rows = [[x.route, x.day, *_tally_cells(x)] for x in p.by_route_day]
    doc.sections += [routes, days]
    return doc


# ------------------------------------------------------------------------------ alarms


def alarm_document(a: AlarmMonth, lang: str) -> Document:
    t = translator(lang)
    load = a.load
    doc = Document(
        kind="alarms",
        lang=lang,
        title=t("alarms_title"),
        subtitle=f"{a.site} / {a.building} / {a.month}",
        timezone=a.timezone,
    )
    header(doc, t, a.generated_at, a.complete, a.until)
    doc.facts.append((t("operators"), str(load.operators)))
    doc.facts.append((t("hours_covered"), f"{load.hours:,.1f}"))

    figures = Table(
        [
            Column(t("figure")),
            Column(t("value"), "number"),
            Column(t("target")),
            Column(t("met")),
        ]
    )
    figures.rows.append([t("raised"), Cell(load.raised, "int"), "", ""])
    kinds = {
        "per_operator_hour": "rate",
        "per_operator_day": "rate",
        "peak_10min_per_operator": "rate",
        "chattering_alarms": "int",
        "stale_max_per_day": "int",
    }
    for target, value, ok in load.verdicts():
        met = "" if ok is None else (t("yes") if ok else t("no"))
        kind = kinds.get(target.figure, "share")
        figures.rows.append([t(target.figure), Cell(value, kind), target.text, met])
    figures.rows.append([t("peak_10min_start"), Cell(load.peak_10min_start, "time"), "", ""])
    figures.rows.append([t("not_annunciated"), Cell(a.not_annunciated, "int"), "", ""])
    doc.sections.append(Section(t("isa_load"), figures, notes=[t("isa_note")]))

    floods = Section(t("floods"))
    if load.floods:
        floods.table = Table(
            [Column(t("from"), "time"), Column(t("to"), "time"), Column(t("raised"), "int")],
            [[f.start, f.end, f.raised] for f in load.floods],
        )
    else:
        floods.empty = t("no_floods")

    chattering = Section(t("chattering"))
    if load.chattering:
        chattering.table = Table(
            [
                Column(t("code")),
                Column(t("alarm_source")),
                Column(t("raised"), "int"),
                Column(t("most_in_window"), "int"),
                Column(t("bursts"), "int"),
            ],
            [[c.code, c.source, c.raised, c.most_in_window, c.bursts] for c in load.chattering],
        )
    else:
        chattering.empty = t("no_chattering")

    stale = Section(t("stale"))
    if load.stale:
        stale.table = Table(
            [
                Column(t("code")),
                Column(t("alarm_source")),
                Column(t("since"), "time"),
                Column(t("until"), "time"),
                Column(t("hours"), "hours"),
            ],
            [
                [s.code, s.source, s.since, Cell(s.until, why=t("still_standing")), s.hours]
                for s in load.stale
            ],
        )
    else:
        stale.empty = t("no_stale")

    top = Section(t("top_ten"))
    if load.top:
        top.table = Table(
            [
                Column(t("rank"), "int"),
                Column(t("alarm_source")),
                Column(t("raised"), "int"),
                Column(t("share_of_total"), "share"),
                Column(t("codes")),
            ],
            [
                [
                    i + 1,
                    s.source,
                    s.raised,
                    s.share,
                    ", ".join(f"{c} {n}" for c, n in s.codes.items()),
                ]
                for i, s in enumerate(load.top)
            ],
        )
    else:
        top.empty = t("no_alarms")
    doc.sections += [floods, chattering, stale, top]
    return doc


# ------------------------------------------------------------------------------ hazards


def _named(t, prefix: str, value: str) -> str:
    key = f"{prefix}_{value}"
    return t(key) if has(key) else value


def hazard_document(h: HazardLedger, lang: str) -> Document:
    t = translator(lang)
    where = f"{h.site} / {h.building}" if h.building else f"{h.site} / {t('all_buildings')}"
    if h.first_day is None and h.last_day is None:
        span = t("whole_ledger")
    else:
        last = None if h.last_day is None else h.last_day - timedelta(days=1)
        span = t("span", first=h.first_day or "", last=last or "").strip()
    doc = Document(
        kind="hazards",
        lang=lang,
        title=t("hazards_title"),
        subtitle=f"{where} / {span}",
        timezone=h.timezone,
        colour_names=colour_names(t),
    )
    doc.facts.append((t("timezone"), h.timezone))
    doc.facts.append((t("generated"), doc.local_time(h.generated_at)))

    summary = Section(t("hazard_summary"))
    states = ("found", "assigned", "rectifying", "submitted", "verified", "closed")
    summary.table = Table([Column(t("state")), Column(t("count"), "int")], total_rows=1)
    summary.table.rows = [[_named(t, "st", s), h.count("state", s)] for s in states]
    summary.table.rows.append([t("total"), len(h.rows)])

    ledger = Table(
        [
            Column(t("id"), "int"),
            Column(t("registered"), "time"),
            Column(t("building")),
            Column(t("location")),
            Column(t("description")),
            Column(t("severity")),
            Column(t("deadline"), "time"),
            Column(t("state")),
            Column(t("colour"), "colour"),
            Column(t("overdue")),
            Column(t("assignee")),
            Column(t("registered_by")),
            Column(t("verified_at"), "time"),
            Column(t("closed_at"), "time"),
            Column(t("rejections"), "int"),
            Column(t("alarm_id"), "int"),
        ]
    )
    for row in h.rows:
        z = row.hazard
        ledger.rows.append(
            [
                z["id"],
                z["created_at"],
                z["building"],
                z["location"],
                z["description"],
                _named(t, "sev", z["severity"]),
                z["deadline"],
                _named(t, "st", z["state"]),
                z["colour"],
                t("yes") if z["overdue"] else t("no"),
                z["assignee"],
                z["created_by"],
                row.verified_at,
                row.closed_at,
                row.rejections,
                z["alarm_id"],
            ]
        )
    ledger_section = Section(t("ledger"), ledger if h.rows else None)
    if not h.rows:
        ledger_section.empty = t("no_hazards")
    doc.sections += [summary, ledger_section]
    doc.csv_table = ledger
    return doc
