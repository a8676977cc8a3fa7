// Bare relay: the floor for any Node relay. A `ws` server; each connection opens a `ws` client to
// the upstream and messages are forwarded both ways. No auth, no heartbeats, no limits,
// permessage-deflate off on both legs. Messages from the client before the upstream opens are queued.
// Usage: node relay.mjs <port> <upstream ws url>
import { createServer } from 'node:http';
import { WebSocketServer, WebSocket } from 'ws';

const [port, upstream] = [Number(process.argv[2] || 0), process.argv[3]];
const server = createServer((req, res) => { res.writeHead(200); res.end('ok'); });
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
wss.on('connection', (client) => {
  const up = new WebSocket(upstream, { perMessageDeflate: false });
  const queue = [];
  client.on('message', (d, bin) => (up.readyState === 1 ? up.send(d, { binary: bin }) : queue.push([d, bin])));
  up.on('open', () => { for (const [d, bin] of queue.splice(0)) up.send(d, { binary: bin }); });
  up.on('message', (d, bin) => client.send(d, { binary: bin }));
  const end = (ws) => (code) => { if (ws.readyState < 2) ws.close(code === 1005 || code === 1006 ? 1000 : code); };
  client.on('close', end(up));
  up.on('close', end(client));
  client.on('error', () => up.terminate());
  up.on('error', () => client.terminate());
});
server.listen(port, '127.0.0.1', () => console.log(`READY ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
