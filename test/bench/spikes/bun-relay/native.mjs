// Floor of the current Bun path: Bun.serve server WebSocket + Bun's client WebSocket upstream.
// Usage: bun native.mjs <port> <upstream ws url> (transpiled from a TypeScript spike; see README.md here).
const [port, upstream] = [Number(process.argv[2] || 0), process.argv[3]];
const srv = Bun.serve({
  port,
  hostname: "127.0.0.1",
  fetch(req, s) {
    if (s.upgrade(req, { data: { q: [] } }))
      return;
    return new Response("ok");
  },
  websocket: {
    perMessageDeflate: false,
    maxPayloadLength: 67108864,
    idleTimeout: 0,
    sendPings: false,
    open(ws) {
      const up = new WebSocket(upstream);
      up.binaryType = "nodebuffer";
      ws.data.up = up;
      up.onopen = () => {
        for (const m of ws.data.q.splice(0))
          up.send(m);
      };
      up.onmessage = (e) => {
        ws.send(e.data);
      };
      up.onclose = () => ws.close();
    },
    message(ws, m) {
      const up = ws.data.up;
      if (up.readyState === 1)
        up.send(m);
      else
        ws.data.q.push(m);
    },
    close(ws) {
      ws.data.up?.close();
    }
  }
});
console.log(`READY ${srv.port}`);
process.on("SIGTERM", () => process.exit(0));
