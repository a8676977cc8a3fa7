/**
 * A reconnect storm from one address: opens N raw WebSocket upgrades to 127.0.0.1:PORT at once
 * (one tight loop of connects), each carrying `X-Forwarded-For: <a distinct client address>`
 * unless --same-client, holds every socket open until all have an answer, then prints one JSON
 * line: { statuses: { "101": n, "429": n, ... }, ms, concurrentOpen } and exits 0.
 * Run as its own process so its sockets count against its own fd limit, not the test's.
 *
 * node test/helpers/storm-client.mjs PORT N PATH [--same-client]
 */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';

const [port, n, path] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4] ?? '/'];
const sameClient = process.argv.includes('--same-client');
const statuses = {};
const sockets = [];
let answered = 0;
let open101 = 0;
const started = Date.now();

const done = () => {
  const out = { statuses, ms: Date.now() - started, concurrentOpen: open101 };
  for (const s of sockets) s.destroy();
  process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(0));
};
const timer = setTimeout(done, 90_000);

for (let i = 0; i < n; i++) {
  // 198.18.0.0/15 (RFC 2544 benchmarking space): 5,000 distinct client addresses.
  const client = `198.18.${(i >> 8) & 255}.${i & 255}`;
  const s = connect(port, '127.0.0.1');
  sockets.push(s);
  let head = '';
  let settled = false;
  const settle = (status) => {
    if (settled) return;
    settled = true;
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (status === '101') open101++;
    if (++answered === n) {
      clearTimeout(timer);
      done();
    }
  };
  s.on('data', (d) => {
    head += d.toString('latin1');
    const m = /^HTTP\/1\.1 (\d{3})/.exec(head);
    if (m) settle(m[1]);
  });
  s.on('error', (e) => settle(e.code ?? 'error'));
  s.on('close', () => settle('closed'));
  const xff = sameClient ? '' : `X-Forwarded-For: ${client}\r\n`;
  s.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n${xff}\r\n`);
}
