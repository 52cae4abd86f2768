// Pieces the pages share: error lines, the one-time code prompt, sizes,
// dates, state names, and tables. Text always goes through dom.js.

import { el, replace } from "./dom.js";
import { ApiError, PageError } from "./api.js";
import { language, t, tn } from "./i18n.js";
import { formatDateTime } from "./time.js";

export const ctx = { who: null, zone: "Asia/Tokyo" };

// What an error says, in the current language: the broker's message in
// this language (English if it has none) and its code; the page's own
// message for a PageError; a network failure otherwise.
export function errorText(e) {
  if (e instanceof ApiError) {
    const m = e.messages || {};
    const msg = m[language()] || m.en || m.ja || t("error.http", { status: e.status });
    const extra = [e.detail.field && t("error.field", { field: e.detail.field }),
      e.detail.rule && t("error.rule", { rule: e.detail.rule }),
      e.detail.reason && t("error.reason", { reason: e.detail.reason })]
      .filter(Boolean).join(t("list.sep"));
    return `${msg}${extra ? ` (${extra})` : ""} [${e.code || e.status}]`;
  }
  if (e instanceof PageError) return t(e.key, e.params);
  if (e && e.name === "AbortError") return t("error.timeout");
  return t("error.network", { detail: String(e && e.message ? e.message : e) });
}

// A red line in box saying what went wrong (role=alert), with the error's
// code in data-code for tests and support calls.
export function showError(box, e) {
  const p = el("p", { class: "error", role: "alert",
    "data-code": e instanceof ApiError ? e.code || String(e.status) : "page" },
  errorText(e));
  replace(box, p);
  return p;
}

export function showOk(box, key, params) {
  replace(box, el("p", { class: "ok", role: "status" }, t(key, params)));
}

// Asks for the six-digit one-time code in a modal dialog; resolves with
// the code, or null when cancelled. reasonKey explains why it is asked.
export function askOtp(reasonKey = "otp.why") {
  return new Promise((resolve) => {
    const input = el("input", { id: "otp-input", type: "text",
      inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}",
      maxlength: "6", required: "required", "aria-describedby": "otp-why" });
    const bad = el("p", { class: "error", id: "otp-bad", hidden: "hidden" },
      t("otp.bad"));
    const ok = el("button", { type: "submit", id: "otp-ok" }, t("otp.ok"));
    const cancel = el("button", { type: "button", id: "otp-cancel" },
      t("otp.cancel"));
    const form = el("form", { method: "dialog" },
      el("h2", {}, t("otp.title")),
      el("p", { id: "otp-why" }, t(reasonKey)),
      el("label", { for: "otp-input" }, t("otp.label")), " ", input, bad,
      el("p", { class: "buttons" }, ok, " ", cancel));
    const dlg = el("dialog", { id: "otp-dialog", class: "otp" }, form);
    let done = false;
    const finish = (v) => {
      if (done) return;
      done = true;
      dlg.close();
      dlg.remove();
      resolve(v);
    };
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const v = input.value.trim();
      if (!/^[0-9]{6}$/.test(v)) {
        bad.hidden = false;
        input.focus();
        return;
      }
      finish(v);
    });
    cancel.addEventListener("click", () => finish(null));
    dlg.addEventListener("cancel", () => finish(null));
    document.body.appendChild(dlg);
    dlg.showModal();
    input.focus();
  });
}

// The broker's answers that call for a (new) one-time code: none given
// yet, or the one given was wrong or used before. "locked" (too many wrong
// codes) is not one: it is shown, with when to try again.
const STEP_UP_CODES = new Set(["step_up_required", "step_up_failed"]);

// Runs fn(otp) (otp undefined at first); when the broker answers that a
// one-time code is needed (or the one given was wrong), asks for one and
// runs fn again with it. Rejects with PageError("otp.cancelled") when the
// user cancels.
export async function withStepUp(fn, reasonKey) {
  let otp;
  for (let i = 0; i < 4; i++) {
    try {
      return await fn(otp);
    } catch (e) {
      if (!(e instanceof ApiError) || !STEP_UP_CODES.has(e.code) || i === 3) {
        throw e;
      }
      if (otp !== undefined) {
        // the code was refused: say so in the next prompt
        reasonKey = "otp.again";
      }
      otp = await askOtp(reasonKey);
      if (otp === null) throw new PageError("otp.cancelled");
    }
  }
  throw new PageError("otp.cancelled");
}

export function formatSize(n) {
  if (typeof n !== "number" || !Number.isFinite(n)) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  const num = u === 0 ? String(v) : v.toFixed(v < 10 ? 1 : 0);
  return `${num} ${units[u]} (${n.toLocaleString(language() === "ja" ? "ja-JP" : "en-GB")} ${t("size.bytes")})`;
}

// An RFC 3339 time (or unix seconds) in the register's zone; the text as
// given when it is not a time.
export function formatTime(v) {
  if (v === undefined || v === null || v === "") return "";
  const d = typeof v === "number" ? new Date(v * 1000) : new Date(String(v));
  if (Number.isNaN(d.getTime())) return String(v);
  return formatDateTime(d, language(), ctx.zone);
}

// The name of a transfer state in the current language (the code itself
// for a state this page does not know).
export function stateName(state) {
  const key = `state.${state}`;
  const s = t(key);
  return s === key ? String(state) : s;
}

// A word from a family of keys (prefix.value), or the value itself.
export function word(prefix, value) {
  const key = `${prefix}.${value}`;
  const s = t(key);
  return s === key ? String(value) : s;
}

// A table: columns [{key (message key of the header), cell(item) -> node
// or text}], one row per item; rowAttrs(item) gives the row's attributes.
export function table(id, columns, items, rowAttrs) {
  return el("table", { id, class: "list" },
    el("thead", {}, el("tr", {}, ...columns.map((c) => el("th", { scope: "col" },
      t(c.key))))),
    el("tbody", {}, ...items.map((it) => el("tr", rowAttrs ? rowAttrs(it) : {},
      ...columns.map((c) => el("td", { "data-col": c.name || null }, c.cell(it)))))));
}

// A section card with a live heading.
export function card(id, titleKey, ...children) {
  return el("section", { class: "card", id, "aria-labelledby": `${id}-title` },
    el("h2", { id: `${id}-title` }, tn(titleKey)), ...children);
}

// A labelled field: <p><label for=id>text</label> control</p>.
export function field(labelKey, control, hintKey) {
  return el("p", { class: "field" },
    el("label", { for: control.id }, tn(labelKey)), " ", control,
    hintKey ? el("span", { class: "hint" }, " ", tn(hintKey)) : null);
}

export function button(id, key, onClick, attrs = {}) {
  const b = el("button", { type: "button", id, ...attrs }, tn(key));
  if (onClick) b.addEventListener("click", onClick);
  return b;
}

// Periodic refresh that stops while the tab is hidden.
export function every(ms, fn) {
  let timer = null;
  const tick = async () => {
    timer = null;
    if (!document.hidden) {
      try {
        await fn();
      } catch (e) {
        // fn shows its own errors
      }
    }
    timer = setTimeout(tick, ms);
  };
  tick();
  return () => { if (timer) clearTimeout(timer); };
}

// "2026-12-08T00:00:00Z" from an <input type="date"> value taken as the
// start of that day in the register's zone (end: the day after's start).
export function dayBoundary(value, end = false) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value || "")) return "";
  const [y, m, d] = value.split("-").map(Number);
  const guess = Date.UTC(y, m - 1, d + (end ? 1 : 0));
  // The zone's offset at that instant, from Intl (no table of our own).
  const parts = new Intl.DateTimeFormat("en-US", { timeZone: ctx.zone,
    hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit" }).formatToParts(
    new Date(guess));
  const p = Object.fromEntries(parts.map((x) => [x.type, x.value]));
  const asUtc = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute,
    +p.second);
  const at = new Date(guess - (asUtc - guess));
  return at.toISOString().replace(/\.\d{3}Z$/, "Z");
}
