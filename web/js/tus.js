// A tus 1.0 client (creation + core) for the broker's /api/v1/uploads.
//
// create: POST with Tus-Resumable, Upload-Length and Upload-Metadata
// (base64 UTF-8 values: interface, class, purpose, filename, sha256, otp)
// -> 201 and Location. Then PATCH slices from the offset the broker has,
// with XMLHttpRequest for the upload progress. After a network error (a
// restarted broker, a dropped connection) or a pause, HEAD asks for the
// broker's offset and the next PATCH starts there. The upload's URL is
// kept in localStorage under the file's name, size and modification time
// (and the choices it was made with), so a reloaded page resumes it.

import { ApiError, errorOf } from "./api.js";

export const ENDPOINT = "/api/v1/uploads";
const TUS = "1.0.0";
const CHUNK = 16 * 1024 * 1024;     // bytes per PATCH
const RETRIES = 40;                 // network errors in a row before giving up
const BACKOFF_MS = [500, 1000, 2000, 3000, 5000];
const PATCH_TIMEOUT_MS = 120000;
const STORE_PREFIX = "sekisho.tus.";

function b64(text) {
  const bytes = new TextEncoder().encode(String(text));
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

// "key b64,key b64" of the fields that have a value.
export function encodeMetadata(fields) {
  return Object.entries(fields)
    .filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => `${k} ${b64(v)}`).join(",");
}

export function storageKey(file) {
  return `${STORE_PREFIX}${file.name}\u0000${file.size}\u0000${file.lastModified}`;
}

function remembered(file) {
  try {
    const v = JSON.parse(window.localStorage.getItem(storageKey(file)));
    return v && typeof v.url === "string" && v.url.startsWith(`${ENDPOINT}/`) ?
      v : null;
  } catch (e) {
    return null;
  }
}

function remember(file, value) {
  try {
    if (value) window.localStorage.setItem(storageKey(file), JSON.stringify(value));
    else window.localStorage.removeItem(storageKey(file));
  } catch (e) {
    // no storage: the upload works, a reload starts it again
  }
}

const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });

// An error that is the network's (no answer), not the broker's.
export class NetworkError extends Error {}

class Paused extends Error {}

export class Upload {
  // file: a File. meta: {interface, class, purpose, sha256, otp}.
  // onProgress(bytesAtBroker, total); onStatus(word) with word one of
  // "creating", "resuming", "uploading", "retrying", "paused".
  constructor(file, meta, { onProgress, onStatus } = {}) {
    this.file = file;
    this.meta = meta;
    this.onProgress = onProgress || (() => {});
    this.onStatus = onStatus || (() => {});
    this.url = null;
    this.offset = 0;
    this.resumedFrom = null;   // offset found at the broker on a resume
    this.id = null;            // the transfer
    this.state = null;         // X-Sekisho-State of the last answer ("held")
    this.xhr = null;
    this.paused = false;
    this.wake = null;
  }

  // The transfer's id: the broker names it in X-Sekisho-Transfer at the
  // creation (the URL is "<transfer>-<sha256>").
  get transfer() {
    if (this.id) return this.id;
    return this.url ? decodeURIComponent(this.url.split("/").pop())
      .replace(/-[0-9a-f]{64}$/, "") : null;
  }

  // Runs the upload to its end. Resolves with the transfer id; rejects
  // with ApiError (the broker refused) or NetworkError.
  async run() {
    const fp = { interface: this.meta.interface, class: this.meta.class,
      sha256: this.meta.sha256 };
    const old = remembered(this.file);
    if (old && old.interface === fp.interface && old.class === fp.class &&
        old.sha256 === fp.sha256) {
      this.onStatus("resuming");
      try {
        this.url = old.url;
        this.id = old.transfer || null;
        this.offset = await this.head();
        this.resumedFrom = this.offset;
      } catch (e) {
        // Gone at the broker (finished, expired, withdrawn): start anew.
        this.url = null;
        remember(this.file, null);
        if (!(e instanceof ApiError)) throw e;
      }
    }
    if (!this.url) {
      this.onStatus("creating");
      await this.create();
      remember(this.file, { url: this.url, transfer: this.transfer, ...fp });
    }
    this.onProgress(this.offset, this.file.size);
    let failures = 0;
    while (this.offset < this.file.size || this.file.size === 0) {
      if (this.paused) await this.waitResume();
      try {
        this.onStatus("uploading");
        this.offset = await this.patch();
        failures = 0;
        if (this.file.size === 0) break;
      } catch (e) {
        if (e instanceof Paused) continue;
        if (e instanceof ApiError && e.status !== 409) {
          throw e;
        }
        // A lost connection, or the broker has another offset (409): ask
        // it where it is and go on from there.
        if (!(e instanceof ApiError) && ++failures > RETRIES) throw e;
        this.onStatus("retrying");
        await sleep(BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)]);
        try {
          this.offset = await this.head();
          this.resumedFrom = this.offset;
          this.onProgress(this.offset, this.file.size);
        } catch (h) {
          if (h instanceof ApiError && h.status !== 503) throw h;
          // still unreachable: the loop tries again
        }
      }
    }
    remember(this.file, null);
    return this.transfer;
  }

  pause() {
    this.paused = true;
    if (this.xhr) this.xhr.abort();
    this.onStatus("paused");
  }

  resume() {
    this.paused = false;
    if (this.wake) this.wake();
  }

  waitResume() {
    return new Promise((r) => {
      this.wake = () => { this.wake = null; r(); };
    });
  }

  async create() {
    const headers = {
      "Tus-Resumable": TUS,
      "Upload-Length": String(this.file.size),
      "Upload-Metadata": encodeMetadata({
        interface: this.meta.interface, class: this.meta.class,
        purpose: this.meta.purpose, filename: this.file.name,
        sha256: this.meta.sha256, otp: this.meta.otp,
      }),
      "X-Sekisho-Request": "1",
    };
    let r;
    try {
      r = await fetch(ENDPOINT, { method: "POST", headers, cache: "no-store",
        credentials: "same-origin" });
    } catch (e) {
      throw new NetworkError(String(e));
    }
    if (r.status !== 201) throw await errorOf(r);
    const loc = r.headers.get("Location");
    if (!loc) throw new NetworkError("no Location in the creation answer");
    const u = new URL(loc, window.location.href);
    if (u.origin !== window.location.origin) {
      throw new NetworkError(`upload address on another origin: ${u.origin}`);
    }
    this.url = u.pathname;
    this.id = r.headers.get("X-Sekisho-Transfer") || null;
    this.offset = Number(r.headers.get("Upload-Offset") || 0);
  }

  // The broker's offset for this upload.
  async head() {
    let r;
    try {
      r = await fetch(this.url, { method: "HEAD", cache: "no-store",
        credentials: "same-origin", headers: { "Tus-Resumable": TUS } });
    } catch (e) {
      throw new NetworkError(String(e));
    }
    if (!r.ok) throw new ApiError(r.status, null);
    const off = Number(r.headers.get("Upload-Offset"));
    if (!Number.isSafeInteger(off) || off < 0 || off > this.file.size) {
      throw new NetworkError(`bad Upload-Offset ${r.headers.get("Upload-Offset")}`);
    }
    return off;
  }

  // One PATCH from this.offset; resolves with the new offset.
  patch() {
    const start = this.offset;
    const body = this.file.slice(start, Math.min(start + CHUNK, this.file.size));
    return new Promise((resolve, reject) => {
      const x = new XMLHttpRequest();
      this.xhr = x;
      x.open("PATCH", this.url);
      x.timeout = PATCH_TIMEOUT_MS;
      x.setRequestHeader("Tus-Resumable", TUS);
      x.setRequestHeader("Upload-Offset", String(start));
      x.setRequestHeader("Content-Type", "application/offset+octet-stream");
      x.setRequestHeader("X-Sekisho-Request", "1");
      x.upload.onprogress = (e) => this.onProgress(start + e.loaded,
        this.file.size);
      x.onload = () => {
        this.xhr = null;
        if (x.status === 204 || x.status === 200) {
          const off = Number(x.getResponseHeader("Upload-Offset"));
          this.state = x.getResponseHeader("X-Sekisho-State") || this.state;
          if (Number.isSafeInteger(off) && off >= start &&
              off <= this.file.size) {
            this.onProgress(off, this.file.size);
            resolve(off);
          } else {
            reject(new NetworkError("bad Upload-Offset in the answer"));
          }
          return;
        }
        let data = null;
        try {
          data = JSON.parse(x.responseText);
        } catch (e) {
          data = null;
        }
        reject(new ApiError(x.status, data));
      };
      const lost = () => {
        this.xhr = null;
        reject(this.paused ? new Paused() : new NetworkError("connection lost"));
      };
      x.onerror = lost;
      x.onabort = lost;
      x.ontimeout = lost;
      x.send(body);
    });
  }
}
