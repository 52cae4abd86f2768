// Calls to the broker's JSON API (same origin, the connection's client
// certificate is the identity). Every call is bounded in time.

const TIMEOUT_MS = 15000;

export class ApiError extends Error {
  // body: the answer's JSON, {"error": {code, message: {ja, en}, field,
  // rule, reason, transfer, retry_after}} (or the same fields at the top
  // level, as the first routes answered).
  constructor(status, body) {
    const e = body && typeof body.error === "object" && body.error !== null ?
      body.error : body;
    super(`HTTP ${status}`);
    this.status = status;
    this.code = e && typeof e.code === "string" ? e.code : null;
    this.messages = e && e.message && typeof e.message === "object" ?
      e.message : null;
    this.detail = e && typeof e === "object" ? e : {};
  }
}

// An error raised by the page itself (not the broker), with a message key.
export class PageError extends Error {
  constructor(key, params = {}) {
    super(key);
    this.key = key;
    this.params = params;
  }
}

export async function errorOf(r) {
  let data = null;
  if ((r.headers.get("content-type") || "").startsWith("application/json")) {
    try {
      data = await r.json();
    } catch (e) {
      data = null;
    }
  }
  return new ApiError(r.status, data);
}

// method path [body] -> the parsed JSON answer (null when there is none).
// opts.otp puts a one-time code in X-Sekisho-OTP (for a GET; a POST
// carries it in its body as "otp").
async function call(method, path, body, opts = {}) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), opts.timeout || TIMEOUT_MS);
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") {
    // The broker accepts a state-changing request only with this header
    // from its own origin (a cross-site form cannot set it).
    headers["X-Sekisho-Request"] = "1";
    if (body !== undefined) headers["Content-Type"] = "application/json";
  }
  if (opts.otp) headers["X-Sekisho-OTP"] = opts.otp;
  try {
    const r = await fetch(path, {
      method, headers, credentials: "same-origin", cache: "no-store",
      signal: ctl.signal,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!r.ok) throw await errorOf(r);
    if ((r.headers.get("content-type") || "").startsWith("application/json")) {
      return await r.json();
    }
    return null;
  } finally {
    clearTimeout(timer);
  }
}

export const getJSON = (path, opts) => call("GET", path, undefined, opts);
export const sendJSON = (method, path, body, opts) =>
  call(method, path, body, opts);
export const postJSON = (path, body, opts) => call("POST", path, body, opts);

// A query string of the fields that have a value.
export function query(fields) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

// {user, dept, terminal, serial, cert_fp, roles, zone, ...}: who the
// certificate says this is.
export const whoami = () => getJSON("/api/v1/whoami");
