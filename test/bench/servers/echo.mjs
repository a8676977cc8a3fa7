// Upstream echo: a `ws` server that sends every message back unchanged (binary stays binary).
// Usage: node echo.mjs <port>   Prints "READY <port>" when listening; GET / answers 200.
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const server = createServer((req, res) => { res.writeHead(200); res.end('ok'); });
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => console.log(`READY ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
