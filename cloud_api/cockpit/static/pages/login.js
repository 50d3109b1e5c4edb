// The login form: name and password -> POST /v1/session (the API sets the HttpOnly
// session cookie and answers with the user's name, role and permissions).

import { api } from "../api.js";
import { clear, h } from "../dom.js";
import { t } from "../i18n.js";

const WRONG = "wrong user name or password";

export function showLogin(root, ctx, onSuccess, switchLang) {
  const name = h("input", { id: "login-name", name: "name", autocomplete: "username", required: true, testid: "login-name" });
  const password = h("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true, testid: "login-password" });
  const message = h("p", { class: "login-error", role: "alert", testid: "login-error", hidden: true });
  const submit = h("button", { type: "submit", class: "btn primary", testid: "login-submit" }, t("auth.login"));

  async function login(event) {
    event.preventDefault();
    submit.disabled = true;
    message.hidden = true;
    try {
      const me = await api.post("/v1/session", { name: name.value.trim(), password: password.value });
      onSuccess(me);
    } catch (error) {
      message.hidden = false;
      if (error.status === 429) {
        message.textContent = t("auth.too_many", { s: error.retryAfter || "60" });
      } else if (error.status === 401 && error.detail === WRONG) {
        message.textContent = t("auth.wrong");
      } else if (error.status === 401) {
        message.textContent = `${t("auth.refused")}: ${error.detail}`;
      } else {
        message.textContent = `${t("common.error")}: ${error.message}`;
      }
      password.value = "";
      password.focus();
    } finally {
      submit.disabled = false;
    }
  }

  clear(
    root,
    h(
      "div",
      { class: "login-wrap" },
      h(
        "form",
        { class: "login", testid: "login-form", on: { submit: login } },
        h("div", { class: "login-brand" }, h("span", { class: "brand-mark" }, "Steward"), h("h1", {}, t("app.title"))),
        h("label", { for: "login-name" }, t("auth.name")),
        name,
        h("label", { for: "login-password" }, t("auth.password")),
        password,
        message,
        submit,
        h("div", { class: "login-foot" },
          h("button", { type: "button", class: "btn ghost", testid: "lang-switch", on: { click: switchLang } }, t("lang.switch_to")),
        ),
      ),
    ),
  );
  name.focus();
}
