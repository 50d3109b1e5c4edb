// The cockpit shell: login, the header (pages, building picker, clock, language, wall
// display, user, logout), the hash router (#/overview #/energy #/security #/hazards
// #/control) and the polling: a page's live parts every 2 s, its heavy aggregates every
// 60 s, nothing while the tab is hidden. "Now" is the API's clock (the overview's
// generated_at), so the page agrees with the API about today even when clocks differ.

import { api, onUnauthorized } from "./api.js";
import { disposeCharts } from "./charts.js";
import { clear, h } from "./dom.js";
import { formatTime, lang, loadDictionaries, safeStorage, setLang, t } from "./i18n.js";
import { showLogin } from "./pages/login.js";
import control from "./pages/control.js";
import energy from "./pages/energy.js";
import hazards from "./pages/hazards.js";
import overview from "./pages/overview.js";
import security from "./pages/security.js";

const PAGES = { overview, energy, security, hazards, control };
const ORDER = ["overview", "energy", "security", "hazards", "control"];
const LIVE_MS = 2000;
const HEAVY_MS = 60000;
const OVERVIEW_REUSE_MS = 1000;
const BUILDING_KEY = "steward.building";
const WALL_KEY = "steward.wall";

const state = {
  me: null,
  buildings: [],
  overview: null,
  clock: null, // {server: epoch s, at: performance.now() ms}
  pageName: null,
  page: null,
  generation: 0,
  timers: {},
  chain: 0,
  lastHeavy: 0,
};

const app = document.getElementById("app");

// ------------------------------------------------------------------ context for pages

function keyOf(b) {
  return `${b.site}/${b.building}`;
}

const ctx = {
  api,
  get me() {
    return state.me;
  },
  can(permission) {
    return Boolean(state.me?.permissions?.includes(permission));
  },
  get buildings() {
    return state.buildings;
  },
  keyOf,
  // A short, unique name for test hooks: the building, or site/building when two sites
  // have a building of that name.
  hookOf(b) {
    const same = state.buildings.filter((x) => x.building === b.building).length;
    return same > 1 ? `${b.site}-${b.building}` : b.building;
  },
  // The picked building, or null for "all buildings".
  selected() {
    const key = safeStorage("get", BUILDING_KEY) || "";
    return state.buildings.find((b) => keyOf(b) === key) || null;
  },
  // The picked building, or the first one: pages that show one building.
  selectedOrFirst() {
    return ctx.selected() || state.buildings[0] || null;
  },
  now() {
    if (!state.clock) return Date.now() / 1000;
    return state.clock.server + (performance.now() - state.clock.at) / 1000;
  },
  get overview() {
    return state.overview;
  },
  overviewOf(b) {
    return state.overview?.buildings?.find((x) => x.site === b.site && x.building === b.building);
  },
  timezone(b) {
    return b?.timezone || state.buildings[0]?.timezone || "Asia/Shanghai";
  },
  // The overview, fetched again unless it was fetched within the last second: a page's
  // first live part comes right after the shell fetched it (one round trip less before
  // the first figures); polls are 2 s apart, so a poll always fetches.
  async refreshOverview() {
    if (state.clock && state.overview && performance.now() - state.clock.at < OVERVIEW_REUSE_MS) {
      return state.overview;
    }
    const body = await api.get("/v1/cockpit/overview");
    state.overview = body;
    state.clock = { server: body.generated_at, at: performance.now() };
    return body;
  },
  // Re-run the page's live part now (after an action such as an acknowledgement).
  async refreshLive() {
    await runLive(state.generation);
  },
  say(message, tone = "ok") {
    showToast(message, tone);
  },
};

// ------------------------------------------------------------------ shell

function header() {
  const nav = h(
    "nav",
    { class: "nav" },
    ORDER.map((name) =>
      h(
        "a",
        {
          href: `#/${name}`,
          testid: `nav-${name}`,
          class: name === state.pageName ? "active" : null,
          "aria-current": name === state.pageName ? "page" : null,
        },
        t(`nav.${name}`),
      ),
    ),
  );
  const picker = buildingPicker();
  const wall = isWall();
  return h(
    "header",
    { class: "top" },
    h("div", { class: "brand" }, h("span", { class: "brand-mark" }, "Steward"), h("span", {}, t("app.title"))),
    nav,
    picker,
    h("div", { class: "top-right" },
      h("span", { class: "live", id: "live-state", testid: "live-state" }, t("live.ok")),
      h("span", { class: "clock", id: "clock", testid: "clock" }, ""),
      h("button", { type: "button", class: "btn ghost", testid: "lang-switch", on: { click: switchLang } }, t("lang.switch_to")),
      h("button", { type: "button", class: `btn ghost${wall ? " on" : ""}`, testid: "wall-toggle", "aria-pressed": String(wall), on: { click: toggleWall } }, t(wall ? "wall.leave" : "wall.enter")),
      h("span", { class: "user", testid: "user", title: t(`role.${state.me.role}`) }, state.me.name, h("span", { class: "user-role" }, ` · ${t(`role.${state.me.role}`)}`)),
      h("button", { type: "button", class: "btn ghost", testid: "logout", on: { click: logout } }, t("auth.logout")),
    ),
  );
}

function buildingPicker() {
  const mode = PAGES[state.pageName]?.picker;
  if (!mode || state.buildings.length === 0) return h("div", { class: "picker" });
  const current = mode === "one" ? keyOf(ctx.selectedOrFirst()) : safeStorage("get", BUILDING_KEY) || "";
  const options = [];
  if (mode === "all") options.push(h("option", { value: "" }, t("picker.all")));
  for (const b of state.buildings) {
    options.push(h("option", { value: keyOf(b) }, sitesShown() ? `${b.site} / ${b.building}` : b.building));
  }
  const select = h("select", { testid: "building-picker", "aria-label": t("picker.label"), on: { change: (e) => {
    safeStorage("set", BUILDING_KEY, e.target.value);
    show(state.pageName);
  } } }, options);
  select.value = current;
  return h("label", { class: "picker" }, h("span", {}, t("picker.label")), select);
}

function sitesShown() {
  return new Set(state.buildings.map((b) => b.site)).size > 1;
}

function shell() {
  clear(
    app,
    header(),
    h("div", { class: "banner", id: "banner", testid: "banner", hidden: true }),
    h("main", { id: "view", class: "view" }),
    h("div", { class: "toasts", id: "toasts", "aria-live": "polite" }),
  );
  tickClock();
}

function showToast(message, tone) {
  const box = document.getElementById("toasts");
  if (!box) return;
  const toast = h("div", { class: `toast ${tone}`, role: tone === "error" ? "alert" : "status" }, message);
  box.append(toast);
  setTimeout(() => toast.remove(), 6000);
}

function setLive(ok, error) {
  const el = document.getElementById("live-state");
  const banner = document.getElementById("banner");
  if (el) {
    el.textContent = t(ok ? "live.ok" : "live.lost");
    el.classList.toggle("lost", !ok);
  }
  if (banner) {
    banner.hidden = ok;
    banner.textContent = ok ? "" : `${t("live.lost_detail")}: ${error?.message || ""}`;
  }
}

function tickClock() {
  const el = document.getElementById("clock");
  if (el) el.textContent = formatTime(ctx.now(), ctx.timezone(ctx.selected()));
  state.page?.tick?.();
}

// ------------------------------------------------------------------ pages and polling

// Each schedule() starts one chain of timers (live, heavy); stopPolling() ends it, and a
// run still in flight from an ended chain does not start another (no double polling
// after the tab was hidden and shown again).
function stopPolling() {
  clearTimeout(state.timers.live);
  clearTimeout(state.timers.heavy);
  state.timers = {};
  state.chain += 1;
}

function schedule(generation) {
  stopPolling();
  if (document.hidden || generation !== state.generation) return;
  const chain = state.chain;
  state.timers.live = setTimeout(() => runLive(generation, chain), LIVE_MS);
  const heavyIn = Math.max(0, HEAVY_MS - (performance.now() - state.lastHeavy));
  state.timers.heavy = setTimeout(() => runHeavy(generation, chain), heavyIn);
}

function goesOn(generation, chain) {
  return chain === state.chain && generation === state.generation && !document.hidden;
}

// chain undefined: a one-off run (after an action), which schedules nothing.
async function runLive(generation, chain) {
  const page = state.page;
  try {
    if (page?.live) await page.live();
    if (generation === state.generation) setLive(true);
  } catch (error) {
    if (generation === state.generation) setLive(false, error);
  } finally {
    if (goesOn(generation, chain)) {
      state.timers.live = setTimeout(() => runLive(generation, chain), LIVE_MS);
    }
  }
}

async function runHeavy(generation, chain) {
  const page = state.page;
  try {
    await loadShared();
    if (page?.heavy) await page.heavy();
    state.lastHeavy = performance.now();
  } catch (error) {
    if (generation === state.generation) setLive(false, error);
  } finally {
    if (goesOn(generation, chain)) {
      state.timers.heavy = setTimeout(() => runHeavy(generation, chain), HEAVY_MS);
    }
  }
}

// What every page needs: the buildings and the overview (the API's clock, local days).
async function loadShared() {
  const [buildings] = await Promise.all([api.get("/v1/cockpit/buildings"), ctx.refreshOverview()]);
  state.buildings = buildings.buildings || [];
}

async function show(name) {
  if (!PAGES[name]) name = "overview";
  stopPolling();
  state.page?.unmount?.();
  disposeCharts(null);
  const generation = ++state.generation;
  state.pageName = name;
  document.body.dataset.page = name;
  delete document.body.dataset.loaded;
  shell();
  const view = document.getElementById("view");
  view.append(h("div", { class: "loading" }, t("common.loading")));
  try {
    await loadShared();
  } catch (error) {
    if (generation !== state.generation) return;
    if (error.status === 401) return;
    setLive(false, error);
  }
  if (generation !== state.generation) return;
  // The header again: the building picker needs the buildings.
  document.querySelector("header.top").replaceWith(header());
  tickClock();
  const page = PAGES[name].create(ctx);
  state.page = page;
  clear(view);
  page.mount(view);
  const first = [];
  if (page.heavy) first.push(page.heavy());
  if (page.live) first.push(page.live());
  const results = await Promise.allSettled(first);
  if (generation !== state.generation) return;
  const failed = results.find((r) => r.status === "rejected");
  setLive(!failed, failed?.reason);
  state.lastHeavy = performance.now();
  document.body.dataset.loaded = "1";
  schedule(generation);
}

function route() {
  const name = (window.location.hash.replace(/^#\/?/, "").split("?")[0] || "overview").trim();
  show(PAGES[name] ? name : "overview");
}

// ------------------------------------------------------------------ actions of the header

function switchLang() {
  setLang(lang() === "zh-CN" ? "en" : "zh-CN");
  if (state.me) show(state.pageName);
  else showLogin(app, ctx, loggedIn, switchLang);
}

async function logout() {
  stopPolling();
  try {
    await api.del("/v1/session");
  } catch {
    // the session is gone either way; the login form comes next
  }
  loggedOut();
}

function loggedOut() {
  // Several polls can answer 401 at once: draw the form once, not under the user's typing.
  if (!state.me && document.body.dataset.page === "login") return;
  stopPolling();
  state.page?.unmount?.();
  state.page = null;
  state.me = null;
  state.generation += 1;
  disposeCharts(null);
  document.body.dataset.page = "login";
  document.body.dataset.loaded = "1";
  showLogin(app, ctx, loggedIn, switchLang);
}

function loggedIn(me) {
  state.me = me;
  route();
}

// ------------------------------------------------------------------ wall display

function isWall() {
  return document.body.classList.contains("wall");
}

function applyWall(on) {
  document.body.classList.toggle("wall", on);
  safeStorage("set", WALL_KEY, on ? "1" : "0");
  fitWall();
}

function toggleWall() {
  applyWall(!isWall());
  if (state.me) show(state.pageName);
}

// The wall is designed at 1920x1080 and scaled to the window, letterboxed, no scrollbars.
function fitWall() {
  const stage = document.getElementById("stage");
  if (!isWall()) {
    stage.style.transform = "";
    return;
  }
  const scale = Math.min(window.innerWidth / 1920, window.innerHeight / 1080);
  const x = (window.innerWidth - 1920 * scale) / 2;
  const y = (window.innerHeight - 1080 * scale) / 2;
  stage.style.transform = `translate(${x}px, ${y}px) scale(${scale})`;
}

function startRotation(seconds) {
  setInterval(() => {
    if (!state.me || document.hidden) return;
    const next = ORDER[(ORDER.indexOf(state.pageName) + 1) % ORDER.length];
    window.location.hash = `#/${next}`;
  }, seconds * 1000);
}

// ------------------------------------------------------------------ start

async function start() {
  const query = new URLSearchParams(window.location.search);
  const wallParam = query.get("wall");
  const wall = wallParam !== null ? wallParam === "1" : safeStorage("get", WALL_KEY) === "1";
  applyWall(wall);
  window.addEventListener("resize", fitWall);
  const rotate = Number(query.get("rotate"));
  if (wall && rotate >= 10) startRotation(rotate);
  // Who is logged in is asked while the texts load (one round trip less before the
  // first figures); a 401 is handled once the texts are there to draw the login form.
  const me = api.get("/v1/me").then(
    (body) => ({ body }),
    (error) => ({ error }),
  );
  await loadDictionaries();
  onUnauthorized(() => loggedOut());
  window.addEventListener("hashchange", () => state.me && route());
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) stopPolling();
    else if (state.page) {
      const generation = state.generation;
      runLive(generation).finally(() => schedule(generation));
    }
  });
  setInterval(tickClock, 1000);
  const answer = await me;
  if (answer.error) {
    if (answer.error.status === 401) loggedOut();
    else clear(app, h("div", { class: "error-box" }, t("common.error"), ": ", answer.error.message));
    return;
  }
  state.me = answer.body;
  route();
}

start();
