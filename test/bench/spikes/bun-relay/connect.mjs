// Floor of option (c): Bun.serve server WebSocket + Bun.connect raw TCP upstream, frames by hand.
// Usage: bun connect.mjs <port> <upstream ws url> (transpiled from a TypeScript spike; see README.md here).
import { randomBytes } from "node:crypto";
const [port, upstream] = [Number(process.argv[2] || 0), process.argv[3]];
const u = new URL(upstream);
function put(d, f) {
  if (d.pend) {
    d.pend.push(f);
    return;
  }
  const w = d.up.write(f);
  if (w < f.length)
    d.pend = [f.subarray(Math.max(0, w))];
}
function frame(p, op) {
  const n = p.length;
  const hl = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const f = Buffer.allocUnsafe(hl + 4 + n);
  f[0] = 128 | op;
  if (hl === 2)
    f[1] = 128 | n;
  else if (hl === 4) {
    f[1] = 254;
    f.writeUInt16BE(n, 2);
  } else {
    f[1] = 255;
    f.writeUInt32BE(0, 2);
    f.writeUInt32BE(n, 6);
  }
  const k = randomBytes(4);
  f[hl] = k[0];
  f[hl + 1] = k[1];
  f[hl + 2] = k[2];
  f[hl + 3] = k[3];
  const o = hl + 4;
  for (let i = 0;i < n; i++)
    f[o + i] = p[i] ^ k[i & 3];
  return f;
}
const srv = Bun.serve({
  port,
  hostname: "127.0.0.1",
  fetch(req, s) {
    if (s.upgrade(req, { data: { q: [], open: false } }))
      return;
    return new Response("ok");
  },
  websocket: {
    perMessageDeflate: false,
    maxPayloadLength: 67108864,
    idleTimeout: 0,
    sendPings: false,
    open(ws) {
      const d = ws.data;
      const key = randomBytes(16).toString("base64");
      Bun.connect({ hostname: u.hostname, port: Number(u.port), socket: {
        open(s) {
          s.setNoDelay?.(true);
          d.up = s;
          s.write(`GET ${u.pathname} HTTP/1.1\r
Host: ${u.host}\r
Upgrade: websocket\r
Connection: Upgrade\r
Sec-WebSocket-Key: ${key}\r
Sec-WebSocket-Version: 13\r
\r
`);
        },
        data(s, chunk) {
          let b = d.buf ? Buffer.concat([d.buf, chunk]) : chunk;
          d.buf = undefined;
          let i = 0;
          if (!d.open) {
            const e = b.indexOf(`\r
\r
`);
            if (e < 0) {
              d.buf = b;
              return;
            }
            d.open = true;
            i = e + 4;
            for (const m of d.q.splice(0))
              put(d, frame(m[0], m[1]));
          }
          while (b.length - i >= 2) {
            const op = b[i] & 15;
            let n = b[i + 1] & 127;
            let h = 2;
            if (n === 126) {
              if (b.length - i < 4)
                break;
              n = b.readUInt16BE(i + 2);
              h = 4;
            } else if (n === 127) {
              if (b.length - i < 10)
                break;
              n = b.readUInt32BE(i + 6);
              h = 10;
            }
            if (b.length - i < h + n)
              break;
            const p = b.subarray(i + h, i + h + n);
            i += h + n;
            if (op === 2)
              ws.sendBinary(p);
            else if (op === 1)
              ws.sendText(p.toString());
            else if (op === 8) {
              ws.close();
              s.end();
            }
          }
          if (i < b.length)
            d.buf = Buffer.from(b.subarray(i));
        },
        drain(s) {
          const p = d.pend;
          if (!p)
            return;
          d.pend = undefined;
          put(d, Buffer.concat(p));
        },
        close() {
          ws.close();
        },
        error() {
          ws.close();
        }
      } });
    },
    message(ws, m) {
      const d = ws.data;
      const p = typeof m === "string" ? Buffer.from(m) : m;
      if (d.open)
        put(d, frame(p, typeof m === "string" ? 1 : 2));
      else
        d.q.push([p, typeof m === "string" ? 1 : 2]);
    },
    close(ws) {
      ws.data.up?.end();
    }
  }
});
console.log(`READY ${srv.port}`);
process.on("SIGTERM", () => process.exit(0));
