// Control: what holds each HVAC point now (GET /v1/control/commands?state=active: every
// active priority slot with its owner, reason and lease, counting down each second), the
// operator overrides with their lease (release: DELETE /v1/control/overrides/{id}, for a
// role with control.write), and the recent advise-only advice (GET /v1/control/audit,
// entries with mode "advise": what the edge would have written).

import { changeTracker, chip, clear, emptyBox, figure, guarded, h, isNumber } from "../dom.js";
import { formatDateTime, t, tOr } from "../i18n.js";

const ADVICE_EVERY = 5; // live ticks (2 s) between advice refreshes
const ADVICE_SHOWN = 50;

function panel(titleKey, body, testid) {
  return h("section", { class: "panel", testid },
    h("header", { class: "panel-head" }, h("h2", {}, t(titleKey))),
    h("div", { class: "panel-body" }, body));
}

function slotName(slot, name) {
  return `${slot} · ${tOr(`slot.${slot}`, name || "")}`;
}

function countdown(seconds) {
  if (!isNumber(seconds)) return t("control.no_lease");
  if (seconds <= 0) return t("control.lease_passed");
  const s = Math.floor(seconds);
  const hh = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}

export default {
  picker: "all",
  create(ctx) {
    const chosen = ctx.selected();
    const scope = chosen ? { site: chosen.site, building: chosen.building } : {};
    const many = !chosen && ctx.buildings.length > 1;
    const tzOf = (x) => ctx.timezone(ctx.buildings.find((b) => b.site === x.site && b.building === x.building));
    const el = {};
    let ticks = 0;
    const seen = changeTracker();

    // A cell that counts down to `until` (epoch s, the API's clock) every second.
    function lease(until, testid) {
      const cell = h("span", { class: "countdown", testid, data: { until: isNumber(until) ? String(until) : "" } });
      cell.textContent = countdown(isNumber(until) ? until - ctx.now() : null);
      return cell;
    }

    async function release(o) {
      try {
        await ctx.api.del(`/v1/control/overrides/${o.id}`);
        ctx.say(t("control.released", { id: o.id }));
      } catch (error) {
        if (error.status === 401) return;
        ctx.say(`${t("control.release")}: ${error.detail || error.message}`, "error");
      }
      await ctx.refreshLive();
    }

    function render(body) {
      // expires_in_s moves with the API's clock at every poll; the countdowns tick here.
      const stable = JSON.stringify(body, (key, value) => (key === "expires_in_s" ? undefined : value));
      if (!seen.changed("commands", stable)) return;
      const commands = body.commands;
      if (!commands.length) clear(el.commands, emptyBox("control.no_commands"));
      else clear(el.commands, h("table", { class: "table" },
        h("thead", {}, h("tr", {}, many ? h("th", {}, t("common.building")) : null, h("th", {}, t("control.point")), h("th", {}, t("control.priority")),
          h("th", {}, t("control.value")), h("th", {}, t("control.owner")), h("th", {}, t("control.reason")), h("th", {}, t("control.lease")))),
        h("tbody", {}, commands.map((c) => {
          const hook = `${c.device}-${c.point}-${c.slot}`;
          return h("tr", { testid: `control-command-${hook}` },
            many ? h("td", { class: "nowrap" }, c.building) : null,
            h("td", {}, h("code", {}, c.device), " · ", c.point),
            h("td", {}, chip(slotName(c.slot, c.slot_name), c.slot <= 5 ? "red" : c.slot <= 8 ? "blue" : "yellow")),
            h("td", {}, figure(c.value, { digits: 1 })),
            h("td", { class: "small" }, c.owner),
            h("td", { class: "small" }, c.reason),
            h("td", {}, lease(c.lease_until, `control-lease-${hook}`)));
        }))));
      const overrides = body.overrides;
      const slotOf = new Map(commands.filter((c) => c.owner.startsWith("operator:")).map((c) => [c.owner.split("#").pop(), c]));
      if (!overrides.length) clear(el.overrides, emptyBox("control.no_overrides"));
      else clear(el.overrides, h("table", { class: "table" },
        h("thead", {}, h("tr", {}, h("th", {}, "#"), many ? h("th", {}, t("common.building")) : null, h("th", {}, t("control.point")), h("th", {}, t("control.value")),
          h("th", {}, t("control.priority")), h("th", {}, t("control.by")), h("th", {}, t("control.reason")), h("th", {}, t("control.lease")), h("th", {}, ""))),
        h("tbody", {}, overrides.map((o) => {
          const applied = slotOf.get(String(o.id));
          return h("tr", { testid: `override-row-${o.id}` },
            h("td", {}, String(o.id)),
            many ? h("td", { class: "nowrap" }, o.building) : null,
            h("td", {}, h("code", {}, o.device), " · ", o.point),
            h("td", {}, figure(o.value, { digits: 1 })),
            h("td", {}, applied ? chip(slotName(applied.slot, applied.slot_name), "blue") : h("span", { class: "muted small", title: t("control.not_applied_detail") }, t("control.not_applied"))),
            h("td", {}, o.by),
            h("td", { class: "small" }, o.reason),
            h("td", {}, lease(o.until, `override-lease-${o.id}`)),
            h("td", {}, ctx.can("control.write") && o.state === "active"
              ? h("button", { type: "button", class: "btn small warn", testid: `override-release-${o.id}`, on: { click: () => release(o) } }, t("control.release"))
              : null));
        }))));
    }

    async function loadAdvice() {
      const body = await ctx.api.get("/v1/control/audit", { ...scope, limit: 500 });
      const advice = body.entries.filter((e) => e.mode === "advise").slice(0, ADVICE_SHOWN);
      if (!seen.changed("advice", advice)) return;
      if (!advice.length) {
        clear(el.advice, emptyBox("control.no_advice"));
        return;
      }
      clear(el.advice, h("table", { class: "table compact" },
        h("thead", {}, h("tr", {}, h("th", {}, t("events.time")), many ? h("th", {}, t("common.building")) : null, h("th", {}, t("control.point")),
          h("th", {}, t("control.would_write")), h("th", {}, t("control.before")), h("th", {}, t("control.priority")), h("th", {}, t("control.reason")))),
        h("tbody", {}, advice.map((e) => h("tr", {},
          h("td", { class: "nowrap" }, formatDateTime(e.ts, tzOf(e))),
          many ? h("td", { class: "nowrap" }, e.building) : null,
          h("td", {}, h("code", {}, e.device), e.point ? ` · ${e.point}` : ""),
          h("td", {}, figure(e.value, { digits: 1 })),
          h("td", {}, figure(e.before, { digits: 1 })),
          h("td", {}, isNumber(e.slot) ? slotName(e.slot, null) : "—"),
          h("td", { class: "small" }, e.reason || "—"))))));
    }

    return {
      mount(root) {
        el.commands = h("div", { testid: "control-commands" });
        el.overrides = h("div", { testid: "control-overrides" });
        el.advice = h("div", { testid: "control-advice" });
        root.append(h("div", { class: "page control" },
          panel("control.commands", el.commands, "panel-commands"),
          panel("control.overrides", el.overrides, "panel-overrides"),
          panel("control.advice", el.advice, "panel-advice")));
      },
      async live() {
        ticks += 1;
        const jobs = [guarded(seen, el.commands, async () => render(await ctx.api.get("/v1/control/commands", { ...scope, state: "active" })))];
        if (ticks % ADVICE_EVERY === 0) jobs.push(guarded(seen, el.advice, loadAdvice));
        const failed = (await Promise.allSettled(jobs)).find((r) => r.status === "rejected");
        if (failed) throw failed.reason;
      },
      async heavy() {
        await guarded(seen, el.advice, loadAdvice);
      },
      tick() {
        for (const cell of document.querySelectorAll(".countdown[data-until]")) {
          const until = Number(cell.dataset.until);
          cell.textContent = countdown(cell.dataset.until ? until - ctx.now() : null);
        }
      },
    };
  },
};


