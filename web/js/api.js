// Calls to the broker's JSON API (same origin, the connection's client
// certificate is the identity). Every call is bounded in time.

const TIMEOUT_MS = 10000;

export class ApiError extends Error {
  constructor(status, body) {
    super(`HTTP ${status}`);
    this.status = status;
    this.code = body && typeof body.code === "string" ? body.code : null;
    // {ja, en} from the broker, shown as text.
    this.messages = body && body.message && typeof body.message === "object"
      ? body.message : null;
  }
}

async function call(method, path, body) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") {
    // The broker accepts a state-changing request only with this header
    // from its own origin (a cross-site form cannot set it).
    headers["X-Sekisho-Request"] = "1";
    if (body !== undefined) headers["Content-Type"] = "application/json";
  }
  try {
    const r = await fetch(path, {
      method, headers, credentials: "same-origin", cache: "no-store",
      signal: ctl.signal,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    if ((r.headers.get("content-type") || "").startsWith("application/json")) {
      data = await r.json();
    }
    if (!r.ok) throw new ApiError(r.status, data);
    return data;
  } finally {
    clearTimeout(timer);
  }
}

export const getJSON = (path) => call("GET", path);
export const sendJSON = (method, path, body) => call(method, path, body);

// {user, dept, terminal, serial, cert_fp, ...}: who the certificate says
// this is.
export const whoami = () => getJSON("/api/v1/whoami");
