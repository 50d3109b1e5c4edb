// Security: the live alarm list (GET /v1/alarms, open states, every 2 s) with the
// acknowledge / shelve / unshelve buttons the item's "actions" allow; door states
// (GET /v1/cockpit/doors) and recent access events (GET /v1/access-events), live; today's
// patrol rounds per route and checkpoint (GET /v1/patrols/rounds, the building's local
// day), every 10 s.

import { badge, changeTracker, chip, clear, emptyBox, guarded, h } from "../dom.js";
import { formatDateTime, formatTime, t, tOr } from "../i18n.js";

const OPEN_STATES = ["unack", "rtn_unack", "acked", "shelved", "suppressed", "out_of_service"];
const STATE_RANK = Object.fromEntries(OPEN_STATES.map((s, i) => [s, i]));
const COLOUR_RANK = { red: 0, yellow: 1, green: 2 };
const STATE_TONE = { unack: "red", rtn_unack: "yellow", acked: "blue", shelved: "grey", suppressed: "grey", out_of_service: "grey", normal: "green" };
const DOOR_TONE = { closed: "green", open: "blue", forced: "red", held_open: "yellow", unknown: "grey" };
const CHECK_TONE = { on_time: "green", late: "yellow", early: "yellow", missed: "red", pending: "grey" };
const SHELF_MINUTES = [15, 60, 480];
const PATROL_EVERY = 5; // live ticks (2 s) between patrol refreshes

function panel(titleKey, body, testid, extra) {
  return h("section", { class: "panel", testid },
    h("header", { class: "panel-head" }, h("h2", {}, t(titleKey)), extra || null),
    h("div", { class: "panel-body" }, body));
}

export default {
  picker: "all",
  create(ctx) {
    const chosen = ctx.selected();
    const scope = chosen ? { site: chosen.site, building: chosen.building } : {};
    const many = !chosen && ctx.buildings.length > 1;
    const tzOf = (site, building) => ctx.timezone(ctx.buildings.find((x) => x.site === site && x.building === building));
    const el = {};
    let ticks = 0;
    let openShelf = null; // alarm id whose duration choice is open
    const seen = changeTracker();

    async function act(alarm, action, body) {
      try {
        await ctx.api.post(`/v1/alarms/${alarm.id}/${action}`, body);
        ctx.say(t(`alarm.done_${action}`, { code: tOr(`code.${alarm.code}`, alarm.code), source: alarm.source }));
      } catch (error) {
        if (error.status === 401) return;
        ctx.say(`${t(`alarm.action.${action}`)}: ${error.detail || error.message}`, "error");
      }
      openShelf = null;
      await ctx.refreshLive();
    }

    function buttons(alarm) {
      const actions = ctx.can("alarms.act") ? alarm.actions || [] : [];
      const out = [];
      if (actions.includes("ack")) {
        out.push(h("button", { type: "button", class: "btn act", testid: `alarm-ack-${alarm.id}`, on: { click: () => act(alarm, "ack", { note: "" }) } }, t("alarm.action.ack")));
      }
      if (actions.includes("shelve")) {
        if (openShelf === alarm.id) {
          out.push(h("span", { class: "shelf-choice" }, SHELF_MINUTES.map((m) =>
            h("button", { type: "button", class: "btn small", testid: `alarm-shelve-${alarm.id}-${m}`, on: { click: () => act(alarm, "shelve", { duration_s: m * 60, note: "" }) } }, t("alarm.shelf_for", { m })))));
        } else {
          out.push(h("button", { type: "button", class: "btn", testid: `alarm-shelve-${alarm.id}`, on: { click: () => { openShelf = alarm.id; ctx.refreshLive(); } } }, t("alarm.action.shelve")));
        }
      }
      if (actions.includes("unshelve")) {
        out.push(h("button", { type: "button", class: "btn", testid: `alarm-unshelve-${alarm.id}`, on: { click: () => act(alarm, "unshelve", { note: "" }) } }, t("alarm.action.unshelve")));
      }
      return out;
    }

    function renderAlarms(alarms) {
      if (!seen.changed("alarms", { alarms, openShelf })) return;
      alarms.sort((a, b) => (STATE_RANK[a.state] ?? 9) - (STATE_RANK[b.state] ?? 9)
        || (COLOUR_RANK[a.colour] ?? 9) - (COLOUR_RANK[b.colour] ?? 9) || b.raised_at - a.raised_at);
      const counts = {};
      for (const a of alarms) counts[a.state] = (counts[a.state] || 0) + 1;
      clear(el.alarmCounts, OPEN_STATES.filter((s) => counts[s]).map((s) => chip(`${t(`alarm.state.${s}`)} ${counts[s]}`, STATE_TONE[s])));
      if (!alarms.length) {
        clear(el.alarms, emptyBox("alarm.none_open"));
        return;
      }
      clear(el.alarms, h("table", { class: "table alarms" },
        h("thead", {}, h("tr", {},
          h("th", {}, t("alarm.colour")), h("th", {}, t("alarm.raised")), many ? h("th", {}, t("common.building")) : null,
          h("th", {}, t("alarm.what")), h("th", {}, t("alarm.state")), h("th", {}, ""))),
        h("tbody", {}, alarms.map((a) => h("tr", { class: `alarm-row ${a.colour}`, testid: `alarm-row-${a.id}`, data: { state: a.state } },
          h("td", {}, badge(a.colour, null)),
          h("td", { class: "nowrap" }, formatDateTime(a.raised_at, tzOf(a.site, a.building)),
            a.raise_count > 1 ? h("small", { class: "muted" }, ` ×${a.raise_count}`) : null,
            a.chattering ? chip(t("alarm.chattering"), "yellow") : null),
          many ? h("td", { class: "nowrap" }, a.building) : null,
          h("td", {}, h("div", { title: a.code }, tOr(`code.${a.code}`, a.code), h("span", { class: "muted" }, ` · ${a.source}`)),
            a.message ? h("div", { class: "muted small" }, a.message) : null),
          h("td", {}, chip(t(`alarm.state.${a.state}`), STATE_TONE[a.state], { testid: `alarm-state-${a.id}` }),
            a.acked_by ? h("div", { class: "muted small" }, t("alarm.acked_by", { name: a.acked_by })) : null,
            a.shelved_until ? h("div", { class: "muted small" }, t("alarm.shelved_until", { time: formatTime(a.shelved_until, tzOf(a.site, a.building), false) })) : null),
          h("td", { class: "actions" }, buttons(a)),
        )))));
    }

    function renderDoors(doors) {
      if (!seen.changed("doors", doors)) return;
      if (!doors.length) {
        clear(el.doors, emptyBox("door.none"));
        return;
      }
      const order = { forced: 0, held_open: 1, open: 2, unknown: 3, closed: 4 };
      doors.sort((a, b) => (order[a.state] ?? 9) - (order[b.state] ?? 9) || a.door.localeCompare(b.door));
      clear(el.doors, h("div", { class: "doors" }, doors.map((d) => {
        const hook = many ? `${d.building}-${d.door}` : d.door;
        return h("div", { class: `door ${DOOR_TONE[d.state] || "grey"}`, testid: `door-${hook}` },
          h("div", { class: "door-name" }, d.door, many ? h("small", { class: "muted" }, ` ${d.building}`) : null),
          chip(t(`door.state.${d.state}`), DOOR_TONE[d.state], { testid: `door-state-${hook}` }),
          h("div", { class: "muted small" }, d.since ? t("door.since", { time: formatTime(d.since, tzOf(d.site, d.building), false) }) : ""));
      })));
    }

    function renderEvents(events) {
      if (!seen.changed("events", events)) return;
      if (!events.length) {
        clear(el.events, emptyBox("events.none"));
        return;
      }
      clear(el.events, h("table", { class: "table compact" },
        h("thead", {}, h("tr", {}, h("th", {}, t("events.time")), many ? h("th", {}, t("common.building")) : null,
          h("th", {}, t("events.kind")), h("th", {}, t("events.door")), h("th", {}, t("events.credential")))),
        h("tbody", {}, events.map((e) => h("tr", { class: e.kind === "access.denied" || e.kind === "access.duress" || e.kind === "door.tamper" ? "warn-row" : null },
          h("td", { class: "nowrap" }, formatTime(e.ts, tzOf(e.site, e.building))),
          many ? h("td", { class: "nowrap" }, e.building) : null,
          h("td", { title: e.reason || null }, tOr(`kind.${e.kind}`, e.kind), e.reason ? h("small", { class: "muted" }, ` (${e.reason})`) : null),
          h("td", {}, e.door || "—"),
          h("td", {}, e.credential || e.data?.guard || "—"))))));
    }

    async function loadPatrols() {
      const targets = chosen ? [chosen] : ctx.buildings;
      const answers = await Promise.all(targets.map((b) => {
        const day = ctx.overviewOf(b)?.day;
        return day ? ctx.api.get("/v1/patrols/rounds", { site: b.site, building: b.building, day }) : { rounds: [] };
      }));
      const rounds = answers.flatMap((a) => a.rounds);
      if (!seen.changed("rounds", rounds)) return;
      if (!rounds.length) {
        clear(el.patrols, emptyBox("patrol.none"));
        return;
      }
      const byRoute = new Map();
      for (const r of rounds) {
        const key = many ? `${r.building} · ${r.route}` : r.route;
        if (!byRoute.has(key)) byRoute.set(key, []);
        byRoute.get(key).push(r);
      }
      clear(el.patrols, [...byRoute].map(([route, list]) => h("div", { class: "route", testid: `patrol-route-${route}` },
        h("h3", {}, route),
        list.map((r) => {
          const tz = tzOf(r.site, r.building);
          return h("div", { class: "round", testid: `patrol-round-${r.route}-${Math.round(r.start)}` },
            h("div", { class: "round-head" },
              h("span", {}, formatTime(r.start, tz, false), "–", formatTime(r.end, tz, false)),
              h("span", { class: "muted" }, r.guard ? ` ${t("patrol.guard", { name: r.guard })}` : ""),
              chip(t(`patrol.state.${r.state}`), r.state === "running" ? "blue" : r.complete ? "green" : "yellow"),
              h("span", { class: "muted small" }, " ", t("patrol.counts", {
                on_time: r.counts.on_time ?? 0, late: r.counts.late ?? 0, early: r.counts.early ?? 0, missed: r.counts.missed ?? 0 }))),
            h("div", { class: "checkpoints" }, r.checkpoints.map((c) => {
              const status = c.status || "pending";
              return h("span", {
                class: `chip ${CHECK_TONE[status] || "grey"}`,
                testid: `checkpoint-${r.route}-${Math.round(r.start)}-${c.checkpoint}`,
                title: c.expected_at ? t("patrol.expected", { time: formatTime(c.expected_at, tz, false) }) : null,
              }, `${c.checkpoint} ${tOr(`patrol.status.${status}`, status)}`);
            })));
        }))));
    }

    return {
      mount(root) {
        el.alarms = h("div", { testid: "security-alarms" });
        el.alarmCounts = h("span", { class: "head-chips" });
        el.doors = h("div", { testid: "security-doors" });
        el.patrols = h("div", { testid: "security-patrols" });
        el.events = h("div", { testid: "security-events" });
        root.append(h("div", { class: "page security" },
          panel("security.alarms", el.alarms, "panel-alarms", el.alarmCounts),
          panel("security.doors", el.doors, "panel-doors"),
          panel("security.patrols", el.patrols, "panel-patrols"),
          panel("security.events", el.events, "panel-events"),
        ));
      },
      async live() {
        ticks += 1;
        const jobs = [
          guarded(seen, el.alarms, async () => renderAlarms((await ctx.api.get("/v1/alarms", { ...scope, state: OPEN_STATES, limit: 300 })).alarms)),
          guarded(seen, el.doors, async () => renderDoors((await ctx.api.get("/v1/cockpit/doors", scope)).doors)),
          guarded(seen, el.events, async () => renderEvents((await ctx.api.get("/v1/access-events", { ...scope, limit: 30 })).events)),
        ];
        if (ticks % PATROL_EVERY === 0) jobs.push(guarded(seen, el.patrols, loadPatrols));
        const failed = (await Promise.allSettled(jobs)).find((r) => r.status === "rejected");
        if (failed) throw failed.reason;
      },
      async heavy() {
        await guarded(seen, el.patrols, loadPatrols);
      },
    };
  },
};


