// Byte-copy floor: the least a Node relay can cost. Accepts TCP, dials the upstream, and copies
// bytes both ways (the client's HTTP upgrade request included) without parsing anything: no
// handshake of its own, no frame boundaries, no auth. What any Node WebSocket relay sits above.
// Usage: node copy.mjs <port> <upstream port>   Prints "READY <port>"; GET / is relayed too.
import { createServer, connect } from 'node:net';

const [port, upstreamPort] = [Number(process.argv[2] || 0), Number(process.argv[3])];
const server = createServer((client) => {
  const up = connect(upstreamPort, '127.0.0.1');
  client.setNoDelay(true);
  up.setNoDelay(true);
  client.pipe(up);
  up.pipe(client);
  client.on('error', () => up.destroy());
  up.on('error', () => client.destroy());
  client.on('close', () => up.destroy());
  up.on('close', () => client.destroy());
});
server.listen(port, '127.0.0.1', () => console.log(`READY ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
