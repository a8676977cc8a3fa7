/**
 * A `ws` echo upstream in its own process (its sockets count against its own fd limit): prints
 * `listening PORT`, and `connections N` whenever asked with a line on stdin.
 */
import { WebSocketServer } from 'ws';

const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, clientTracking: true, backlog: 4096 });
wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (d, isBinary) => ws.send(d, { binary: isBinary }));
});
wss.on('listening', () => console.log(`listening ${wss.address().port}`));
process.stdin.on('data', () => console.log(`connections ${wss.clients.size}`));
