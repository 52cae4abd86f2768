// Messages in Japanese and English. Japanese is the default where the
// browser prefers it over English; the user's choice from the switch is
// remembered in localStorage.

export const LANGUAGES = ["ja", "en"];
const STORAGE_KEY = "sekisho.lang";
const catalogues = {};
let current = "ja";

// The language to start in: the stored choice, else the first of ja/en in
// the browser's preference list, else English.
export function pickLanguage(stored, preferred) {
  if (LANGUAGES.includes(stored)) return stored;
  for (const tag of preferred || []) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}

function storedLanguage() {
  try {
    return window.localStorage.getItem(STORAGE_KEY);
  } catch (e) {
    return null; // storage disabled: the browser's preference decides
  }
}

// Loads both catalogues (switching is then instant) and picks the start
// language.
export async function init() {
  await Promise.all(LANGUAGES.map(async (lang) => {
    const url = new URL(`../i18n/${lang}.json`, import.meta.url);
    const r = await fetch(url, { credentials: "same-origin" });
    if (!r.ok) throw new Error(`i18n: ${url.pathname}: HTTP ${r.status}`);
    catalogues[lang] = await r.json();
  }));
  setLanguage(pickLanguage(storedLanguage(), navigator.languages), false);
  return current;
}

export function language() {
  return current;
}

export function setLanguage(lang, remember = true) {
  if (!LANGUAGES.includes(lang)) return;
  current = lang;
  document.documentElement.lang = lang;
  relabel();
  if (remember) {
    try {
      window.localStorage.setItem(STORAGE_KEY, lang);
    } catch (e) {
      // not remembered; the switch still works for this page
    }
  }
}

// The message KEY in the current language ({name} replaced from params),
// English if the Japanese one is missing, the key itself if both are.
export function t(key, params = {}) {
  const msg = (catalogues[current] || {})[key] ?? (catalogues.en || {})[key] ?? key;
  return msg.replace(/\{(\w+)\}/g, (m, name) =>
    Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : m);
}

// Text that follows the language switch: tn() makes a text node that
// setLanguage() rewrites in place (forms keep what was typed in them);
// onLanguage(fn) is for parts a page builds again (lists from the API).
const live = new Set();
const listeners = [];

export function tn(key, params = {}) {
  const node = document.createTextNode(t(key, params));
  live.add({ node, key, params });
  return node;
}

// Sets attribute attr of node to the message key, now and on each switch.
export function ta(node, attr, key, params = {}) {
  node.setAttribute(attr, t(key, params));
  live.add({ node, attr, key, params });
  return node;
}

export function onLanguage(fn) {
  listeners.push(fn);
}

function relabel() {
  // The switch runs from a click, never while a part is half built, so a
  // node not in the page is gone from it for good.
  for (const entry of live) {
    if (!entry.node.isConnected) {
      live.delete(entry);
      continue;
    }
    if (entry.attr) entry.node.setAttribute(entry.attr, t(entry.key, entry.params));
    else entry.node.data = t(entry.key, entry.params);
  }
  for (const fn of listeners) fn(current);
}
