// The energy page's slower panels (refreshed every 60 s): budgets used against forecast
// with its 90 % interval (GET /v1/budgets, /v1/budgets/{id}/status), dual control
// (GET /v1/dual-control), contract savings (GET /v1/contracts/{id}/savings), the meter
// tree with the energy no sub-meter saw (GET /v1/energy/balance, yesterday), and links
// to the monthly reports (GET /v1/reports/*).

import { badge, clear, emptyBox, errorBox, figure, h, isNumber, percent } from "../dom.js";
import { lang, t, tOr } from "../i18n.js";
import { addDays, addMonths, month, monthStart } from "../time.js";

// A budget's unit: kWh, kgce, or cost in the tariff's currency (when the tariff names one).
function unitText(unit, currency) {
  return unit === "cost" ? currency || "" : unit;
}

// used (filled, in the status colour), the forecast's 90 % interval (band), the forecast
// (marker) and the budget (line), on one scale.
function gauge(s) {
  const top = Math.max(s.amount, s.used || 0, s.forecast_high || 0, s.forecast || 0) * 1.05 || 1;
  const at = (v) => `${Math.max(0, Math.min(100, (v / top) * 100)).toFixed(2)}%`;
  const parts = [h("span", { class: `g-used ${s.colour || "grey"}`, style: `width:${at(s.used || 0)}` })];
  if (isNumber(s.forecast_low) && isNumber(s.forecast_high)) {
    parts.push(h("span", { class: "g-band", style: `left:${at(s.forecast_low)};width:calc(${at(s.forecast_high)} - ${at(s.forecast_low)})` }));
  }
  if (isNumber(s.forecast)) parts.push(h("span", { class: "g-forecast", style: `left:${at(s.forecast)}` }));
  parts.push(h("span", { class: "g-budget", style: `left:${at(s.amount)}` }));
  return h("div", { class: "gauge", role: "img", "aria-label": t("budget.gauge_label") }, parts);
}

export async function budgetsPanel(ctx, b, target, currency) {
  const ids = b.budgets || [];
  if (!ids.length) {
    clear(target, emptyBox("budget.none"));
    return;
  }
  const [list, ...statuses] = await Promise.all([
    ctx.api.get("/v1/budgets"),
    ...ids.map((id) => ctx.api.get(`/v1/budgets/${encodeURIComponent(id)}/status`).catch((e) => e)),
  ]);
  const byId = new Map((list.budgets || []).map((x) => [x.id, x]));
  clear(target, ids.map((id, i) => {
    const s = statuses[i];
    const info = byId.get(id) || {};
    const scope = Object.entries(info.meters || {}).map(([k, v]) => (k === "system" ? tOr(`system.${v}`, v) : `${k}=${v}`)).join(", ");
    const title = h("div", { class: "budget-title" },
      h("strong", {}, info.name || id),
      h("span", { class: "muted" }, ` ${scope || t("budget.whole_building")} · ${t(`budget.period_${info.period || "month"}`)}`));
    if (s instanceof Error) return h("div", { class: "budget", testid: `budget-${id}` }, title, errorBox(s));
    const unit = unitText(s.unit, currency);
    const digits = s.unit === "kgce" ? 1 : 0;
    return h("div", { class: "budget", testid: `budget-${id}` },
      h("div", { class: "budget-head" }, title, badge(s.colour, null, { testid: `budget-colour-${id}`, title: s.colour ? null : s.reason })),
      gauge(s),
      h("div", { class: "budget-figs" },
        h("span", {}, t("budget.used"), " ", figure(s.used, { digits, unit, testid: `budget-used-${id}` }), " / ",
          figure(s.amount, { digits, unit }), " ", percent(isNumber(s.used) ? s.used / s.amount : null)),
        h("span", {}, t("budget.forecast"), " ", figure(s.forecast, { digits, unit, testid: `budget-forecast-${id}`, reason: s.reason }),
          isNumber(s.forecast_low) ? h("span", { class: "muted" }, ` (${t("budget.interval")} `, figure(s.forecast_low, { digits }), "–", figure(s.forecast_high, { digits }), ")") : null),
        s.crosses_on ? h("span", { class: "warn" }, t("budget.crosses_on", { day: s.crosses_on })) : null,
      ),
      s.reason ? h("div", { class: "muted small budget-note" }, s.reason) : null,
    );
  }));
}

const DUAL_NAMES = { total_kgce: "dual.total_kgce", kgce_per_m2: "dual.kgce_per_m2", kwh_per_m2: "dual.kwh_per_m2" };

export async function dualControlPanel(ctx, b, target) {
  const body = await ctx.api.get("/v1/dual-control", { site: b.site, building: b.building });
  const rows = body.figures.map((f) => {
    const digits = f.unit.endsWith("/m2") ? 2 : 0;
    return h("tr", { testid: `dual-${f.name}` },
      h("th", {}, tOr(DUAL_NAMES[f.name] || "", f.name), h("small", { class: "muted" }, ` ${f.unit.replace("m2", "m²")}`)),
      h("td", {}, figure(f.used, { digits, reason: f.reason })),
      h("td", {}, figure(f.forecast, { digits, reason: f.reason })),
      h("td", {}, figure(f.quota, { digits, reason: f.reason || t("dual.no_quota") })),
      h("td", {}, badge(f.colour, null, { title: f.reason })),
    );
  });
  clear(target,
    h("div", { class: "muted small" }, t("dual.year", { year: body.year })),
    h("table", { class: "table" },
      h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", {}, t("dual.used")), h("th", {}, t("dual.forecast")), h("th", {}, t("dual.quota")), h("th", {}, t("dual.status")))),
      h("tbody", {}, rows)),
  );
}

export async function contractsPanel(ctx, b, target, currency) {
  const ids = b.contracts || [];
  if (!ids.length) {
    clear(target, emptyBox("contract.none"));
    return;
  }
  const answers = await Promise.all(ids.map((id) => ctx.api.get(`/v1/contracts/${encodeURIComponent(id)}/savings`).catch((e) => e)));
  clear(target, ids.map((id, i) => {
    const s = answers[i];
    if (s instanceof Error) {
      return h("div", { class: "contract", testid: `contract-${id}` }, h("strong", {}, id), h("div", { class: "muted" }, s.status === 409 ? s.detail : `${t("common.error")}: ${s.message}`));
    }
    const total = s.total;
    return h("div", { class: "contract", testid: `contract-${id}` },
      h("div", { class: "budget-head" }, h("strong", {}, id),
        badge(s.ok ? "green" : "yellow", t(s.ok ? "contract.fit_ok" : "contract.fit_weak"), { title: s.verdict })),
      h("div", { class: "muted small" }, t("contract.periods", { base_from: s.baseline_period.from, base_to: s.baseline_period.to, from: s.reporting_period.from, to: s.reporting_period.to })),
      total ? h("div", { class: "budget-figs" },
        h("span", {}, t("contract.avoided"), " ", figure(total.avoided_kwh, { digits: 0, unit: "kWh", testid: `contract-avoided-${id}` }),
          " ± ", figure(total.uncertainty_kwh, { digits: 0, unit: "kWh" })),
        h("span", {}, figure(total.avoided_kgce, { digits: 1, unit: "kgce" }), " · ", figure(total.avoided_co2_kg, { digits: 0, unit: "kg CO₂" }),
          " · ", figure(total.avoided_cost, { digits: 0, unit: currency, reason: t("energy.cost_null") })),
      ) : h("div", { class: "muted" }, t("contract.no_total")),
      s.months.length ? h("table", { class: "table compact" },
        h("thead", {}, h("tr", {}, h("th", {}, t("contract.month")), h("th", {}, t("contract.baseline")), h("th", {}, t("contract.actual")), h("th", {}, t("contract.avoided")))),
        h("tbody", {}, s.months.slice(-6).map((m) => h("tr", {},
          h("td", {}, m.month),
          h("td", {}, figure(m.adjusted_baseline_kwh, { digits: 0 })),
          h("td", {}, figure(m.actual_kwh, { digits: 0 })),
          h("td", {}, figure(m.avoided_kwh, { digits: 0 }), h("small", { class: "muted" }, " ± ", figure(m.uncertainty_kwh, { digits: 0 }))),
        )))) : null,
    );
  }));
}

// Yesterday's balance (the API's default); today's so far when the main meter measured
// nothing yesterday (a building whose meters started today), rather than a tree of zeros.
export async function meterTreePanel(ctx, b, target, day) {
  const place = { site: b.site, building: b.building };
  let body = await ctx.api.get("/v1/energy/balance", place);
  if (!(body.main_kwh > 0) && day) {
    const today = await ctx.api.get("/v1/energy/balance", { ...place, from: day, to: addDays(day, 1) });
    if (today.main_kwh > 0) body = today;
  }
  if (!(body.main_kwh > 0)) {
    clear(target,
      h("div", { class: "muted small" }, t("tree.period", { from: body.from, to: body.to })),
      h("div", { class: "empty-box", testid: "tree-empty" }, t("tree.no_data")),
      body.note ? h("div", { class: "muted small" }, body.note) : null);
    return;
  }
  const bySystem = new Map();
  for (const m of body.sub_meters) {
    if (!bySystem.has(m.system)) bySystem.set(m.system, []);
    bySystem.get(m.system).push(m);
  }
  const rows = [
    h("li", { class: "tree-main" },
      h("span", { class: "tree-name" }, t("tree.main"), " ", h("code", {}, body.main || "—")),
      figure(body.main_kwh, { digits: 1, unit: "kWh", testid: "tree-main-kwh", reason: body.note })),
  ];
  for (const [system, meters] of bySystem) {
    rows.push(h("li", { class: "tree-system" },
      h("span", { class: "tree-name" }, tOr(`system.${system}`, system)),
      figure(body.by_system[system], { digits: 1, unit: "kWh", testid: `tree-system-${system}` })));
    for (const m of meters) {
      rows.push(h("li", { class: "tree-meter" }, h("span", { class: "tree-name" }, h("code", {}, m.device)), figure(m.kwh, { digits: 1, unit: "kWh" })));
    }
  }
  rows.push(h("li", { class: "tree-unaccounted" },
    h("span", { class: "tree-name" }, t("tree.unaccounted"), " ",
      badge(body.colour, null, { testid: "tree-unaccounted-colour", title: body.colour ? t("tree.threshold", { p: Math.round(body.threshold * 100) }) : body.note })),
    h("span", {}, figure(body.unaccounted_kwh, { digits: 1, unit: "kWh", testid: "tree-unaccounted-kwh", reason: body.note }), " ",
      percent(body.share, { digits: 1, testid: "tree-unaccounted-share", reason: body.note }))));
  clear(target,
    h("div", { class: "muted small" }, t("tree.period", { from: body.from, to: body.to })),
    h("ul", { class: "tree" }, rows),
    body.note ? h("div", { class: "muted small" }, body.note) : null,
    ...body.problems.map((p) => h("div", { class: "warn small" }, p)),
  );
}

export function reportsPanel(ctx, b, target, day) {
  const thisMonth = month(day);
  const lastMonth = month(addMonths(monthStart(day), -1));
  const lang = reportLang();
  const link = (kind, format, params) => h("a", {
    href: ctx.api.url(`/v1/reports/${kind}`, { site: b.site, building: b.building, format, lang, ...params }),
    target: "_blank", rel: "noopener", class: "btn small",
    testid: `report-${kind}-${params.month ? `${params.month}-` : ""}${format}`,
  }, format.toUpperCase());
  const line = (kind, formats) => h("tr", {},
    h("th", {}, t(`report.${kind}`)),
    ...[lastMonth, thisMonth].map((m) => h("td", {}, formats.map((f) => link(kind, f, { month: m })))));
  clear(target, h("table", { class: "table reports" },
    h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", {}, lastMonth), h("th", {}, `${thisMonth} ${t("report.so_far")}`))),
    h("tbody", {},
      line("energy", ["html", "pdf", "csv"]),
      line("patrol", ["html", "csv"]),
      line("alarms", ["html", "csv"]),
      h("tr", {}, h("th", {}, t("report.hazards")), h("td", { colspan: "2" }, link("hazards", "csv", {}))))));
}

function reportLang() {
  return lang() === "en" ? "en" : "zh";
}
