"""The monthly energy report's figures (energy_month.EnergyMonth) laid out as a Document."""

from __future__ import annotations

from datetime import timedelta

from cloud_api.reports.document import Cell, Column, Document, Section, Table
from cloud_api.reports.energy_month import EnergyMonth, ScopeFigures
from cloud_api.reports.text import has, translator


def colour_names(t) -> dict[str, str]:
    return {c: t(c) for c in ("green", "yellow", "red", "orange", "blue")}


def header(doc: Document, t, generated_at: float, complete: bool, until: float) -> None:
    """The facts every monthly report starts with."""
    doc.facts.append((t("timezone"), doc.timezone))
    status = t("complete") if complete else t("running", until=doc.local_time(until))
    doc.facts.append((t("status"), status))
    doc.facts.append((t("generated"), doc.local_time(generated_at)))


def system_name(t, system: str) -> str:
    key = f"sys_{system}"
    return t(key) if has(key) else system


def energy_document(m: EnergyMonth, lang: str) -> Document:
    t = translator(lang)
    last_day = m.next_first_day - timedelta(days=1)
    doc = Document(
        kind="energy",
        lang=lang,
        title=t("energy_title"),
        subtitle=f"{m.site} / {m.building} / {m.month}",
        timezone=m.timezone,
        colour_names=colour_names(t),
    )
    doc.facts.append((t("period"), t("span", first=m.first_day, last=last_day)))
    header(doc, t, m.generated_at, m.complete, m.until)
    doc.sections.append(_summary(m, t))
    if m.total is not None:
        doc.sections.append(_by_system(m, t))
    doc.sections.append(_budgets(m, t))
    doc.sections.append(_peak(m, t))
    doc.sections.append(_last_year(m, t))
    doc.sections.append(_contracts(m, t))
    if m.total is not None:
        doc.sections.append(_factors(m.total, t))
    return doc


def _summary(m: EnergyMonth, t) -> Section:
    section = Section(t("summary"))
    if m.total is None:
        section.empty = t("no_data", why=m.no_data_reason)
        return section
    total, currency = m.total, m.currency or ""
    no_area = None if m.area_m2 else t("no_area")
    no_people = None if m.occupants else t("no_occupants")
    if m.last_year is None:
        no_change = t("no_last_year", month=m.last_year_month, why=m.last_year_reason)
    elif not m.complete:
        no_change = t("change_note_running")
    else:
        no_change = None
    rows = [
        [t("total_kwh"), Cell(total.kwh, "kwh"), "kWh"],
        [t("kgce"), Cell(total.kgce, "kgce"), "kgce"],
        [t("co2"), Cell(total.co2_kg, "co2"), "kg CO2"],
        [t("cost"), Cell(total.cost, "money", m.cost_note), currency],
        [t("area"), Cell(m.area_m2, "number", no_area), "m2"],
        [t("occupants"), Cell(m.occupants, "int", no_people), ""],
        [t("kwh_per_m2"), Cell(m.per("kwh", "m2"), "rate", no_area), "kWh/m2"],
        [t("kgce_per_m2"), Cell(m.per("kgce", "m2"), "rate", no_area), "kgce/m2"],
        [t("kwh_per_person"), Cell(m.per("kwh", "person"), "rate", no_people), "kWh/person"],
        [t("kgce_per_person"), Cell(m.per("kgce", "person"), "rate", no_people), "kgce/person"],
        [t("measured_share"), Cell(total.measured_share, "share"), ""],
        [t("held_out"), Cell(total.held_out_kwh, "kwh"), "kWh"],
        [
            t("peak_demand"),
            Cell(None if m.peak is None else m.peak.kw, "kw", m.peak_reason),
            "kW",
        ],
        [
            t("last_year_kwh"),
            Cell(None if m.last_year is None else m.last_year.kwh, "kwh", m.last_year_reason),
            "kWh",
        ],
        [t("change"), Cell(m.change_from_last_year, "share", no_change), ""],
    ]
    section.table = Table([Column(t("figure")), Column(t("value"), "number"), Column(t("unit"))])
    section.table.rows = rows
    section.notes.append(t("measured_note"))
    for label, cell, _ in rows:  # the figures not shown, each with why
        if cell.value is None and cell.why:
            section.notes.append(f"{label}: {cell.why}")
    return section


def _figures_columns(t, currency: str) -> list[Column]:
    return [
        Column("kWh", "kwh"),
        Column(t("share_of_total"), "share"),
        Column("kgce", "kgce"),
        Column("kg CO2", "co2"),
        Column(f"{t('cost')} {currency}".strip(), "money"),
        Column(t("measured_share"), "share"),
    ]


def _by_system(m: EnergyMonth, t) -> Section:
    total = m.total
    assert total is not None
    table = Table(
        [Column(t("system")), Column(t("meters")), *_figures_columns(t, m.currency or "")]
    )

    def row(name: str, f: ScopeFigures) -> list:
        share = f.kwh / total.kwh if total.kwh > 0 else None
        return [name, ", ".join(f.meters), f.kwh, share, f.kgce, f.co2_kg, f.cost, f.measured_share]

    table.rows = [row(system_name(t, f.name), f) for f in m.systems]
    table.rows.append(row(t("total_main"), total))
    table.total_rows = 1
    section = Section(t("by_system"), table)
    for system, why in m.systems_without_data:
        section.notes.append(t("system_without_data", system=system_name(t, system), why=why))
    return section


def _budgets(m: EnergyMonth, t) -> Section:
    section = Section(t("budgets"))
    if not m.budgets:
        section.empty = t("no_budgets")
        return section
    table = Table(
        [
            Column(t("budget")),
            Column(t("scope")),
            Column(t("period")),
            Column(t("unit")),
            Column(t("budget"), "number"),
            Column(t("used"), "number"),
            Column(t("used_share"), "share"),
            Column(t("forecast"), "number"),
            Column(t("colour"), "colour"),
        ]
    )
    for b in m.budgets:
        unit = (m.currency or "") if b.unit == "cost" else b.unit
        table.rows.append(
            [
                f"{b.id} {b.name}".strip(),
                b.scope,
                b.period_label,
                unit,
                b.amount,
                Cell(b.used, why=b.reason),
                b.share,
                Cell(b.forecast, why=b.reason),
                b.colour,
            ]
        )
        if b.reason:
            section.notes.append(f"{b.id}: {b.reason}")
    section.table = table
    return section


def _peak(m: EnergyMonth, t) -> Section:
    section = Section(t("peak_section"))
    p = m.peak
    if p is None:
        section.empty = t("no_peak", why=m.peak_reason)
        return section
    section.table = Table(
        [
            Column("kW", "kw"),
            Column(t("block")),
            Column(t("meter")),
            Column(f"{t('limit_kw')} kW", "kw"),
            Column(t("limit_hits"), "int"),
            Column(t("blocks"), "int"),
            Column(t("incomplete_blocks"), "int"),
        ],
        [[p.kw, p.label, p.meter, p.limit_kw, p.limit_hits, p.blocks, p.incomplete_blocks]],
    )
    return section


def _last_year(m: EnergyMonth, t) -> Section:
    section = Section(t("last_year"))
    if m.last_year is None:
        section.empty = t("no_last_year", month=m.last_year_month, why=m.last_year_reason)
        return section
    ly = m.last_year
    section.table = Table(
        [
            Column(t("month")),
            Column("kWh", "kwh"),
            Column("kgce", "kgce"),
            Column("kg CO2", "co2"),
            Column(f"{t('cost')} {m.currency or ''}".strip(), "money"),
            Column(t("change"), "share"),
        ],
        [[m.last_year_month, ly.kwh, ly.kgce, ly.co2_kg, ly.cost, m.change_from_last_year]],
    )
    if not m.complete:
        section.notes.append(t("change_note_running"))
    return section


def _contracts(m: EnergyMonth, t) -> Section:
    section = Section(t("contracts"))
    if not m.contracts:
        section.empty = t("no_contracts")
        return section
    table = Table(
        [
            Column(t("contract")),
            Column(t("contractor")),
            Column(f"{t('adjusted_baseline')} kWh", "kwh"),
            Column(f"{t('actual')} kWh", "kwh"),
            Column(f"{t('avoided')} kWh", "kwh"),
            Column(t("uncertainty") + " kWh", "kwh"),
            Column(t("saving_share"), "share"),
            Column(f"{t('avoided_kgce')} kgce", "kgce"),
            Column(f"{t('avoided_co2')} kg", "co2"),
            Column(f"{t('avoided_cost')} {m.currency or ''}".strip(), "money"),
        ]
    )
    for c in m.contracts:
        name = f"{c.id} {c.name}".strip()
        row = c.month or {}
        table.rows.append(
            [
                name,
                c.contractor,
                row.get("adjusted_baseline_kwh"),
                row.get("actual_kwh"),
                row.get("avoided_kwh"),
                row.get("uncertainty_kwh"),
                row.get("fraction"),
                row.get("avoided_kgce"),
                row.get("avoided_co2_kg"),
                row.get("avoided_cost"),
            ]
        )
        if c.reason:
            section.notes.append(f"{c.id}: {c.reason}")
    section.table = table
    return section


def _factors(total: ScopeFigures, t) -> Section:
    table = Table(
        [Column(t("kind")), Column(t("version")), Column(t("value")), Column(t("source"))]
    )
    for f in total.factors:
        kind = f.get("kind", "tariff")
        label = {"coal": t("factor_coal"), "co2": t("factor_co2")}.get(kind, t("factor_tariff"))
        if "value" in f:
            value = f"{f['value']} {f.get('unit', '')}".strip()
        else:
            value = ", ".join(f"{k} {v}" for k, v in f.get("prices", {}).items())
            value = f"{value} {f.get('currency') or ''}".strip()
        source = "; ".join(
            str(f[k]) for k in ("series", "year", "source", "valid_from") if f.get(k) is not None
        )
        table.rows.append([label, f["version"], value, source])
    return Section(t("factors"), table)
