// The auditor's page: a period, the signed bundle of that period (for
// `sekisho audit verify`), the CSV export, a search of the records with
// paging, and the timeline of one transfer.

import { el, replace } from "./dom.js";
import { getJSON, query } from "./api.js";
import { onLanguage, t, tn } from "./i18n.js";
import { button, card, ctx, field, formatTime, showError, table } from "./ui.js";

const PAGE = 50;
const s = { records: [], next: null, params: null, timeline: null,
  timelineId: null };

// Fields shown in their own column; the rest go into "details".
const SHOWN = new Set(["seq", "time", "at", "type", "user", "interface", "transfer"]);

function dateInput(id, value) {
  return el("input", { id, type: "date", value });
}

// "2026-12-08": the day of date d in the register's zone (not the
// terminal's, and not UTC: at 08:00 in Tokyo it is still yesterday in UTC).
function zoneDay(d) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: ctx.zone, year: "numeric",
    month: "2-digit", day: "2-digit" }).format(d);
}

// The period as days; the broker takes a day as that day in the register's
// zone, the whole of it (until included).
function period() {
  return {
    since: document.getElementById("since").value,
    until: document.getElementById("until").value,
  };
}

function updateLinks() {
  const p = period();
  const bundle = document.getElementById("bundle-link");
  bundle.setAttribute("href", `/api/v1/audit/bundle${query(p)}`);
  for (const h of ["ja", "en"]) {
    document.getElementById(`csv-${h}`).setAttribute("href",
      `/api/v1/audit/export.csv${query({ ...p, header: h })}`);
  }
}

function periodCard() {
  const today = new Date();
  const week = new Date(today.getTime() - 6 * 86400000);
  const since = dateInput("since", zoneDay(week));
  const until = dateInput("until", zoneDay(today));
  since.addEventListener("change", updateLinks);
  until.addEventListener("change", updateLinks);
  return card("period", "auditor.period.title",
    el("p", { class: "muted" }, tn("auditor.period.lead")),
    field("auditor.since", since), field("auditor.until", until),
    el("ul", {},
      el("li", {}, el("a", { id: "bundle-link", href: "/api/v1/audit/bundle",
        download: "" }, tn("auditor.bundle")), " ",
      el("span", { class: "muted" }, tn("auditor.bundle.hint"))),
      el("li", {}, el("a", { id: "csv-ja", href: "/api/v1/audit/export.csv",
        download: "" }, tn("auditor.csv.ja")), " / ",
      el("a", { id: "csv-en", href: "/api/v1/audit/export.csv", download: "" },
        tn("auditor.csv.en")))));
}

function details(r) {
  return Object.entries(r).filter(([k, v]) => !SHOWN.has(k) && v !== null &&
    v !== undefined && v !== "").map(([k, v]) => `${k}=${typeof v === "object" ?
    JSON.stringify(v) : String(v)}`).join(" ");
}

function transferLink(r) {
  if (!r.transfer) return "";
  const a = el("a", { href: `#transfer-${r.transfer}`, class: "timeline-link",
    "data-transfer": r.transfer }, r.transfer);
  a.addEventListener("click", (e) => {
    e.preventDefault();
    loadTimeline(r.transfer);
  });
  return a;
}

const COLUMNS = [
  { key: "col.seq", name: "seq", cell: (r) => String(r.seq ?? "") },
  { key: "col.time", name: "time", cell: (r) => formatTime(r.time ?? r.at) },
  { key: "col.type", name: "type", cell: (r) => r.type || "" },
  { key: "col.who", name: "user", cell: (r) => r.user || "" },
  { key: "col.interface", name: "interface", cell: (r) => r.interface || "" },
  { key: "col.transfer", name: "transfer", cell: transferLink },
  { key: "col.detail", name: "detail", cell: details },
];

function renderRecords() {
  const box = document.getElementById("records");
  if (!box || !s.params) return;
  replace(box, s.records.length ?
    table("records-table", COLUMNS, s.records, (r) => ({ "data-seq": r.seq })) :
    el("p", { class: "muted", id: "records-none" }, t("auditor.none")),
  el("p", { class: "muted", id: "records-count" }, t("auditor.count",
    { n: s.records.length })));
  document.getElementById("more").hidden = !s.next;
}

async function search(more) {
  const err = document.getElementById("search-error");
  if (!more) {
    const v = (id) => document.getElementById(id).value.trim();
    s.params = { user: v("q-user"), interface: v("q-interface"),
      transfer: v("q-transfer"), type: v("q-type"), ...period(), limit: PAGE };
    s.records = [];
    s.next = null;
  }
  try {
    const r = await getJSON(`/api/v1/audit/records${query({ ...s.params,
      after: more ? s.next : "" })}`);
    s.records = s.records.concat(Array.isArray(r && r.items) ? r.items : []);
    s.next = r && r.next ? r.next : null;
    replace(err);
    renderRecords();
  } catch (e) {
    showError(err, e);
  }
}

function searchCard() {
  const input = (id) => el("input", { id, type: "text", autocomplete: "off",
    maxlength: "128" });
  const form = el("form", { id: "search-form" },
    field("auditor.q.user", input("q-user")),
    field("auditor.q.interface", input("q-interface")),
    field("auditor.q.transfer", input("q-transfer")),
    field("auditor.q.type", input("q-type"), "auditor.q.type.hint"),
    el("p", {}, el("button", { type: "submit", id: "search" }, tn("auditor.search"))));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    search(false);
  });
  const more = button("more", "auditor.more", () => search(true), { hidden: "hidden" });
  onLanguage(() => {
    renderRecords();
    renderTimeline();
  });
  return card("search-card", "auditor.search.title",
    el("p", { class: "muted" }, tn("auditor.search.lead")), form,
    el("div", { id: "search-error" }), el("div", { id: "records" }), more);
}

function renderTimeline() {
  const box = document.getElementById("timeline");
  if (!box || !s.timelineId) return;
  replace(box, el("h3", {}, t("auditor.timeline.of", { transfer: s.timelineId })),
    s.timeline && s.timeline.length ? el("ol", { id: "timeline-list" },
      ...s.timeline.map((r) => el("li", { "data-type": r.type || "" },
        el("strong", {}, r.type || ""), " ", formatTime(r.time ?? r.at), " ",
        r.user || "", " ", el("span", { class: "muted" }, details(r))))) :
      el("p", { class: "muted" }, t("auditor.none")));
}

async function loadTimeline(id) {
  const box = document.getElementById("timeline");
  s.timelineId = id;
  s.timeline = null;
  try {
    const r = await getJSON(`/api/v1/audit/transfers/${encodeURIComponent(id)}`);
    s.timeline = Array.isArray(r && r.items) ? r.items : [];
    renderTimeline();
    box.scrollIntoView();
  } catch (e) {
    showError(box, e);
  }
}

export async function mount(app) {
  replace(app, periodCard(), searchCard(),
    card("timeline-card", "auditor.timeline.title", el("div", { id: "timeline" },
      el("p", { class: "muted" }, tn("auditor.timeline.lead")))));
  updateLinks();
}
