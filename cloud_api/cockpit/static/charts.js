// ECharts (vendored: /cockpit/vendor/echarts/echarts.min.js, window.echarts) with the
// cockpit's dark look. Every chart container carries data-chart-ready: "0" until ECharts
// reports "finished" for the drawn data, then "1" (tests and bench/cockpit.py wait on it).
// Category axes with labels formatted in the building's zone: ECharts' time axis would
// label in the browser's zone.

import { h } from "./dom.js";
import { t } from "./i18n.js";

export const PALETTE = ["#38bdf8", "#a78bfa", "#f472b6", "#fb923c", "#34d399", "#facc15", "#94a3b8"];
export const STATUS = { green: "#22c55e", yellow: "#eab308", red: "#ef4444" };
const TEXT = "#c8d3e6";
const MUTED = "#7d8fad";
const LINE = "#243352";
const FONT =
  'system-ui, "Noto Sans CJK SC", "WenQuanYi Micro Hei", "Microsoft YaHei", "PingFang SC", sans-serif';

const live = new Map(); // element -> {chart, observer}

// ECharts loads with `async` (index.html), beside the page's modules rather than before
// them: the first figures need not wait for 1.1 MB of chart code. A chart asked for
// before it has loaded is drawn when it has.
const pending = new Map(); // element -> [option, options]
let echartsSettled = Boolean(window.echarts);
if (!echartsSettled) {
  const settle = () => {
    if (echartsSettled) return;
    echartsSettled = true;
    for (const [el, [option, options]] of pending) if (el.isConnected) draw(el, option, options);
    pending.clear();
  };
  // The script's own load/error, or the window's load (which waits for async scripts) in
  // case it settled before this module ran.
  document.getElementById("echarts-js")?.addEventListener("load", settle);
  document.getElementById("echarts-js")?.addEventListener("error", settle);
  if (document.readyState === "complete") settle();
  else window.addEventListener("load", settle);
}

export function chartBox(testid, cls = "chart") {
  return h("div", { class: cls, testid, data: { chartReady: "0" } });
}

export function baseOption() {
  return {
    backgroundColor: "transparent",
    animation: false,
    color: PALETTE,
    textStyle: { color: TEXT, fontFamily: FONT, fontSize: 14 },
    grid: { left: 64, right: 24, top: 60, bottom: 36, containLabel: false },
    legend: { top: 4, textStyle: { color: TEXT, fontSize: 14 }, itemGap: 16 },
    tooltip: {
      trigger: "axis",
      backgroundColor: "#0f1a2e",
      borderColor: LINE,
      textStyle: { color: TEXT, fontFamily: FONT },
    },
  };
}

export function categoryAxis(labels, extra = {}) {
  return {
    type: "category",
    data: labels,
    axisLine: { lineStyle: { color: LINE } },
    axisLabel: { color: MUTED, fontSize: 13 },
    axisTick: { show: false },
    ...extra,
  };
}

export function valueAxis(name, extra = {}) {
  return {
    type: "value",
    name,
    nameTextStyle: { color: MUTED, fontSize: 13, align: "left" },
    axisLabel: { color: MUTED, fontSize: 13 },
    splitLine: { lineStyle: { color: LINE } },
    ...extra,
  };
}

// Draw (or redraw) `option` in the container made by chartBox. An option without data
// says so in the chart's middle, and still counts as drawn.
export function draw(el, option, { empty = false } = {}) {
  if (!window.echarts && !echartsSettled) {
    pending.set(el, [option, { empty }]);
    return null;
  }
  if (!window.echarts) {
    el.textContent = t("common.charts_missing");
    el.dataset.chartReady = "1";
    return null;
  }
  let entry = live.get(el);
  if (!entry) {
    const chart = window.echarts.init(el, null, { renderer: "canvas" });
    chart.on("finished", () => {
      el.dataset.chartReady = "1";
    });
    const observer = new ResizeObserver(() => chart.resize());
    observer.observe(el);
    entry = { chart, observer };
    live.set(el, entry);
  }
  const base = baseOption();
  const full = { ...base, ...option };
  for (const key of ["legend", "tooltip", "grid"]) {
    if (option[key]) full[key] = { ...base[key], ...option[key] };
  }
  if (empty) {
    full.title = {
      text: t("common.no_data"),
      left: "center",
      top: "middle",
      textStyle: { color: MUTED, fontSize: 16, fontWeight: "normal" },
    };
  }
  entry.chart.setOption(full, { notMerge: true, lazyUpdate: false });
  return entry.chart;
}

// Forget the charts inside `root` (the page is leaving).
export function disposeCharts(root) {
  for (const [el, entry] of live) {
    if (!root || root.contains(el) || !el.isConnected) {
      entry.observer.disconnect();
      entry.chart.dispose();
      live.delete(el);
    }
  }
}
