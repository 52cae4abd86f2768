// One-time code (TOTP) enrolment: the one-time enrolment code from the
// administrator -> POST /api/v1/totp/enrol -> the QR code and the secret
// for the authenticator app -> the app's first code -> POST
// /api/v1/totp/confirm.
//
// The QR code comes as SVG text (qr_svg). It is not shown through an
// <img> with a data: URL (the CSP's img-src 'self' forbids data:) nor
// parsed into the page as markup: it is parsed with DOMParser into a
// detached document, and a new SVG is built with createElementNS from the
// svg, g, rect and path elements only, with only numeric geometry, path
// data and plain colours copied over. Anything else in it is dropped.

import { el, replace } from "./dom.js";
import { postJSON, PageError } from "./api.js";
import { t, tn } from "./i18n.js";
import { card, field, showError, showOk } from "./ui.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const NUM = /^-?\d+(\.\d+)?$/;
const ATTRS = {
  svg: { width: NUM, height: NUM, viewBox: /^-?\d+(\.\d+)?( -?\d+(\.\d+)?){3}$/,
    "shape-rendering": /^(crispEdges|auto)$/ },
  g: { fill: null, stroke: null },
  rect: { x: NUM, y: NUM, width: NUM, height: NUM, fill: null },
  path: { d: /^[MmLlHhVvZz0-9 .,\n-]{1,200000}$/, fill: null, stroke: null,
    "stroke-width": NUM, "shape-rendering": /^(crispEdges|auto)$/ },
};
const COLOUR = /^(#[0-9a-fA-F]{3}|#[0-9a-fA-F]{6}|black|white|none)$/;
const MAX_NODES = 20000;

// A fresh <svg> element holding the allowed part of text, or null when
// text is not an SVG document.
export function safeSvg(text) {
  const doc = new DOMParser().parseFromString(String(text), "image/svg+xml");
  const root = doc.documentElement;
  if (!root || root.namespaceURI !== SVG_NS || root.localName !== "svg" ||
      doc.getElementsByTagName("parsererror").length) {
    return null;
  }
  let count = 0;
  const copy = (src) => {
    const rules = ATTRS[src.localName];
    if (src.namespaceURI !== SVG_NS || !rules || ++count > MAX_NODES) return null;
    const out = document.createElementNS(SVG_NS, src.localName);
    for (const [name, re] of Object.entries(rules)) {
      const v = src.getAttribute(name);
      if (v === null) continue;
      if (re ? re.test(v) : COLOUR.test(v)) out.setAttribute(name, v);
    }
    for (const child of src.children) {
      const c = copy(child);
      if (c) out.appendChild(c);
    }
    return out;
  };
  const svg = copy(root);
  if (svg) {
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", t("enrol.qr"));
    svg.setAttribute("class", "qr");
  }
  return svg;
}

function grouped(secret) {
  return String(secret).replace(/(.{4})/g, "$1 ").trim();
}

function step2(box, answer) {
  const qr = answer.qr_svg ? safeSvg(answer.qr_svg) : null;
  const code = el("input", { id: "enrol-otp", type: "text", inputmode: "numeric",
    autocomplete: "one-time-code", pattern: "[0-9]{6}", maxlength: "6",
    required: "required" });
  const out = el("div", { id: "confirm-result", "aria-live": "polite" });
  const form = el("form", { id: "confirm-form", novalidate: "novalidate" },
    field("enrol.first_code", code),
    el("p", {}, el("button", { type: "submit", id: "confirm" }, tn("enrol.confirm"))),
    out);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = code.value.trim();
    if (!/^[0-9]{6}$/.test(v)) {
      showError(out, new PageError("otp.bad"));
      return;
    }
    try {
      await postJSON("/api/v1/totp/confirm", { otp: v });
      showOk(out, "enrol.done");
      form.dataset.done = "1";
      code.disabled = true;
    } catch (err) {
      showError(out, err);
    }
  });
  replace(box,
    el("p", {}, tn("enrol.scan")),
    el("div", { id: "qr", class: "qr-box" }, qr || el("p", { class: "notice" },
      tn("enrol.no_qr"))),
    el("p", {}, tn("enrol.secret"), " ", el("code", { id: "secret",
      class: "secret" }, grouped(answer.secret || ""))),
    el("details", {}, el("summary", {}, tn("enrol.uri")),
      el("code", { id: "otpauth", class: "secret" }, answer.uri || "")),
    form);
  code.focus();
}

export async function mount(app) {
  const code = el("input", { id: "enrol-code", type: "text", autocomplete: "off",
    maxlength: "64", required: "required" });
  const out = el("div", { id: "enrol-result", "aria-live": "polite" });
  const next = el("div", { id: "enrol-next" });
  const form = el("form", { id: "enrol-form", novalidate: "novalidate" },
    field("enrol.code", code, "enrol.code.hint"),
    el("p", {}, el("button", { type: "submit", id: "enrol" }, tn("enrol.submit"))),
    out);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = code.value.trim();
    if (!v) {
      showError(out, new PageError("enrol.need.code"));
      return;
    }
    try {
      const r = await postJSON("/api/v1/totp/enrol", { code: v });
      showOk(out, "enrol.got");
      code.value = "";
      step2(next, r || {});
    } catch (err) {
      showError(out, err);
    }
  });
  replace(app, card("enrol-card", "enrol.step1", el("p", { class: "muted" },
    tn("enrol.step1.lead")), form),
  card("enrol-card2", "enrol.step2", next));
}
