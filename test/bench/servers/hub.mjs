// Bare broadcast hub: the floor for any Node fan-out on this machine. `ws` server; a client on
// /room/<name> joins channel room:<name>; POST /_wsgate/channels/<channel>/messages sends the body
// as a text frame to every member and answers { delivered }. No auth, no envelope, no store.
// With a ping interval it also runs the heartbeat every `ws` user writes (ws's README pattern:
// one setInterval, terminate whoever missed the last pong, ping everyone): the floor for the
// heartbeat-cost scenario.
// With `preframed` as the third argument it frames each publish once (ws's Sender.frame) and
// writes the same Buffer to every member's socket: the floor for a broadcast that is framed once.
// Usage: node hub.mjs <port> [pingIntervalMs] [preframed]   Prints "READY <port>".
import { createServer } from 'node:http';
import { Sender, WebSocketServer } from 'ws';

const preframed = process.argv[4] === 'preframed';

const channels = new Map();
const server = createServer((req, res) => {
  const m = /^\/_wsgate\/channels\/([^/]+)\/messages$/.exec(req.url);
  if (req.method !== 'POST' || !m) { res.writeHead(200); res.end('ok'); return; }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    const members = channels.get(decodeURIComponent(m[1])) ?? new Set();
    if (preframed) {
      const frame = Buffer.concat(Sender.frame(Buffer.from(body), { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: true }));
      for (const ws of members) if (ws.readyState === 1) ws._socket.write(frame);
    } else for (const ws of members) ws.send(body);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ delivered: members.size }));
  });
});
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on('connection', (ws, req) => {
  const ch = `room:${decodeURIComponent(new URL(req.url, 'http://x').pathname.split('/')[2] ?? '')}`;
  if (!channels.has(ch)) channels.set(ch, new Set());
  channels.get(ch).add(ws);
  ws.on('close', () => channels.get(ch)?.delete(ws));
  ws.on('error', () => {});
});
const pingMs = Number(process.argv[3] || 0);
if (pingMs > 0) {
  setInterval(() => {
    for (const ws of wss.clients) {
      if (ws.isAlive === false) { ws.terminate(); continue; }
      ws.isAlive = false;
      ws.ping();
    }
  }, pingMs);
  wss.on('connection', (ws) => { ws.isAlive = true; ws.on('pong', () => { ws.isAlive = true; }); });
}
server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => console.log(`READY ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
