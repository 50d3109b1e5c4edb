// Overview: every building at a glance from GET /v1/cockpit/overview (live, every 2 s):
// budget colour, the last 15-minute demand block against its limit, power now, today's
// kWh / kgce / CO2, open alarms by colour, today's patrol compliance. Totals over the
// buildings are "—" when any building's figure is unknown (a partial sum would mislead).

import { STATUS, categoryAxis, chartBox, draw, valueAxis } from "../charts.js";
import { badge, changeTracker, chip, clear, figure, h, isNumber, num, percent, reasonOf } from "../dom.js";
import { t } from "../i18n.js";

const COLOURS = ["red", "yellow", "green"];

function sum(values) {
  return values.every(isNumber) && values.length ? values.reduce((a, b) => a + b, 0) : null;
}

function kpi(labelKey, content, testid) {
  return h("div", { class: "kpi", testid }, h("div", { class: "kpi-label" }, t(labelKey)), h("div", { class: "kpi-value" }, content));
}

function alarmCounts(alarms, hook) {
  const by = alarms?.by_colour || {};
  return h(
    "span",
    { class: "alarm-counts" },
    COLOURS.map((c) =>
      h("span", { class: `count ${c}`, title: t(`colour.${c}`) },
        h("span", { class: "dot", "aria-hidden": "true" }),
        `${t(`colour.${c}`)} `,
        figure(by[c] ?? 0, { testid: hook ? `overview-alarms-${c}-${hook}` : null }),
      ),
    ),
  );
}

function demandBar(demand) {
  if (!isNumber(demand?.kw) || !isNumber(demand?.limit_kw) || demand.limit_kw <= 0) return null;
  const share = demand.kw / demand.limit_kw;
  const tone = demand.over ? "red" : share >= 0.9 ? "yellow" : "green";
  return h("div", { class: `meter-bar ${tone}`, role: "img", "aria-label": t("overview.demand_share", { p: Math.round(share * 100) }) },
    h("span", { style: `width:${Math.min(100, share * 100).toFixed(1)}%` }));
}

// Today's figure with its label and unit above it (the number alone on its line).
function todayCell(labelKey, unit, fig) {
  return h("div", {}, h("span", { class: "label" }, t(labelKey), h("span", { class: "fig-unit" }, unit)), fig);
}

function card(ctx, b) {
  const hook = ctx.hookOf(b);
  const today = b.today;
  const todayReason = reasonOf(b.today_reason, "overview.today_null");
  const demand = b.demand || {};
  const patrol = b.patrol || {};
  const budgetColour = b.budget?.colour ?? null;
  return h(
    "article",
    { class: "bcard", testid: `overview-card-${hook}` },
    h("header", { class: "bcard-head" },
      h("h3", {}, b.building, ctx.buildings.some((x) => x.site !== b.site) ? h("small", {}, ` ${b.site}`) : null),
      badge(budgetColour, t("overview.budget"), {
        testid: `overview-budget-${hook}`,
        title: budgetColour ? null : t("overview.budget_none"),
      }),
    ),
    h("div", { class: "bcard-power" },
      h("span", { class: "label" }, t("overview.power_now")),
      figure(b.power_kw, { digits: 1, unit: "kW", testid: `overview-power-kw-${hook}`, reason: reasonOf(b.power_reason, "overview.power_null"), cls: "big" }),
    ),
    h("div", { class: "bcard-row" },
      h("span", { class: "label" }, t("overview.demand")),
      h("span", {},
        figure(demand.kw, { digits: 1, testid: `overview-demand-kw-${hook}`, reason: t("overview.demand_null") }),
        " / ",
        figure(demand.limit_kw, { digits: 0, unit: "kW", testid: `overview-demand-limit-${hook}`, reason: t("overview.limit_null") }),
        demand.over ? chip(t("overview.over_limit"), "red", { testid: `overview-demand-over-${hook}` }) : null,
      ),
    ),
    demandBar(demand),
    h("div", { class: "bcard-today" },
      todayCell("overview.today_kwh", "kWh", figure(today?.kwh, { digits: 0, testid: `overview-today-kwh-${hook}`, reason: todayReason })),
      todayCell("overview.today_kgce", "kgce", figure(today?.kgce, { digits: 1, testid: `overview-today-kgce-${hook}`, reason: todayReason })),
      todayCell("overview.today_co2", "kg", figure(today?.co2_kg, { digits: 0, testid: `overview-today-co2-${hook}`, reason: todayReason })),
    ),
    h("div", { class: "bcard-row" },
      h("span", { class: "label" }, t("overview.alarms_open")),
      h("span", {}, figure(b.alarms?.open, { testid: `overview-alarms-open-${hook}` })),
    ),
    alarmCounts(b.alarms, hook),
    h("div", { class: "bcard-row" },
      h("span", { class: "label" }, t("overview.patrol")),
      h("span", { title: t("overview.patrol_detail", {
        on_time: patrol.on_time ?? 0, late: patrol.late ?? 0, early: patrol.early ?? 0,
        missed: patrol.missed ?? 0, pending: patrol.pending ?? 0,
      }) },
        percent(patrol.compliance, { testid: `overview-patrol-compliance-${hook}`, reason: t("overview.patrol_null") }),
        h("small", { class: "muted" }, ` ${t("overview.patrol_counts", { on_time: patrol.on_time ?? 0, due: (patrol.checkpoints ?? 0) - (patrol.pending ?? 0) })}`),
      ),
    ),
  );
}

function totals(list) {
  const today = (key) => sum(list.map((b) => b.today?.[key] ?? null));
  const alarms = { open: 0, by_colour: {} };
  for (const b of list) {
    alarms.open += b.alarms?.open ?? 0;
    for (const [c, n] of Object.entries(b.alarms?.by_colour || {})) alarms.by_colour[c] = (alarms.by_colour[c] || 0) + n;
  }
  const budgets = { red: 0, yellow: 0, green: 0, none: 0 };
  for (const b of list) budgets[b.budget?.colour || "none"] += 1;
  return { power: sum(list.map((b) => b.power_kw ?? null)), kwh: today("kwh"), kgce: today("kgce"), co2: today("co2_kg"), alarms, budgets };
}

export default {
  picker: null,
  create(ctx) {
    let kpis, cards, energyChart, demandChart;
    const seen = changeTracker();

    function render(body) {
      const list = body.buildings || [];
      if (!seen.changed("buildings", list)) return;
      const sums = totals(list);
      const partial = t("overview.total_partial");
      clear(kpis,
        kpi("overview.total_power", figure(sums.power, { digits: 1, unit: "kW", testid: "overview-total-power-kw", reason: partial })),
        kpi("overview.total_kwh", figure(sums.kwh, { digits: 0, unit: "kWh", testid: "overview-total-kwh", reason: partial })),
        kpi("overview.total_kgce", figure(sums.kgce, { digits: 1, unit: "kgce", testid: "overview-total-kgce", reason: partial })),
        kpi("overview.total_co2", figure(sums.co2, { digits: 0, unit: "kg", testid: "overview-total-co2", reason: partial })),
        kpi("overview.total_alarms", h("span", {}, figure(sums.alarms.open, { testid: "overview-total-alarms-open" }), alarmCounts(sums.alarms, null))),
        kpi("overview.budgets", h("span", { class: "alarm-counts" },
          COLOURS.map((c) => h("span", { class: `count ${c}` }, h("span", { class: "dot", "aria-hidden": "true" }), `${t(`colour.${c}`)} ${sums.budgets[c]}`)),
          h("span", { class: "count grey" }, `${t("colour.none")} ${sums.budgets.none}`),
        )),
      );
      clear(cards, list.length ? list.map((b) => card(ctx, b)) : h("div", { class: "empty-box" }, t("overview.no_buildings")));
      const names = list.map((b) => b.building);
      draw(energyChart, {
        legend: { show: false },
        tooltip: { trigger: "axis" },
        xAxis: categoryAxis(names),
        yAxis: valueAxis("kWh"),
        series: [{
          type: "bar", name: t("overview.today_kwh"), barMaxWidth: 48,
          data: list.map((b) => ({ value: b.today?.kwh ?? null, itemStyle: { color: STATUS[b.budget?.colour] || "#38bdf8" } })),
          label: { show: true, position: "top", color: "#c8d3e6", formatter: (p) => num(p.value, 0) },
        }],
      }, { empty: !list.some((b) => isNumber(b.today?.kwh)) });
      draw(demandChart, {
        xAxis: categoryAxis(names),
        yAxis: valueAxis("kW"),
        legend: { top: 4, data: [t("overview.demand"), t("overview.limit")] },
        series: [
          { type: "bar", name: t("overview.demand"), barMaxWidth: 48,
            data: list.map((b) => ({ value: b.demand?.kw ?? null, itemStyle: { color: b.demand?.over ? STATUS.red : "#38bdf8" } })) },
          { type: "scatter", name: t("overview.limit"), symbol: "rect", symbolSize: [56, 4], itemStyle: { color: STATUS.yellow },
            data: list.map((b) => b.demand?.limit_kw ?? null) },
        ],
      }, { empty: !list.some((b) => isNumber(b.demand?.kw)) });
    }

    return {
      mount(root) {
        kpis = h("div", { class: "kpis", testid: "overview-kpis" });
        cards = h("div", { class: "cards", testid: "overview-cards" });
        energyChart = chartBox("overview-chart-energy");
        demandChart = chartBox("overview-chart-demand");
        root.append(h("div", { class: "page overview" },
          kpis,
          cards,
          h("div", { class: "row2" },
            h("section", { class: "panel" }, h("header", { class: "panel-head" }, h("h2", {}, t("overview.chart_energy"))), h("div", { class: "panel-body" }, energyChart)),
            h("section", { class: "panel" }, h("header", { class: "panel-head" }, h("h2", {}, t("overview.chart_demand"))), h("div", { class: "panel-body" }, demandChart)),
          ),
        ));
        if (ctx.overview) render(ctx.overview);
      },
      async live() {
        render(await ctx.refreshOverview());
      },
    };
  },
};
