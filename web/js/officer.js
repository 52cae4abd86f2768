// The approval officer's page: transfers held for approval (open the
// file, approve or reject with a comment), and exceptions (grant, refuse,
// revoke, confirm an emergency one). Officer actions need a one-time code:
// the page asks for one when the broker says so.

import { el, replace } from "./dom.js";
import { getJSON, postJSON, query, PageError } from "./api.js";
import { onLanguage, t, tn } from "./i18n.js";
import {
  button, card, every, formatSize, formatTime, showError, showOk, stateName,
  table, withStepUp,
} from "./ui.js";
import { exceptionColumns } from "./staff.js";

const REFRESH_MS = 10000;
const s = { held: [], exceptions: [], steppedUp: false, filter: "" };

const enc = encodeURIComponent;

// ---- held transfers ----------------------------------------------------------

async function decide(item, verb, comment) {
  const out = document.getElementById("held-result");
  if (verb === "reject" && !comment) {
    showError(out, new PageError("officer.need.comment"));
    return;
  }
  try {
    const r = await withStepUp((otp) => postJSON(
      `/api/v1/approvals/${enc(item.transfer)}/${verb}`,
      { ...(comment ? { comment } : {}), ...(otp ? { otp } : {}) }),
    "otp.why.officer");
    showOk(out, verb === "approve" ? "officer.approved" : "officer.rejected",
      { transfer: item.transfer, state: r && r.state ? stateName(r.state) : "" });
  } catch (e) {
    showError(out, e);
  }
  loadHeld(false);
}

function heldActions(x) {
  const id = `c-${x.transfer}`;
  const comment = el("input", { type: "text", id, class: "comment",
    maxlength: "500", "aria-label": t("officer.comment"),
    "data-key": x.transfer });
  comment.placeholder = t("officer.comment");
  const approve = button(null, "officer.approve", () => decide(x, "approve",
    comment.value.trim()), { class: "approve", "data-transfer": x.transfer,
    disabled: x.voted ? "disabled" : null });
  const reject = button(null, "officer.reject", () => decide(x, "reject",
    comment.value.trim()), { class: "reject", "data-transfer": x.transfer });
  return el("div", { class: "actions" },
    el("a", { href: `/api/v1/approvals/${enc(x.transfer)}/file`, class: "download",
      download: "", "data-transfer": x.transfer }, t("officer.open")),
    el("br"), comment, el("br"), approve, " ", reject,
    x.voted ? el("span", { class: "muted" }, ` ${t("officer.voted")}`) : null);
}

const HELD_COLUMNS = [
  { key: "col.time", name: "time", cell: (x) => [formatTime(x.created),
    el("br"), el("span", { class: "muted" }, t("officer.expires",
      { time: formatTime(x.expires) }))] },
  { key: "col.who", name: "who", cell: (x) => [x.user, el("br"),
    el("span", { class: "muted" }, `${x.dept || ""}${x.terminal ? ` / ${x.terminal}` : ""}`)] },
  { key: "col.name", name: "name", cell: (x) => [x.name, el("br"),
    el("span", { class: "muted" }, formatSize(x.size)), el("br"),
    el("code", { class: "hash" }, x.sha256 || "")] },
  { key: "col.interface", name: "interface", cell: (x) => x.interface },
  { key: "col.class", name: "class", cell: (x) => t("class.name", { n: x.class }) },
  { key: "col.purpose", name: "purpose", cell: (x) => x.purpose },
  { key: "col.votes", name: "votes", cell: (x) => t("officer.votes",
    { n: x.approvals, m: x.required, who: x.approvers }) },
  { key: "col.actions", name: "actions", cell: heldActions },
];

// What was typed in the comment boxes, by transfer or exception, so that
// a refresh of the list does not lose it.
function typedComments(box) {
  const out = new Map();
  for (const i of box.querySelectorAll("input.comment[data-key]")) {
    if (i.value) out.set(i.dataset.key, i.value);
  }
  return out;
}

function restoreComments(box, typed) {
  for (const i of box.querySelectorAll("input.comment[data-key]")) {
    if (typed.has(i.dataset.key)) i.value = typed.get(i.dataset.key);
  }
}

function renderHeld(force = true) {
  const box = document.getElementById("held-list");
  if (!box) return;
  // The timer's refresh leaves the table alone when nothing changed.
  const now = JSON.stringify(s.held);
  if (!force && now === s.heldShown) return;
  s.heldShown = now;
  const typed = typedComments(box);
  replace(box, s.held.length ? table("held-table", HELD_COLUMNS, s.held,
    (x) => ({ "data-transfer": x.transfer })) :
    el("p", { class: "muted", id: "held-empty" }, t("officer.none")));
  restoreComments(box, typed);
}

// ask: whether a one-time code may be asked for (not on the timer).
async function loadHeld(ask = true) {
  const err = document.getElementById("held-error");
  try {
    const get = (otp) => getJSON("/api/v1/approvals", { otp });
    const r = ask ? await withStepUp(get, "otp.why.officer") : await get();
    s.held = Array.isArray(r && r.items) ? r.items : [];
    s.steppedUp = true;
    replace(err);
    renderHeld(ask);
  } catch (e) {
    if (!ask && e.code === "step_up_required") s.steppedUp = false;
    showError(err, e);
  }
}

function heldCard() {
  onLanguage(() => renderHeld(true));
  return card("held", "officer.held.title",
    el("p", { class: "muted" }, tn("officer.held.lead")),
    el("p", {}, button("held-reload", "officer.reload", () => loadHeld(true))),
    el("div", { id: "held-error" }),
    el("div", { id: "held-list" }),
    el("div", { id: "held-result", "aria-live": "polite" }));
}

// ---- exceptions ---------------------------------------------------------------

const EX_ACTIONS = {
  requested: ["grant", "refuse"],
  active: ["revoke", "confirm"],
};
// The body field each action's text goes in, and whether it is required.
const EX_TEXT = { grant: ["comment", false], refuse: ["comment", true],
  revoke: ["reason", true], confirm: ["comment", false] };

async function exAction(x, verb, text) {
  const out = document.getElementById("ex-result");
  const [name, required] = EX_TEXT[verb];
  if (required && !text) {
    showError(out, new PageError("officer.need.comment"));
    return;
  }
  try {
    await withStepUp((otp) => postJSON(
      `/api/v1/exceptions/${enc(x.exception)}/${verb}`,
      { ...(text ? { [name]: text } : {}), ...(otp ? { otp } : {}) }),
    "otp.why.officer");
    showOk(out, `officer.ex.done.${verb}`, { id: x.exception });
  } catch (e) {
    showError(out, e);
  }
  loadExceptions(false);
}

function exActions(x) {
  const verbs = (EX_ACTIONS[x.status] || []).filter((v) => v !== "confirm" ||
    x.emergency);
  if (!verbs.length) return null;
  const text = el("input", { type: "text", class: "comment", maxlength: "500",
    "aria-label": t("officer.comment"), "data-key": x.exception });
  text.placeholder = t("officer.comment");
  return el("div", { class: "actions" }, text, el("br"),
    ...verbs.flatMap((v) => [button(null, `officer.ex.${v}`, () => exAction(x, v,
      text.value.trim()), { class: `ex-${v}`, "data-exception": x.exception }), " "]));
}

function renderExceptions() {
  const box = document.getElementById("ex-list");
  if (!box) return;
  const typed = typedComments(box);
  replace(box, s.exceptions.length ? table("ex-table", exceptionColumns(exActions),
    s.exceptions, (x) => ({ "data-exception": x.exception, "data-status": x.status })) :
    el("p", { class: "muted" }, t("ex.none")));
  restoreComments(box, typed);
}

async function loadExceptions(ask = true) {
  const err = document.getElementById("ex-error");
  try {
    const get = (otp) => getJSON(`/api/v1/exceptions${query({ filter: s.filter })}`,
      { otp });
    const r = ask ? await withStepUp(get, "otp.why.officer") : await get();
    s.exceptions = Array.isArray(r && r.items) ? r.items : [];
    replace(err);
    renderExceptions();
  } catch (e) {
    showError(err, e);
  }
}

function exceptionsCard() {
  const filter = el("select", { id: "ex-filter" });
  const fill = () => {
    const v = filter.value;
    replace(filter, ...["", "requested", "active", "refused", "revoked"].map((f) =>
      el("option", { value: f }, f ? t(`exstatus.${f}`) : t("officer.ex.all"))));
    filter.value = v;
  };
  fill();
  filter.addEventListener("change", () => {
    s.filter = filter.value;
    loadExceptions(true);
  });
  onLanguage(() => {
    fill();
    renderExceptions();
  });
  return card("exceptions", "officer.ex.title",
    el("p", { class: "muted" }, tn("officer.ex.lead")),
    el("p", {}, el("label", { for: "ex-filter" }, tn("officer.ex.filter")), " ", filter,
      " ", button("ex-reload", "officer.reload", () => loadExceptions(true)), " ",
      el("a", { href: "/api/v1/exceptions/inventory.csv", id: "ex-inventory",
        download: "" }, tn("officer.ex.inventory"))),
    el("div", { id: "ex-error" }),
    el("div", { id: "ex-list" }),
    el("div", { id: "ex-result", "aria-live": "polite" }));
}

export async function mount(app) {
  replace(app, heldCard(), exceptionsCard());
  await loadHeld(true);
  if (s.steppedUp) await loadExceptions(false);
  every(REFRESH_MS, async () => {
    if (s.steppedUp) await loadHeld(false);
  });
}
