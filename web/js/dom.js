// Building elements without ever parsing markup. Every text that can come
// from a user, a certificate or the API goes in as a text node, so a name
// like "<img src=x onerror=alert(1)>" is shown as those characters and
// never becomes an element. Nothing in web/ uses innerHTML.

// Attributes that could run script or load from elsewhere are refused
// outright rather than checked: the pages have no use for them.
const REFUSED_ATTR = /^(on|style$|srcdoc$|formaction$)/i;
const URL_ATTR = /^(href|src|action)$/i;

function safeUrl(value) {
  const u = new URL(String(value), document.baseURI);
  // Same origin only: the CSP allows nothing else, and a javascript: URL
  // would be script.
  if (u.origin !== window.location.origin) {
    throw new Error(`dom: refused URL ${u.href}`);
  }
  return u.pathname + u.search + u.hash;
}

// el("p", {class: "x", "data-k": v}, "text", otherNode, ...) -> Element.
// Children that are not Nodes are converted with String() and added as
// text; null and undefined children are skipped.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (REFUSED_ATTR.test(name)) {
      throw new Error(`dom: refused attribute ${name}`);
    }
    node.setAttribute(name, URL_ATTR.test(name) ? safeUrl(value) :
      String(value));
  }
  append(node, ...children);
  return node;
}

// Adds children (Nodes or texts) at the end of parent.
export function append(parent, ...children) {
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    parent.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return parent;
}

// Replaces everything inside parent with children.
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, ...children);
}

// Sets the text of node (textContent: never parsed as markup).
export function setText(node, text) {
  node.textContent = text === null || text === undefined ? "" : String(text);
  return node;
}
