// Byte-copy floor on Bun's own sockets: Bun.listen -> Bun.connect, parsing nothing (not even the handshake).
// Usage: bun pipe.mjs <port> <upstream ws url> (transpiled from a TypeScript spike; see README.md here).
const [port, upstream] = [Number(process.argv[2] || 0), process.argv[3]];
const u = new URL(upstream);
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
    c.data = { q: [] };
    Bun.connect({ hostname: u.hostname, port: Number(u.port), socket: {
      open(up) {
        up.data = { peer: c };
        c.data.peer = up;
        for (const d of c.data.q.splice(0))
          put(up, d);
      },
      data(up, d) {
        put(up.data.peer, d);
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
      put(c.data.peer, d);
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
