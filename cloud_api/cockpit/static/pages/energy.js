// Energy of one building (the picker): power now and the last 15-minute demand block
// (live, from the overview), today's 15-minute demand blocks against the limit (live,
// GET /v1/demand), power over the last 24 h at 15 minutes (GET /v1/series/{id}/data
// step=15m of the main meters' active power), energy by system this month by day and
// this year by month with the same period last year (GET /v1/energy), and the panels of
// energy_panels.js (budgets, dual control, contract savings, meter tree, reports).
// Charts read rollups only, never raw readings.

import { STATUS, categoryAxis, chartBox, draw, valueAxis } from "../charts.js";
import { changeTracker, chip, clear, errorBox, figure, h, isNumber, reasonOf } from "../dom.js";
import { formatTime, lang, t, tOr } from "../i18n.js";
import { addMonths, midnight, monthStart, yearEarlier, yearStart } from "../time.js";
import { budgetsPanel, contractsPanel, dualControlPanel, meterTreePanel, reportsPanel } from "./energy_panels.js";

const QUARTER = 900;
const LAST_YEAR = "#e2e8f0";

function box(titleKey, body, testid, extra) {
  return h("section", { class: "panel", testid },
    h("header", { class: "panel-head" }, h("h2", {}, t(titleKey)), extra || null),
    h("div", { class: "panel-body" }, body));
}

// kWh of an energy row, or null when it lies in the future or has no data: 0 kWh over
// a period mostly unmeasured is missing data, not an idle building.
function rowKwh(row, today) {
  if (row.start > today) return null;
  if (row.kwh === 0 && row.measured_share < 0.5) return null;
  return row.kwh;
}

// GET /v1/energy; null when no meter measures the scope (a 404: unknown, not 0 kWh).
async function energyBody(ctx, b, first, last, step, system) {
  try {
    return await ctx.api.get("/v1/energy", { site: b.site, building: b.building, system, from: first, to: last, step });
  } catch (error) {
    if (error.status === 404) return null;
    throw error;
  }
}

function monthLabels(count) {
  const f = new Intl.DateTimeFormat(lang() === "en" ? "en-GB" : "zh-CN", { month: "short", timeZone: "UTC" });
  return Array.from({ length: count }, (_, i) => f.format(new Date(Date.UTC(2001, i, 1))));
}

export default {
  picker: "one",
  create(ctx) {
    const b = ctx.selectedOrFirst();
    const tz = ctx.timezone(b);
    const el = {};
    let unitOfCost = null; // the tariff's currency, from the energy answer
    const seen = changeTracker();

    function today() {
      return ctx.overviewOf(b)?.day;
    }

    function renderNow() {
      const o = ctx.overviewOf(b);
      if (!seen.changed("now", { o, unitOfCost })) return;
      const d = o?.demand || {};
      const reason = reasonOf(o?.today_reason, "overview.today_null");
      clear(el.now,
        h("div", { class: "kpi" }, h("div", { class: "kpi-label" }, t("overview.power_now")),
          h("div", { class: "kpi-value" }, figure(o?.power_kw, { digits: 1, unit: "kW", testid: "energy-power-kw", reason: reasonOf(o?.power_reason, "overview.power_null"), cls: "big" }))),
        h("div", { class: "kpi" }, h("div", { class: "kpi-label" }, t("overview.demand")),
          h("div", { class: "kpi-value" }, h("span", { class: "kpi-pair" },
            figure(d.kw, { digits: 1, testid: "energy-demand-kw", reason: t("overview.demand_null") }), " / ",
            figure(d.limit_kw, { digits: 0, unit: "kW", testid: "energy-demand-limit", reason: t("overview.limit_null") })),
            d.over ? chip(t("overview.over_limit"), "red") : null),
          isNumber(d.block_start) ? h("div", { class: "kpi-note" }, t("energy.block_at", { time: formatTime(d.block_start, tz, false) })) : null),
        h("div", { class: "kpi" }, h("div", { class: "kpi-label" }, t("overview.today_kwh")),
          h("div", { class: "kpi-value" }, figure(o?.today?.kwh, { digits: 0, unit: "kWh", testid: "energy-today-kwh", reason }))),
        h("div", { class: "kpi" }, h("div", { class: "kpi-label" }, t("overview.today_kgce")),
          h("div", { class: "kpi-value" }, figure(o?.today?.kgce, { digits: 1, unit: "kgce", testid: "energy-today-kgce", reason }))),
        h("div", { class: "kpi" }, h("div", { class: "kpi-label" }, t("overview.today_co2")),
          h("div", { class: "kpi-value" }, figure(o?.today?.co2_kg, { digits: 0, unit: "kg", testid: "energy-today-co2", reason }))),
        h("div", { class: "kpi" }, h("div", { class: "kpi-label" }, t("energy.today_cost")),
          h("div", { class: "kpi-value" }, figure(o?.today?.cost, { digits: 0, unit: unitOfCost, testid: "energy-today-cost", reason: t("energy.cost_null") }))),
      );
    }

    async function loadDemand() {
      const day = today();
      if (!day) return;
      const from = midnight(day, tz);
      const body = await ctx.api.get("/v1/demand", { site: b.site, building: b.building, from, to: from + 86400 + 3600 });
      if (!seen.changed("demand", body)) return;
      const labels = [];
      for (let i = 0; i < 96; i += 1) labels.push(formatTime(from + i * QUARTER, tz, false));
      const meters = new Map();
      for (const block of body.blocks) {
        const i = Math.round((block.start - from) / QUARTER);
        if (i < 0 || i >= 96) continue;
        if (!meters.has(block.meter)) meters.set(block.meter, new Array(96).fill(null));
        meters.get(block.meter)[i] = {
          value: block.demand_kw,
          itemStyle: { color: block.over ? STATUS.red : undefined },
        };
      }
      const limit = body.summary.limit_kw;
      const series = [...meters].map(([meter, data]) => ({ type: "bar", name: meter, data, barCategoryGap: "20%" }));
      if (series.length && isNumber(limit)) {
        series[0].markLine = {
          symbol: "none",
          lineStyle: { color: STATUS.yellow, width: 2, type: "dashed" },
          label: { color: STATUS.yellow, formatter: `${t("overview.limit")} ${limit} kW`, position: "insideEndTop" },
          data: [{ yAxis: limit }],
        };
      }
      draw(el.demand, {
        xAxis: categoryAxis(labels, { axisLabel: { color: "#7d8fad", interval: 11 } }),
        yAxis: valueAxis("kW"),
        series,
      }, { empty: !series.length });
      const s = body.summary;
      clear(el.demandNote,
        t("energy.peak_today"), " ", figure(s.peak_kw, { digits: 1, unit: "kW", testid: "energy-demand-peak", reason: t("overview.demand_null") }),
        s.peak_label ? ` (${formatTime(s.peak_start, tz, false)})` : "",
        " · ", t("energy.limit_hits"), " ", figure(s.limit_hits, { testid: "energy-demand-hits" }),
        s.incomplete_blocks ? ` · ${t("energy.incomplete", { n: s.incomplete_blocks })}` : "",
      );
    }

    async function loadPower() {
      const ids = b.main_power_series || [];
      const now = ctx.now();
      const to = Math.floor(now / QUARTER) * QUARTER + QUARTER;
      const from = to - 96 * QUARTER;
      const starts = Array.from({ length: 96 }, (_, i) => from + i * QUARTER);
      const pages = await Promise.all(ids.map((id) => ctx.api.get(`/v1/series/${id}/data`, { from, to, step: "15m", limit: 200 })));
      const perSeries = pages.map((p) => new Map(p.points.filter((x) => x.count > 0).map((x) => [x.start, x.avg])));
      // A quarter in which any main meter has no reading is unknown, not a smaller sum.
      const values = starts.map((s) => (perSeries.length && perSeries.every((m) => isNumber(m.get(s)))
        ? perSeries.reduce((sum, m) => sum + m.get(s), 0) : null));
      draw(el.power, {
        legend: { show: false },
        xAxis: categoryAxis(starts.map((s) => formatTime(s, tz, false)), { boundaryGap: false, axisLabel: { color: "#7d8fad", interval: 11 } }),
        yAxis: valueAxis("kW"),
        // Small symbols: a quarter between two gaps is a point, not an invisible line.
        series: [{ type: "line", name: t("energy.power_avg"), data: values, symbol: "circle", symbolSize: 3, connectNulls: false, lineStyle: { width: 2 }, areaStyle: { opacity: 0.15 } }],
      }, { empty: !values.some(isNumber) });
    }

    // Stacked bars by system, the building's total (its main meters) as a line, and the
    // same period last year as a dashed line when it has data.
    async function loadBySystem(target, totalBody, step, lastFirst, lastLast, labels, indexOf) {
      const day = today();
      const systems = b.systems || [];
      const first = totalBody.from;
      const last = totalBody.to;
      const [total, previous, ...bySystem] = await Promise.all([
        totalBody,
        energyBody(ctx, b, lastFirst, lastLast, step),
        ...systems.map((s) => energyBody(ctx, b, first, last, step, s)),
      ]);
      const place = (body, isPast) => {
        const out = new Array(labels.length).fill(null);
        for (const row of body?.rows || []) {
          const i = indexOf(row.start);
          if (i >= 0 && i < out.length) out[i] = isPast ? rowKwh(row, "9999") : rowKwh(row, day);
        }
        return out;
      };
      const series = [];
      systems.forEach((system, k) => {
        if (bySystem[k]) series.push({ type: "bar", stack: "systems", name: tOr(`system.${system}`, system), data: place(bySystem[k], false), barMaxWidth: 28 });
      });
      if (total) series.push({ type: "line", name: t("energy.total"), data: place(total, false), symbolSize: 6, lineStyle: { width: 2, color: "#f8fafc" }, itemStyle: { color: "#f8fafc" } });
      const lastYear = place(previous, true);
      const hasLastYear = lastYear.some(isNumber);
      if (hasLastYear) series.push({ type: "line", name: t("energy.last_year"), data: lastYear, symbol: "none", lineStyle: { width: 2, type: "dashed", color: LAST_YEAR }, itemStyle: { color: LAST_YEAR } });
      draw(target, { xAxis: categoryAxis(labels), yAxis: valueAxis("kWh"), series }, { empty: !series.some((s) => s.data.some(isNumber)) });
      return hasLastYear;
    }

    // The month's total (its answer also names the tariff's currency) and the charts.
    function monthTotal() {
      const m0 = monthStart(today());
      return energyBody(ctx, b, m0, addMonths(m0, 1), "day");
    }

    async function loadEnergy(monthBody) {
      const day = today();
      const body = await monthBody;
      if (!body) {
        for (const target of [el.month, el.year]) draw(target, { xAxis: categoryAxis([]), yAxis: valueAxis(""), series: [] }, { empty: true });
        return;
      }
      const m0 = body.from;
      const days = Math.round((midnight(body.to, "UTC") - midnight(m0, "UTC")) / 86400);
      const dayLabels = Array.from({ length: days }, (_, i) => String(i + 1));
      const y0 = yearStart(day);
      const yearBody = energyBody(ctx, b, y0, yearStart(day, 1), "month");
      const [monthHas, yearHas] = await Promise.all([
        loadBySystem(el.month, body, "day", yearEarlier(m0), addMonths(yearEarlier(m0), 1), dayLabels,
          (start) => Number(start.slice(8, 10)) - 1),
        yearBody.then((y) => (y ? loadBySystem(el.year, y, "month", yearStart(day, -1), y0, monthLabels(12),
          (start) => Number(start.slice(5, 7)) - 1) : false)),
      ]);
      el.monthNote.textContent = monthHas ? "" : t("energy.no_last_year");
      el.yearNote.textContent = yearHas ? "" : t("energy.no_last_year");
    }

    // A panel that failed says why; a chart that failed is drawn empty with the reason as
    // its title (so that it still counts as drawn).
    async function guarded(targets, work) {
      try {
        await work();
      } catch (error) {
        seen.forget();
        if (error.status === 401) throw error;
        for (const target of Array.isArray(targets) ? targets : [targets]) {
          if (target.dataset.chartReady !== undefined) {
            draw(target, { xAxis: categoryAxis([]), yAxis: valueAxis(""), series: [] }, { empty: true });
            target.title = `${t("common.error")}: ${error.message}`;
          } else {
            clear(target, errorBox(error));
          }
        }
        throw error;
      }
    }

    return {
      mount(root) {
        if (!b) {
          root.append(h("div", { class: "empty-box" }, t("overview.no_buildings")));
          return;
        }
        el.now = h("div", { class: "kpis", testid: "energy-now" });
        el.power = chartBox("energy-chart-power");
        el.demand = chartBox("energy-chart-demand");
        el.demandNote = h("div", { class: "panel-note", testid: "energy-demand-note" });
        el.month = chartBox("energy-chart-month");
        el.year = chartBox("energy-chart-year");
        el.monthNote = h("span", { class: "muted" });
        el.yearNote = h("span", { class: "muted" });
        el.budgets = h("div", { testid: "energy-budgets" });
        el.dual = h("div", { testid: "energy-dual-control" });
        el.contracts = h("div", { testid: "energy-contracts" });
        el.tree = h("div", { testid: "energy-meter-tree" });
        el.reports = h("div", { testid: "energy-reports" });
        root.append(h("div", { class: "page energy" },
          el.now,
          h("div", { class: "energy-grid" },
            box("energy.power_24h", el.power, "energy-panel-power", null),
            box("energy.demand_today", h("div", { class: "stack" }, el.demand, el.demandNote), "energy-panel-demand"),
            box("energy.month_by_day", el.month, "energy-panel-month", el.monthNote),
            box("energy.year_by_month", el.year, "energy-panel-year", el.yearNote),
            box("energy.budgets", el.budgets, "energy-panel-budgets"),
            box("energy.dual_control", el.dual, "energy-panel-dual"),
            box("energy.meter_tree", el.tree, "energy-panel-tree"),
            box("energy.contracts", el.contracts, "energy-panel-contracts"),
            box("energy.reports", el.reports, "energy-panel-reports"),
          ),
        ));
        renderNow();
      },
      async live() {
        if (!b) return;
        await ctx.refreshOverview();
        renderNow();
        await guarded(el.demand, loadDemand);
      },
      async heavy() {
        if (!b) return;
        const day = today();
        if (!day) return;
        const month = monthTotal();
        const currency = month.then((body) => body?.currency || null, () => null);
        const results = await Promise.allSettled([
          guarded(el.power, loadPower),
          guarded([el.month, el.year], () => loadEnergy(month)),
          guarded(el.budgets, async () => budgetsPanel(ctx, b, el.budgets, await currency)),
          guarded(el.dual, () => dualControlPanel(ctx, b, el.dual)),
          guarded(el.tree, () => meterTreePanel(ctx, b, el.tree, day)),
          guarded(el.contracts, async () => contractsPanel(ctx, b, el.contracts, await currency)),
          currency.then((c) => { unitOfCost = c; renderNow(); }),
        ]);
        if (day) reportsPanel(ctx, b, el.reports, day);
        const failed = results.find((r) => r.status === "rejected");
        if (failed) throw failed.reason;
      },
    };
  },
};

