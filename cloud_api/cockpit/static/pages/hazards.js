// Hazards: the three-colour board (GET /v1/hazards, every 2 s), one column per state of
// the loop found -> assigned -> rectifying -> submitted -> verified -> closed, overdue
// first. A card shows the transitions the caller may make now (the item's "actions") as
// buttons (POST /v1/hazards/{id}/{action}); assign asks for a name, reject for a note.
// A click on a card opens its audit trail (GET /v1/hazards/{id}).

import { badge, changeTracker, chip, clear, emptyBox, errorBox, h } from "../dom.js";
import { formatDateTime, t } from "../i18n.js";

const COLUMNS = ["found", "assigned", "rectifying", "submitted", "verified", "closed"];
const COLOUR_RANK = { red: 0, yellow: 1, green: 2 };
const SEVERITY_TONE = { major: "red", serious: "orange", general: "yellow", low: "blue" };
const NEEDS = { assign: "assignee", reject: "note" };
const CLOSED_SHOWN = 12;

export default {
  picker: "all",
  create(ctx) {
    const chosen = ctx.selected();
    const scope = chosen ? { site: chosen.site, building: chosen.building } : {};
    const many = !chosen && ctx.buildings.length > 1;
    const tzOf = (hz) => ctx.timezone(ctx.buildings.find((x) => x.site === hz.site && x.building === hz.building));
    const el = {};
    let form = null; // {id, action}: an open assign/reject form holds the board still
    let detailId = null;
    let last = [];
    const seen = changeTracker();

    async function act(hz, action, extra) {
      try {
        await ctx.api.post(`/v1/hazards/${hz.id}/${action}`, extra || {});
        ctx.say(t("hazard.done", { id: hz.id, action: t(`hazard.action.${action}`) }));
      } catch (error) {
        if (error.status === 401) return;
        ctx.say(`${t(`hazard.action.${action}`)}: ${error.detail || error.message}`, "error");
      }
      form = null;
      await ctx.refreshLive();
      if (detailId === hz.id) await openDetail(hz.id);
    }

    function actionRow(hz) {
      const actions = ctx.can("hazards.act") ? hz.actions || [] : [];
      if (!actions.length) return null;
      if (form && form.id === hz.id) {
        const field = NEEDS[form.action];
        const input = h("input", { class: "input", testid: `hazard-input-${hz.id}-${form.action}`, placeholder: t(`hazard.ask.${field}`), "aria-label": t(`hazard.ask.${field}`) });
        const submit = () => {
          const value = input.value.trim();
          if (!value) {
            input.focus();
            return;
          }
          act(hz, form.action, { [field]: value });
        };
        input.addEventListener("keydown", (e) => { if (e.key === "Enter") submit(); if (e.key === "Escape") { form = null; render(last); } });
        setTimeout(() => input.focus(), 0);
        return h("div", { class: "hz-form", on: { click: (e) => e.stopPropagation() } },
          input,
          h("button", { type: "button", class: "btn act small", testid: `hazard-confirm-${hz.id}-${form.action}`, on: { click: submit } }, t(`hazard.action.${form.action}`)),
          h("button", { type: "button", class: "btn small", on: { click: () => { form = null; render(last); } } }, t("common.cancel")));
      }
      return h("div", { class: "hz-actions" }, actions.map((action) => h("button", {
        type: "button",
        class: `btn small${action === "reject" ? " warn" : " act"}`,
        testid: `hazard-action-${hz.id}-${action}`,
        on: { click: (e) => {
          e.stopPropagation();
          if (NEEDS[action]) {
            form = { id: hz.id, action };
            render(last);
          } else {
            act(hz, action);
          }
        } },
      }, t(`hazard.action.${action}`))));
    }

    function cardOf(hz) {
      const tz = tzOf(hz);
      return h("article", {
        class: `hz-card ${hz.colour}${hz.overdue ? " overdue" : ""}${detailId === hz.id ? " open" : ""}`,
        testid: `hazard-card-${hz.id}`,
        tabindex: "0",
        on: { click: () => openDetail(hz.id), keydown: (e) => { if (e.key === "Enter" && e.target === e.currentTarget) openDetail(hz.id); } },
      },
        h("div", { class: "hz-head" },
          badge(hz.colour, null),
          chip(t(`severity.${hz.severity}`), SEVERITY_TONE[hz.severity]),
          h("span", { class: "muted small" }, `#${hz.id}`),
          chip(t(`hazard.state.${hz.state}`), "grey", { testid: `hazard-state-${hz.id}` })),
        h("div", { class: "hz-desc" }, hz.description),
        h("div", { class: "muted small" }, many ? `${hz.building} · ` : "", hz.location),
        h("div", { class: `small${hz.overdue ? " overdue-text" : " muted"}` },
          hz.overdue ? `${t("hazard.overdue")} · ` : "", t("hazard.deadline", { time: formatDateTime(hz.deadline, tz) })),
        hz.assignee ? h("div", { class: "small" }, t("hazard.assignee", { name: hz.assignee })) : null,
        actionRow(hz));
    }

    function render(hazards) {
      last = hazards;
      const by = Object.fromEntries(COLUMNS.map((c) => [c, []]));
      for (const hz of hazards) (by[hz.state] || (by[hz.state] = [])).push(hz);
      for (const c of COLUMNS) {
        by[c].sort((a, b) => (b.overdue - a.overdue) || (COLOUR_RANK[a.colour] - COLOUR_RANK[b.colour]) || a.deadline - b.deadline);
      }
      by.closed.sort((a, b) => b.updated_at - a.updated_at);
      clear(el.board, COLUMNS.map((c) => {
        const list = c === "closed" ? by.closed.slice(0, CLOSED_SHOWN) : by[c];
        const overdue = by[c].filter((x) => x.overdue).length;
        return h("section", { class: "hz-col", testid: `hazard-column-${c}` },
          h("header", { class: "hz-col-head" }, h("h2", {}, t(`hazard.state.${c}`)),
            h("span", { class: "count-pill", testid: `hazard-count-${c}` }, String(by[c].length)),
            overdue ? chip(t("hazard.overdue_n", { n: overdue }), "red") : null),
          h("div", { class: "hz-list" }, list.length ? list.map(cardOf) : emptyBox("hazard.column_empty"),
            by[c].length > list.length ? h("div", { class: "muted small" }, t("hazard.more", { n: by[c].length - list.length })) : null));
      }));
    }

    async function openDetail(id) {
      detailId = id;
      el.detail.hidden = false;
      try {
        const hz = await ctx.api.get(`/v1/hazards/${id}`);
        const tz = tzOf(hz);
        clear(el.detail,
          h("header", { class: "panel-head" },
            h("h2", {}, t("hazard.trail", { id })),
            h("button", { type: "button", class: "btn small", testid: "hazard-detail-close", on: { click: () => { detailId = null; el.detail.hidden = true; render(last); } } }, t("common.close"))),
          h("p", {}, hz.description),
          h("p", { class: "muted small" }, `${hz.building} · ${hz.location} · ${t(`severity.${hz.severity}`)}`),
          h("ol", { class: "trail", testid: `hazard-history-${id}` }, hz.history.map((step) => h("li", {},
            h("div", {}, h("strong", {}, t(`hazard.step.${step.action}`)), " ",
              step.from ? `${t(`hazard.state.${step.from}`)} → ` : "", t(`hazard.state.${step.to}`)),
            h("div", { class: "muted small" }, formatDateTime(step.ts, tz), " · ", step.by,
              step.assignee ? ` · ${t("hazard.assignee", { name: step.assignee })}` : ""),
            step.note ? h("div", { class: "small" }, step.note) : null))));
      } catch (error) {
        if (error.status !== 401) clear(el.detail, errorBox(error));
      }
      render(last);
    }

    return {
      mount(root) {
        el.board = h("div", { class: "hz-board", testid: "hazard-board" });
        el.detail = h("aside", { class: "panel hz-detail", testid: "hazard-detail", hidden: true });
        root.append(h("div", { class: "page hazards" }, el.board, el.detail));
      },
      async live() {
        if (form) return; // someone is typing an assignee or a note
        try {
          const { hazards } = await ctx.api.get("/v1/hazards", scope);
          if (seen.changed("hazards", hazards)) render(hazards);
        } catch (error) {
          seen.forget();
          if (error.status !== 401) clear(el.board, errorBox(error));
          throw error;
        }
      },
    };
  },
};
