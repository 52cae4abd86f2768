// The staff page: send files (drag and drop or the file picker) through an
// interface of the register, see one's own transfers as they move on,
// withdraw a held one, and ask for an exception.

import { el, replace, setText } from "./dom.js";
import { getJSON, postJSON, query, PageError } from "./api.js";
import { onLanguage, t, tn, ta } from "./i18n.js";
import { sha256File } from "./sha256.js";
import { Upload, storageKey } from "./tus.js";
import {
  button, card, ctx, dayBoundary, errorText, every, field, formatSize,
  formatTime, showError, showOk, stateName, table, withStepUp, word,
} from "./ui.js";

const CLASSES = ["1", "2", "3"];
const REFRESH_MS = 3000;

const s = {
  interfaces: [],     // GET /api/v1/interfaces items
  files: [],          // {file, id, row, hash (Promise), sha256, upload, state}
  transfers: [],
  nextFileId: 0,
  confirmWithdraw: null,
};

function iface(id) {
  return s.interfaces.find((i) => i.id === id) || null;
}

// ---- the interface, its rules, class and purpose -----------------------

function interfaceOptions(select, withEmpty = true) {
  replace(select,
    withEmpty ? el("option", { value: "" }, t("staff.choose")) : null,
    ...s.interfaces.map((i) => el("option", { value: i.id },
      i.title ? `${i.id} — ${i.title}` : i.id)));
}

function rulesOf(i) {
  if (!i) return [el("p", { class: "muted" }, t("staff.rules.none"))];
  const yes = (b) => t(b ? "word.yes" : "word.no");
  const rows = [
    ["staff.rules.classes", (i.classes || []).map((c) => t("class.name",
      { n: c })).join(t("list.sep")) || t("who.none")],
    ["staff.rules.hours", i.hours || t("staff.rules.any_time")],
    // Without a limit of its own, the broker's limit for every file.
    ["staff.rules.max_size", typeof i.max_size === "number" ?
      formatSize(i.max_size) : ctx.who && typeof ctx.who.max_size === "number" ?
        formatSize(ctx.who.max_size) : t("staff.rules.any_size")],
    ["staff.rules.extensions", (i.extensions || []).length ?
      `${i.extensions.join(" ")}${i.extensions_more ? " …" : ""}` :
      t("staff.rules.any_extension")],
    ["staff.rules.approval", i.approval ? t("staff.rules.approval_yes",
      { n: i.approvals_required || 1 }) : yes(false)],
    ["staff.rules.stepup", yes(Boolean(i.stepup))],
    ["staff.rules.destination", i.destination || t("who.none")],
  ];
  return [el("dl", { class: "rules", id: "rules-list" }, ...rows.flatMap(
    ([k, v]) => [el("dt", {}, t(k)), el("dd", { "data-rule": k.split(".").pop() },
      v)]))];
}

// Rebuilds the class choices for interface i; nothing to do when i is the
// one they were built for (unless force: a language switch).
function classOptions(select, i, force = false) {
  if (!force && select.options.length && i === s.lastIface) return;
  const allowed = new Set(i ? (i.classes || []).map(String) : CLASSES);
  const def = i && i.default_class !== undefined && i.default_class !== null ?
    String(i.default_class) : "";
  const keep = select.value;
  // No class is chosen for the user unless the interface says so.
  replace(select, el("option", { value: "" }, t("staff.choose")),
    ...CLASSES.map((c) => el("option", { value: c },
      // 機密性3 never leaves (policy.md: builtin:class3).
      c === "3" ? t("class.never", { n: c }) :
        allowed.has(c) ? t("class.name", { n: c }) :
          t("class.not_here", { n: c }))));
  select.value = def || (CLASSES.includes(keep) && i === s.lastIface ? keep : "");
  s.lastIface = i;
}

// ---- files ---------------------------------------------------------------

function fileRow(f) {
  const id = `file-${f.id}`;
  f.nameEl = el("span", { class: "fname", "data-field": "name" }, f.file.name);
  f.hashEl = el("code", { class: "hash", "data-field": "sha256" }, t("staff.hashing"));
  f.bar = el("progress", { max: String(Math.max(f.file.size, 1)), value: "0",
    "aria-label": f.file.name });
  f.statusEl = el("span", { class: "fstatus", "data-field": "status" },
    t("staff.file.ready"));
  f.msgEl = el("div", { class: "fmsg", "data-field": "message" });
  f.pauseBtn = button(`${id}-pause`, "staff.pause", () => togglePause(f),
    { class: "pause", hidden: "hidden" });
  f.removeBtn = button(`${id}-remove`, "staff.remove", () => removeFile(f),
    { class: "remove" });
  f.row = el("li", { id, class: "file", "data-state": "ready" },
    f.nameEl, " ", el("span", { class: "muted" }, formatSize(f.file.size)),
    el("br"), el("span", { class: "muted" }, "SHA-256: "), f.hashEl, el("br"),
    f.bar, " ", f.statusEl, " ", f.pauseBtn, " ", f.removeBtn, f.msgEl);
  return f.row;
}

function setFileState(f, state, key, params) {
  f.state = state;
  f.row.dataset.state = state;
  setText(f.statusEl, t(key, params));
  f.statusKey = [key, params];
}

function addFiles(list) {
  const box = document.getElementById("files");
  for (const file of Array.from(list || [])) {
    // The same file twice is one file.
    if (s.files.some((x) => storageKey(x.file) === storageKey(file))) continue;
    const f = { file, id: s.nextFileId++, sha256: null, state: "ready" };
    s.files.push(f);
    box.appendChild(fileRow(f));
    f.hash = sha256File(file, (done, total) => {
      if (!f.sha256) setText(f.hashEl, t("staff.hashing_pct",
        { pct: total ? Math.floor((done * 100) / total) : 100 }));
    }).then((h) => {
      f.sha256 = h;
      setText(f.hashEl, h);
      f.row.dataset.sha256 = h;
      return h;
    }, (e) => {
      setText(f.hashEl, errorText(e));
      throw e;
    });
    f.hash.catch(() => {});
  }
  updateSendButton();
}

function removeFile(f) {
  if (f.upload || (f.state !== "ready" && f.state !== "error")) return;
  s.files = s.files.filter((x) => x !== f);
  f.row.remove();
  updateSendButton();
}

function togglePause(f) {
  if (!f.upload) return;
  if (f.upload.paused) {
    f.upload.resume();
    f.pauseBtn.replaceChildren(tn("staff.pause"));
  } else {
    f.upload.pause();
    f.pauseBtn.replaceChildren(tn("staff.resume"));
  }
}

function updateSendButton() {
  const b = document.getElementById("send-button");
  if (b) b.disabled = !s.files.some((f) => f.state === "ready" || f.state === "error");
}

async function sendOne(f, meta) {
  f.removeBtn.hidden = true;
  setFileState(f, "hashing", "staff.file.hashing");
  const sha = await f.hash;
  f.pauseBtn.hidden = false;
  const up = new Upload(f.file, { ...meta, sha256: sha }, {
    onProgress: (done, total) => {
      f.bar.max = Math.max(total, 1);
      f.bar.value = done;
      f.row.dataset.offset = String(done);
      if (f.state === "uploading") {
        setText(f.statusEl, t("staff.file.uploading", {
          pct: total ? Math.floor((done * 100) / total) : 100 }));
      }
    },
    onStatus: (w) => {
      if (w === "uploading") setFileState(f, "uploading", "staff.file.uploading",
        { pct: f.file.size ? Math.floor((f.bar.value * 100) / f.file.size) : 0 });
      else if (w === "retrying") setFileState(f, "retrying", "staff.file.retrying");
      else if (w === "paused") setFileState(f, "paused", "staff.file.paused");
      else if (w === "resuming") setFileState(f, "resuming", "staff.file.resuming");
      else if (w === "creating") setFileState(f, "creating", "staff.file.creating");
    },
  });
  f.upload = up;
  try {
    const transfer = await withStepUp((otp) => {
      if (otp) up.meta.otp = otp;
      return up.run();
    }, "otp.why.upload");
    f.transfer = transfer;
    f.row.dataset.transfer = transfer;
    if (up.resumedFrom !== null) f.row.dataset.resumedFrom = String(up.resumedFrom);
    f.pauseBtn.hidden = true;
    setFileState(f, "sent", "staff.file.sent", { transfer });
    replace(f.msgEl);
    refreshTransfers();
  } catch (e) {
    f.upload = null;
    f.pauseBtn.hidden = true;
    setFileState(f, "error", "staff.file.error");
    showError(f.msgEl, e);
  }
}

async function send(ev) {
  ev.preventDefault();
  const out = document.getElementById("send-result");
  replace(out);
  const meta = {
    interface: document.getElementById("interface").value,
    class: document.getElementById("class").value,
    purpose: document.getElementById("purpose").value.trim(),
  };
  const missing = !meta.interface ? "staff.need.interface" :
    !meta.class ? "staff.need.class" : !meta.purpose ? "staff.need.purpose" :
      !s.files.some((f) => f.state === "ready" || f.state === "error") ?
        "staff.need.files" : null;
  if (missing) {
    showError(out, new PageError(missing));
    return;
  }
  const b = document.getElementById("send-button");
  b.disabled = true;
  // Taken now, so that files added meanwhile (and a second click) never
  // send one of these twice.
  const batch = s.files.filter((x) => x.state === "ready" || x.state === "error");
  for (const f of batch) setFileState(f, "queued", "staff.file.queued");
  for (const f of batch) await sendOne(f, meta);
  updateSendButton();
}

function sendCard() {
  const ifSel = el("select", { id: "interface", name: "interface",
    required: "required" });
  const clSel = el("select", { id: "class", name: "class", required: "required" });
  const purpose = el("input", { id: "purpose", name: "purpose", type: "text",
    maxlength: "200", required: "required", autocomplete: "off" });
  const rules = el("div", { id: "rules", "aria-live": "polite" });
  const picker = el("input", { id: "file-input", type: "file", multiple: "multiple",
    class: "visually-hidden" });
  const drop = el("div", { id: "drop", class: "drop", tabindex: "0",
    role: "button", "aria-describedby": "drop-hint" },
  el("p", { id: "drop-hint" }, tn("staff.drop")),
  el("label", { for: "file-input", class: "pick" }, tn("staff.pick")), picker);
  interfaceOptions(ifSel);
  classOptions(clSel, null);
  ifSel.addEventListener("change", () => {
    const i = iface(ifSel.value);
    replace(rules, ...rulesOf(i));
    classOptions(clSel, i);
  });
  replace(rules, ...rulesOf(null));
  picker.addEventListener("change", () => {
    addFiles(picker.files);
    picker.value = "";
  });
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      picker.click();
    }
  });
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => {
      e.preventDefault();
      e.dataTransfer.dropEffect = "copy";
      drop.classList.add("over");
    });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    addFiles(e.dataTransfer && e.dataTransfer.files);
  });
  const form = el("form", { id: "send-form", novalidate: "novalidate" },
    field("staff.interface", ifSel),
    el("div", { class: "rules-box" }, el("h3", {}, tn("staff.rules")), rules),
    field("staff.class", clSel, "staff.class.hint"),
    field("staff.purpose", purpose),
    drop,
    el("ul", { id: "files", class: "files" }),
    el("p", {}, el("button", { type: "submit", id: "send-button", disabled: "disabled" },
      tn("staff.send"))),
    el("div", { id: "send-result", "aria-live": "polite" }));
  form.addEventListener("submit", send);
  ta(purpose, "placeholder", "staff.purpose.placeholder");
  onLanguage(() => {
    const i = iface(ifSel.value);
    const v = ifSel.value;
    interfaceOptions(ifSel);
    ifSel.value = v;
    const c = clSel.value;
    classOptions(clSel, i, true);
    clSel.value = c;
    replace(rules, ...rulesOf(i));
    for (const f of s.files) {
      if (f.statusKey) setText(f.statusEl, t(...f.statusKey));
      if (!f.sha256) setText(f.hashEl, t("staff.hashing"));
    }
  });
  return card("send", "staff.send.title", form, unfinished());
}

// Uploads this browser left unfinished (a reload, a closed tab): the page
// cannot reopen a file by itself, so it names them.
function unfinished() {
  const names = [];
  try {
    for (let i = 0; i < window.localStorage.length; i++) {
      const k = window.localStorage.key(i);
      if (k && k.startsWith("sekisho.tus.")) names.push(k.slice(12).split("\u0000")[0]);
    }
  } catch (e) {
    return null;
  }
  if (!names.length) return null;
  return el("div", { id: "unfinished", class: "notice" },
    el("p", {}, tn("staff.unfinished")),
    el("ul", {}, ...names.map((n) => el("li", {}, n))));
}

// ---- the user's own transfers ---------------------------------------------

// A destination URL with its %-escapes shown as the characters they are
// (a Japanese file name), as text; the URL as given if it is not UTF-8.
function readable(url) {
  try {
    return decodeURI(String(url));
  } catch (e) {
    return String(url);
  }
}

function detail(tr) {
  const bits = [];
  if (tr.state === "held") {
    bits.push(t("staff.detail.held", { n: tr.approvals || 0, m: tr.required || 1 }));
  }
  if (tr.state === "delivered" && tr.destination) {
    bits.push(t("staff.detail.delivered", { dest: readable(tr.destination) }));
  }
  if (tr.state === "queued" || tr.state === "forwarding") {
    if (tr.destination) bits.push(t("staff.detail.to", { dest: tr.destination }));
    if (tr.attempts) bits.push(t("staff.detail.attempts", { n: tr.attempts }));
  }
  if (tr.state === "receiving") {
    bits.push(t("staff.detail.received", { got: formatSize(tr.received) }));
  }
  if (tr.approval && tr.state !== "held") bits.push(word("approval", tr.approval));
  for (const k of ["error", "reason", "last_error"]) {
    if (tr[k]) bits.push(t("staff.detail.why", { why: word("reason", tr[k]) }));
  }
  if (tr.comment) bits.push(t("staff.detail.comment", { comment: tr.comment }));
  return bits.join(t("list.sep"));
}

function withdrawButton(tr) {
  if (tr.state !== "held" && tr.state !== "receiving") return null;
  const confirming = s.confirmWithdraw === tr.transfer;
  const b = el("button", { type: "button", class: "withdraw",
    "data-transfer": tr.transfer }, t(confirming ? "staff.withdraw.confirm" :
    "staff.withdraw"));
  b.addEventListener("click", async () => {
    if (s.confirmWithdraw !== tr.transfer) {
      s.confirmWithdraw = tr.transfer;
      renderTransfers();
      return;
    }
    s.confirmWithdraw = null;
    const out = document.getElementById("transfers-result");
    try {
      await postJSON(`/api/v1/transfers/${encodeURIComponent(tr.transfer)}/withdraw`,
        {});
      showOk(out, "staff.withdrawn", { transfer: tr.transfer });
    } catch (e) {
      showError(out, e);
    }
    refreshTransfers();
  });
  return b;
}

const TRANSFER_COLUMNS = [
  { key: "col.time", name: "time", cell: (x) => formatTime(x.created) },
  { key: "col.name", name: "name", cell: (x) => x.name },
  { key: "col.size", name: "size", cell: (x) => formatSize(x.size) },
  { key: "col.interface", name: "interface", cell: (x) => x.interface },
  { key: "col.class", name: "class", cell: (x) => t("class.name", { n: x.class }) },
  { key: "col.state", name: "state", cell: (x) => el("span", { class: `state state-${x.state}` },
    stateName(x.state)) },
  { key: "col.detail", name: "detail", cell: detail },
  { key: "col.actions", name: "actions", cell: withdrawButton },
];

// force: rebuild even when the list did not change (a language switch, a
// withdraw button waiting for its confirmation).
function renderTransfers(force = true) {
  const box = document.getElementById("transfers-list");
  if (!box) return;
  const now = JSON.stringify(s.transfers);
  if (!force && now === s.transfersShown) return;
  s.transfersShown = now;
  if (!s.transfers.length) {
    replace(box, el("p", { class: "muted", id: "transfers-empty" }, t("staff.transfers.none")));
    return;
  }
  replace(box, table("transfers-table", TRANSFER_COLUMNS, s.transfers, (x) => ({
    "data-transfer": x.transfer, "data-state": x.state })));
}

async function refreshTransfers() {
  const err = document.getElementById("transfers-error");
  try {
    const r = await getJSON(`/api/v1/transfers${query({ limit: 50 })}`);
    s.transfers = Array.isArray(r && r.items) ? r.items : [];
    replace(err);
    renderTransfers(false);
  } catch (e) {
    showError(err, e);
  }
}

function transfersCard() {
  onLanguage(() => renderTransfers(true));
  return card("transfers", "staff.transfers.title",
    el("p", { class: "muted" }, tn("staff.transfers.lead")),
    el("div", { id: "transfers-error" }),
    el("div", { id: "transfers-list" }),
    el("div", { id: "transfers-result", "aria-live": "polite" }));
}

// ---- exception request -------------------------------------------------------

function exceptionCard() {
  const ifSel = el("select", { id: "ex-interface", required: "required" });
  const clSel = el("select", { id: "ex-class" });
  const maxCount = el("input", { id: "ex-count", type: "number", min: "1", max: "10000" });
  const until = el("input", { id: "ex-until", type: "date", required: "required" });
  const reason = el("textarea", { id: "ex-reason", rows: "3", maxlength: "500",
    required: "required" });
  const out = el("div", { id: "ex-result", "aria-live": "polite" });
  const list = el("div", { id: "ex-list" });
  interfaceOptions(ifSel);
  const fillClasses = () => replace(clSel, el("option", { value: "" }, t("ex.class.same")),
    ...CLASSES.slice(0, 2).map((c) => el("option", { value: c }, t("class.name", { n: c }))));
  fillClasses();
  const form = el("form", { id: "ex-form", novalidate: "novalidate" },
    field("staff.interface", ifSel), field("ex.class", clSel),
    field("ex.count", maxCount), field("ex.until", until, "ex.until.hint"),
    field("ex.reason", reason),
    el("p", {}, el("button", { type: "submit", id: "ex-submit" }, tn("ex.submit"))),
    out);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const end = dayBoundary(until.value, true);
    if (!ifSel.value || !end || !reason.value.trim()) {
      showError(out, new PageError(!ifSel.value ? "staff.need.interface" :
        !end ? "ex.need.until" : "ex.need.reason"));
      return;
    }
    const body = { interface: ifSel.value, until: Math.floor(Date.parse(end) / 1000),
      reason: reason.value.trim() };
    if (clSel.value) body.class = Number(clSel.value);
    if (maxCount.value) body.max_count = Number(maxCount.value);
    try {
      const r = await withStepUp((otp) => postJSON("/api/v1/exceptions",
        otp ? { ...body, otp } : body));
      showOk(out, "ex.sent", { id: (r && r.exception) || "" });
      reason.value = "";
      loadExceptions(list);
    } catch (e) {
      showError(out, e);
    }
  });
  onLanguage(() => {
    const v = ifSel.value;
    interfaceOptions(ifSel);
    ifSel.value = v;
    const c = clSel.value;
    fillClasses();
    clSel.value = c;
    loadExceptions(list);
  });
  loadExceptions(list);
  return card("exception", "ex.title", el("p", { class: "muted" }, tn("ex.lead")),
    form, el("h3", {}, tn("ex.mine")), list);
}

export function exceptionColumns(actions) {
  return [
    { key: "col.exception", name: "exception", cell: (x) => x.exception },
    { key: "col.interface", name: "interface", cell: (x) => x.interface },
    { key: "col.status", name: "status", cell: (x) => el("span", {},
      word("exstatus", x.status), x.emergency ? ` (${t("ex.emergency")})` : "") },
    { key: "col.who", name: "who", cell: (x) => [...(x.users || []),
      ...(x.groups || [])].join(" ") },
    { key: "col.scope", name: "scope", cell: (x) => [
      x.class ? t("class.name", { n: x.class }) : null,
      x.max_count ? t("ex.count.n", { n: x.max_count }) : null,
      x.extensions || null, x.hours || null].filter(Boolean).join(t("list.sep")) },
    { key: "col.valid", name: "valid", cell: (x) => `${formatTime(x.valid_from)} – ${formatTime(x.valid_until)}` },
    { key: "col.uses", name: "uses", cell: (x) => String(x.uses ?? "") },
    { key: "col.reason", name: "reason", cell: (x) => x.reason || "" },
    ...(actions ? [{ key: "col.actions", name: "actions", cell: actions }] : []),
  ];
}

async function loadExceptions(box) {
  try {
    const r = await getJSON("/api/v1/exceptions");
    const items = Array.isArray(r && r.items) ? r.items : [];
    replace(box, items.length ? table("ex-table", exceptionColumns(null), items,
      (x) => ({ "data-exception": x.exception, "data-status": x.status })) :
      el("p", { class: "muted" }, t("ex.none")));
  } catch (e) {
    showError(box, e);
  }
}

export async function mount(app) {
  const top = el("div", { id: "interfaces-error" });
  replace(app, top);
  try {
    const r = await getJSON("/api/v1/interfaces");
    // The op's items name the interface "interface" (API.md said "id").
    s.interfaces = (Array.isArray(r && r.items) ? r.items : [])
      .map((i) => ({ ...i, id: i.id || i.interface }))
      .filter((i) => typeof i.id === "string" && i.id);
  } catch (e) {
    showError(top, e);
  }
  if (!s.interfaces.length && !top.firstChild) {
    replace(top, el("p", { class: "notice" }, tn("staff.no_interfaces")));
  }
  app.append(sendCard(), transfersCard(), exceptionCard());
  every(REFRESH_MS, refreshTransfers);
}
