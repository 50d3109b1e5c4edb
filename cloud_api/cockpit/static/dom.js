// Small DOM helpers shared by the pages: an element builder, figures that show "—" with a
// reason instead of a guessed number, and status badges that name their colour in words
// (never colour alone).

import { formatNumber, t } from "./i18n.js";

// h("div", {class: "x", testid: "y", title, data: {...}, on: {click}}, child, ...)
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "testid") el.dataset.testid = value;
    else if (key === "data") Object.assign(el.dataset, value);
    else if (key === "on") {
      for (const [name, handler] of Object.entries(value)) el.addEventListener(name, handler);
    } else if (key === "style") el.style.cssText = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const DASH = "—";

export function isNumber(value) {
  return typeof value === "number" && Number.isFinite(value);
}

// A number for the language, or "—" when unknown.
export function num(value, digits = 0) {
  return isNumber(value) ? formatNumber(value, digits) : DASH;
}

// A figure a user reads: the formatted number (data-value holds the API's own value, for
// tests), its unit, and for null a "—" whose title says why.
export function figure(value, { digits = 0, unit, testid, reason, cls } = {}) {
  const known = isNumber(value);
  return h(
    "span",
    {
      class: `fig${known ? "" : " fig-null"}${cls ? ` ${cls}` : ""}`,
      testid,
      data: { value: known ? String(value) : "" },
      title: known ? null : reason || t("common.no_data"),
    },
    h("span", { class: "fig-num" }, num(value, digits)),
    unit && known ? h("span", { class: "fig-unit" }, unit) : null,
  );
}

// Percent from a share 0..1.
export function percent(share, { digits = 0, testid, reason } = {}) {
  const known = isNumber(share);
  return h(
    "span",
    {
      class: `fig${known ? "" : " fig-null"}`,
      testid,
      data: { value: known ? String(share) : "" },
      title: known ? null : reason || t("common.no_data"),
    },
    known ? `${formatNumber(share * 100, digits)}%` : DASH,
  );
}

const COLOURS = new Set(["green", "yellow", "red"]);

// A status in colour and in words: "● 红 · 超限". `colour` green|yellow|red|null.
export function badge(colour, label, { testid, title } = {}) {
  const known = COLOURS.has(colour);
  const word = known ? t(`colour.${colour}`) : t("colour.none");
  return h(
    "span",
    { class: `badge ${known ? colour : "grey"}`, testid, title, data: { colour: colour || "" } },
    h("span", { class: "dot", "aria-hidden": "true" }),
    label ? `${word} · ${label}` : word,
  );
}

// A status that is not a colour (alarm state, door state): text on a tinted chip.
export function chip(text, tone, { testid, title } = {}) {
  return h("span", { class: `chip ${tone || "grey"}`, testid, title }, text);
}

export function panel(titleKey, body, { cls, testid, extra } = {}) {
  return h(
    "section",
    { class: `panel${cls ? ` ${cls}` : ""}`, testid },
    h("header", { class: "panel-head" }, h("h2", {}, t(titleKey)), extra || null),
    h("div", { class: "panel-body" }, body),
  );
}

export function errorBox(error) {
  return h("div", { class: "error-box", role: "alert" }, t("common.error"), ": ", error.message);
}

export function emptyBox(key = "common.none") {
  return h("div", { class: "empty-box" }, t(key));
}

// Why a figure is unknown: our words, then the API's reason (which names the meter).
export function reasonOf(apiReason, key) {
  return apiReason ? `${t(key)}: ${apiReason}` : t(key);
}

// Live parts re-render only when their data changed: a table rebuilt every 2 s under the
// pointer would swallow clicks (press and release on different buttons) and flicker.
// changed(name, data): true the first time and whenever `data` differs from the last
// call's; forget() after a failure, so that the next answer is drawn whatever it is.
export function changeTracker() {
  const last = new Map();
  return {
    changed(name, data) {
      const text = JSON.stringify(data);
      if (last.get(name) === text) return false;
      last.set(name, text);
      return true;
    },
    forget() {
      last.clear();
    },
  };
}

// Run `work` (which draws into `target`); on failure draw the error in `target`, forget
// what `tracker` saw (the next poll redraws everything) and pass the error on. A 401 is
// left to the login form.
export async function guarded(tracker, target, work) {
  try {
    await work();
  } catch (error) {
    tracker.forget();
    if (error.status !== 401) clear(target, errorBox(error));
    throw error;
  }
}
