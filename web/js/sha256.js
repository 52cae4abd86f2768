// SHA-256 (FIPS 180-4) computed incrementally, so a file of gigabytes is
// hashed a slice at a time: crypto.subtle.digest() only takes the whole
// input at once, which for a large file means holding all of it in memory.
// Checked against the FIPS/NIST vectors in tests/integration (in the
// browser) and against the broker's own hash of every uploaded file.

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
  0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
  0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
  0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

export class Sha256 {
  constructor() {
    this.h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
      0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
    this.w = new Uint32Array(64);
    this.block = new Uint8Array(64);  // a partial block waiting for more
    this.fill = 0;
    this.length = 0;                  // bytes so far (a double: exact to 2^53)
    this.done = false;
  }

  // Hashes the 64-byte block at data[off..off+63].
  compress(data, off) {
    const w = this.w;
    for (let i = 0; i < 16; i++) {
      const j = off + i * 4;
      w[i] = (data[j] << 24) | (data[j + 1] << 16) | (data[j + 2] << 8) |
        data[j + 3];
    }
    for (let i = 16; i < 64; i++) {
      const a = w[i - 15];
      const b = w[i - 2];
      const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^
        (b >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    const h = this.h;
    let a = h[0]; let b = h[1]; let c = h[2]; let d = h[3];
    let e = h[4]; let f = h[5]; let g = h[6]; let k = h[7];
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^
        ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (k + S1 + ch + K[i] + w[i]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^
        ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) | 0;
      k = g; g = f; f = e; e = (d + t1) | 0;
      d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d;
    h[4] += e; h[5] += f; h[6] += g; h[7] += k;
  }

  // Adds bytes (a Uint8Array or ArrayBuffer) to the message.
  update(bytes) {
    if (this.done) throw new Error("sha256: update after digest");
    const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    let off = 0;
    this.length += data.length;
    if (this.fill > 0) {
      const take = Math.min(64 - this.fill, data.length);
      this.block.set(data.subarray(0, take), this.fill);
      this.fill += take;
      off = take;
      if (this.fill < 64) return this;
      this.compress(this.block, 0);
      this.fill = 0;
    }
    for (; off + 64 <= data.length; off += 64) this.compress(data, off);
    if (off < data.length) {
      this.block.set(data.subarray(off), 0);
      this.fill = data.length - off;
    }
    return this;
  }

  // The digest as 32 bytes; the object cannot be updated after.
  digest() {
    if (this.done) throw new Error("sha256: digest twice");
    const bits = this.length * 8;
    const pad = new Uint8Array((this.fill < 56 ? 64 : 128) - this.fill);
    pad[0] = 0x80;
    const n = pad.length;
    // The length in bits, big-endian, in the last 8 bytes.
    const hi = Math.floor(bits / 0x100000000);
    const lo = bits >>> 0;
    pad[n - 8] = hi >>> 24; pad[n - 7] = hi >>> 16;
    pad[n - 6] = hi >>> 8; pad[n - 5] = hi;
    pad[n - 4] = lo >>> 24; pad[n - 3] = lo >>> 16;
    pad[n - 2] = lo >>> 8; pad[n - 1] = lo;
    const len = this.length;
    this.update(pad);
    this.length = len;
    this.done = true;
    const out = new Uint8Array(32);
    for (let i = 0; i < 8; i++) {
      out[i * 4] = this.h[i] >>> 24; out[i * 4 + 1] = this.h[i] >>> 16;
      out[i * 4 + 2] = this.h[i] >>> 8; out[i * 4 + 3] = this.h[i];
    }
    return out;
  }

  hex() {
    return hex(this.digest());
  }
}

export const SLICE = 4 * 1024 * 1024;
// Up to this size the browser's own SHA-256 (WebCrypto, native code) is
// used: the file is then read into memory whole, which is fine for a file
// of this size and several times faster. Larger files go slice by slice.
export const WHOLE_MAX = 32 * 1024 * 1024;

function hex(bytes) {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0"))
    .join("");
}

// The hex SHA-256 of a File or Blob. Above WHOLE_MAX (or with
// opts.incremental) it is read SLICE bytes at a time, so memory stays at
// one slice whatever the file's size. progress(done, total) is called
// after each slice; signal (AbortSignal) stops it.
export async function sha256File(blob, progress, signal, opts = {}) {
  if (!opts.incremental && blob.size <= WHOLE_MAX && globalThis.crypto &&
      crypto.subtle) {
    const d = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
    if (progress) progress(blob.size, blob.size);
    return hex(d);
  }
  const h = new Sha256();
  for (let off = 0; off < blob.size; off += SLICE) {
    if (signal && signal.aborted) throw new DOMException("aborted", "AbortError");
    h.update(new Uint8Array(await blob.slice(off, off + SLICE).arrayBuffer()));
    if (progress) progress(Math.min(off + SLICE, blob.size), blob.size);
  }
  if (progress && blob.size === 0) progress(0, 0);
  return h.hex();
}
