// Floor of a frame-aware relay on Bun's own sockets: Bun.listen -> Bun.connect, the handshake passed
// through, then frame HEADERS parsed both ways, client frames re-masked in place (old key ^ new key).
// Usage: bun frames.mjs <port> <upstream ws url> (transpiled from a TypeScript spike; see README.md here).
class Dir {
  masked;
  hs = true;
  hdr = Buffer.allocUnsafe(14);
  have = 0;
  rem = 0;
  x = Buffer.allocUnsafe(4);
  ph = 0;
  constructor(masked) {
    this.masked = masked;
  }
  run(b) {
    const out = [];
    const n = b.length;
    let i = 0;
    let start = 0;
    if (this.hs) {
      const e = b.indexOf(`\r
\r
`);
      if (e < 0)
        return [b];
      this.hs = false;
      i = e + 4;
    }
    while (i < n) {
      if (this.rem === 0 && this.have === 0 && n - i >= 2) {
        const l = b[i + 1] & 127;
        const m = b[i + 1] & 128 ? 4 : 0;
        const hl = 2 + (l === 126 ? 2 : l === 127 ? 8 : 0) + m;
        if (n - i >= hl) {
          const len = l === 126 ? b.readUInt16BE(i + 2) : l === 127 ? b.readUInt32BE(i + 6) : l;
          if (this.masked) {
            const nk = newKey();
            const ok = b.readUInt32BE(i + hl - 4);
            b.writeUInt32BE(nk, i + hl - 4);
            this.x.writeUInt32BE((ok ^ nk) >>> 0, 0);
            this.ph = 0;
          }
          i += hl;
          this.rem = len;
          if (len === 0)
            continue;
        } else {
          out.push(b.subarray(start, i));
          this.collect(b, i);
          return out;
        }
      } else if (this.rem === 0) {
        out.push(b.subarray(start, i));
        const j = this.collect(b, i);
        if (this.have > 0)
          return out;
        start = j;
        i = j;
        continue;
      }
      const take = Math.min(this.rem, n - i);
      if (this.masked) {
        const x = this.x;
        let p = this.ph;
        for (let k = i;k < i + take; k++) {
          b[k] ^= x[p];
          p = p + 1 & 3;
        }
        this.ph = p;
      }
      i += take;
      this.rem -= take;
    }
    out.push(b.subarray(start, n));
    return out;
  }
  pendingHdr = [];
  collect(b, i) {
    const h = this.hdr;
    while (i < b.length) {
      h[this.have++] = b[i++];
      if (this.have >= 2) {
        const l = h[1] & 127;
        const hl = 2 + (l === 126 ? 2 : l === 127 ? 8 : 0) + (h[1] & 128 ? 4 : 0);
        if (this.have === hl) {
          const len = l === 126 ? h.readUInt16BE(2) : l === 127 ? h.readUInt32BE(6) : l;
          if (this.masked) {
            const nk = newKey();
            const ok = h.readUInt32BE(hl - 4);
            h.writeUInt32BE(nk, hl - 4);
            this.x.writeUInt32BE((ok ^ nk) >>> 0, 0);
            this.ph = 0;
          }
          this.pendingHdr.push(Buffer.from(h.subarray(0, hl)));
          this.have = 0;
          this.rem = len;
          return i;
        }
      }
    }
    return i;
  }
  take() {
    const p = this.pendingHdr;
    this.pendingHdr = [];
    return p;
  }
}
import { randomFillSync } from "node:crypto";
const [port, upstream] = [Number(process.argv[2] || 0), process.argv[3]];
const u = new URL(upstream);
const keys = Buffer.allocUnsafe(4096);
let ko = 4096;
function newKey() {
  if (ko >= 4096) {
    randomFillSync(keys);
    ko = 0;
  }
  const k = keys.readUInt32BE(ko);
  ko += 4;
  return k;
}
function put(s, d) {
  const st = s.data;
  if (st.pend) {
    st.pend.push(Buffer.from(d));
    return;
  }
  const w = s.write(d);
  if (w < d.length)
    st.pend = [Buffer.from(d.subarray(Math.max(0, w)))];
}
function fwd(from, d) {
  const st = from.data;
  const to = st.peer;
  const parts = st.dir.run(d);
  for (const p of parts)
    if (p.length) {
      const hs = st.dir.take();
      for (const h of hs)
        put(to, h);
      put(to, p);
    }
  for (const h of st.dir.take())
    put(to, h);
}
const drain = (s) => {
  const st = s.data;
  const p = st.pend;
  if (!p)
    return;
  st.pend = undefined;
  put(s, Buffer.concat(p));
};
const srv = Bun.listen({ hostname: "127.0.0.1", port, socket: {
  open(c) {
    c.data = { q: [], dir: new Dir(true) };
    Bun.connect({ hostname: u.hostname, port: Number(u.port), socket: {
      open(up) {
        up.data = { peer: c, dir: new Dir(false) };
        c.data.peer = up;
        for (const d of c.data.q.splice(0))
          fwd(c, d);
      },
      data(up, d) {
        fwd(up, d);
      },
      drain,
      close(up) {
        up.data.peer?.end();
      },
      error() {}
    } });
  },
  data(c, d) {
    if (c.data.peer)
      fwd(c, d);
    else
      c.data.q.push(Buffer.from(d));
  },
  drain,
  close(c) {
    c.data.peer?.end();
  },
  error() {}
} });
console.log(`READY ${srv.port}`);
process.on("SIGTERM", () => process.exit(0));
