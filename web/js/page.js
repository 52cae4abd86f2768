// The shared layout of every page: header (brand, navigation, language
// switch), who the certificate says you are, the page's own sections, and
// a footer with the time in the register's zone. Each HTML page only says
// which page it is (<body data-page="staff|officer|auditor">).

import { el, replace } from "./dom.js";
import * as i18n from "./i18n.js";
import { t } from "./i18n.js";
import { whoami, ApiError } from "./api.js";
import { formatDateTime, registerZone } from "./time.js";

const PAGES = {
  staff: { href: "index.html", role: "staff" },
  officer: { href: "officer.html", role: "officer" },
  auditor: { href: "auditor.html", role: "auditor" },
};

// What each page will offer once the JSON API has it (message keys).
const COMING = {
  staff: ["staff.coming.upload", "staff.coming.status", "staff.coming.held",
    "staff.coming.exception"],
  officer: ["officer.coming.held", "officer.coming.exceptions",
    "officer.coming.history"],
  auditor: ["auditor.coming.trail", "auditor.coming.verify",
    "auditor.coming.export"],
};

const state = {
  page: PAGES[document.body.dataset.page] ? document.body.dataset.page : "staff",
  who: null,        // whoami's answer
  whoError: null,   // ApiError or Error
  loaded: new Date(),
};

function header() {
  const nav = el("nav", { class: "nav", "aria-label": t("nav.label") },
    ...Object.entries(PAGES).map(([name, p]) => el("a", {
      href: p.href, id: `nav-${name}`,
      "aria-current": name === state.page ? "page" : null,
    }, t(`nav.${name}`))));
  const sw = el("div", { class: "lang", role: "group", "aria-label": t("lang.label") },
    ...i18n.LANGUAGES.map((lang) => {
      const b = el("button", {
        type: "button", id: `lang-${lang}`, lang,
        "aria-pressed": lang === i18n.language() ? "true" : "false",
      }, lang === "ja" ? "日本語" : "English");
      b.addEventListener("click", () => {
        i18n.setLanguage(lang);
        render();
      });
      return b;
    }));
  return el("header", { class: "bar" },
    el("div", { class: "brand" }, el("span", { class: "mark", lang: "ja" }, "関所"),
      " ", t("app.name")),
    nav, sw);
}

function rolesText(who) {
  if (!Array.isArray(who.roles)) return t("who.roles.unknown");
  if (who.roles.length === 0) return t("who.roles.none");
  return who.roles.map((r) => {
    const key = `role.${r}`;
    const name = t(key);
    return name === key ? String(r) : name;
  }).join(t("list.sep"));
}

function identity() {
  const box = el("section", { class: "identity", id: "identity",
    "aria-labelledby": "identity-title" },
  el("h2", { id: "identity-title" }, t("who.title")));
  if (state.whoError) {
    const e = state.whoError;
    const msg = e instanceof ApiError && e.messages ?
      e.messages[i18n.language()] || e.messages.en : null;
    box.appendChild(el("p", { class: "error", id: "who-error", role: "alert" },
      t("who.error"), msg ? ` ${msg}` : ` (${e.message})`));
    return box;
  }
  if (!state.who) {
    box.appendChild(el("p", { class: "muted" }, t("who.loading")));
    return box;
  }
  const w = state.who;
  const row = (id, label, value) => [el("dt", {}, label),
    el("dd", { id }, value === undefined || value === null || value === "" ?
      t("who.none") : value)];
  box.appendChild(el("dl", { class: "who" },
    ...row("who-user", t("who.user"), w.user),
    ...row("who-dept", t("who.dept"), w.dept),
    ...row("who-terminal", t("who.terminal"), w.terminal),
    ...row("who-roles", t("who.roles"), rolesText(w))));
  const role = PAGES[state.page].role;
  if (Array.isArray(w.roles) && !w.roles.includes(role)) {
    box.appendChild(el("p", { class: "notice", id: "role-notice" },
      t("who.not_your_role", { role: t(`role.${role}`) })));
  }
  return box;
}

function main() {
  const p = state.page;
  return el("main", { id: "main" },
    el("h1", { id: "page-title" }, t(`${p}.title`)),
    el("p", { class: "lead" }, t(`${p}.lead`)),
    el("section", { class: "card", id: "available" },
      el("h2", {}, t("available.title")),
      el("ul", {}, el("li", {}, t("available.identity")),
        el("li", {}, t(`${p}.available`)))),
    el("section", { class: "card coming", id: "coming" },
      el("h2", {}, t("coming.title")),
      el("p", {}, t("coming.lead")),
      el("ul", {}, ...COMING[p].map((k) => el("li", {}, t(k))))));
}

function footer() {
  const zone = registerZone(state.who);
  return el("footer", { class: "foot" },
    el("span", { id: "shown-at" }, t("footer.shown_at", {
      time: formatDateTime(state.loaded, i18n.language(), zone), zone,
    })));
}

function render() {
  document.title = `${t("app.title")} — ${t(`nav.${state.page}`)}`;
  replace(document.body, header(), identity(), main(), footer());
  document.body.dataset.ready = "1";
}

async function start() {
  try {
    await i18n.init();
  } catch (e) {
    // Without the catalogues the page still shows who you are, in keys.
    console.warn(String(e));
  }
  render();
  try {
    state.who = await whoami();
  } catch (e) {
    state.whoError = e;
  }
  render();
}

start();
