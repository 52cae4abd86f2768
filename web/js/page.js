// The shared layout of every page: header (brand, navigation, language
// switch), who the certificate says you are, the page's own sections, and
// a footer with the time in the register's zone. Each HTML page only says
// which page it is (<body data-page="staff|officer|auditor">).

import { el, replace } from "./dom.js";
import * as i18n from "./i18n.js";
import { t, tn } from "./i18n.js";
import { ctx, showError } from "./ui.js";
import { whoami, ApiError } from "./api.js";
import { formatDateTime, registerZone } from "./time.js";

const PAGES = {
  staff: { href: "index.html", role: "staff" },
  officer: { href: "officer.html", role: "officer" },
  auditor: { href: "auditor.html", role: "auditor" },
  enrol: { href: "enrol.html", role: null },
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
  if (role && Array.isArray(w.roles) && !w.roles.includes(role)) {
    box.appendChild(el("p", { class: "notice", id: "role-notice" },
      t("who.not_your_role", { role: t(`role.${role}`) })));
  }
  return box;
}

// The page's own part: its title and lead, then what js/<page>.js builds
// in #app once the identity is known. Built once; the language switch
// relabels it in place (see i18n.tn), so nothing typed is lost.
function main() {
  const p = state.page;
  return el("main", { id: "main" },
    el("h1", { id: "page-title" }, tn(`${p}.title`)),
    el("p", { class: "lead" }, tn(`${p}.lead`)),
    el("div", { id: "app" }));
}

function footer() {
  const zone = registerZone(state.who);
  return el("footer", { class: "foot" },
    el("span", { id: "shown-at" }, t("footer.shown_at", {
      time: formatDateTime(state.loaded, i18n.language(), zone), zone,
    })));
}

const slots = {};

function render() {
  document.title = `${t("app.title")} — ${t(`nav.${state.page}`)}`;
  if (!slots.main) {
    slots.header = header();
    slots.identity = identity();
    slots.main = main();
    slots.footer = footer();
    replace(document.body, slots.header, slots.identity, slots.main,
      slots.footer);
  } else {
    for (const [name, make] of [["header", header], ["identity", identity],
      ["footer", footer]]) {
      const next = make();
      slots[name].replaceWith(next);
      slots[name] = next;
    }
  }
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
  ctx.who = state.who;
  ctx.zone = registerZone(state.who);
  render();
  if (state.who) {
    try {
      const mod = await import(`./${state.page}.js`);
      await mod.mount(document.getElementById("app"));
    } catch (e) {
      console.error(e);
      showError(document.getElementById("app"), e);
    }
  }
  document.body.dataset.ready = "1";
}

start();
