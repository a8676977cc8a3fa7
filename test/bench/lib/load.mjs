// Load pool: N forked loadgen workers (one process holds at most ~9k sockets under the 20k fd
// limit), with the work split between them and the results merged.
import { fileURLToPath } from 'node:url';
import { forkWorker } from './procs.mjs';

const SCRIPT = fileURLToPath(new URL('../loadgen.mjs', import.meta.url));
export const MAX_CONNS_PER_WORKER = 9000;

const split = (n, k) => Array.from({ length: k }, (_, i) => Math.floor(n / k) + (i < n % k ? 1 : 0));

export async function createLoad(workers = 1) {
  const ws = Array.from({ length: workers }, (_, i) => forkWorker(`loadgen-${i}`, SCRIPT));
  const all = (cmd, argsFor) => Promise.all(ws.map((w, i) => w.call(cmd, argsFor(i))));
  const cat = (rs, k) => rs.flatMap((r) => r[k] ?? []);
  const sum = (rs, k) => rs.reduce((a, r) => a + (r[k] ?? 0), 0);
  const mergeErr = (rs) => rs.reduce((a, r) => { for (const [k, v] of Object.entries(r.errors || {})) a[k] = (a[k] || 0) + v; return a; }, {});
  return {
    workers: ws,
    pids: ws.map((w) => w.pid),
    /** Open n connections spread over the workers; urls are used round-robin. */
    async connect(urls, n, concurrency = 48) {
      const parts = split(n, ws.length);
      const rs = await all('connect', (i) => ({ urls, n: parts[i], concurrency: Math.max(1, Math.ceil(concurrency / ws.length)) }));
      return { opened: sum(rs, 'opened'), total: sum(rs, 'total'), errors: mergeErr(rs), openUs: cat(rs, 'openUs') };
    },
    closeAll: () => all('closeAll', () => ({})),
    async closedLoop(args) {
      const rs = await all('closedLoop', () => args);
      return { roundTrips: sum(rs, 'roundTrips'), wallMs: Math.max(...rs.map((r) => r.wallMs)), undelivered: sum(rs, 'undelivered') };
    },
    async openLoop({ rate, ...args }) {
      const rs = await all('openLoop', () => ({ ...args, rate: rate / ws.length }));
      return { sent: sum(rs, 'sent'), received: sum(rs, 'received'), latUs: cat(rs, 'latUs'), lagUs: cat(rs, 'lagUs') };
    },
    async handshakes({ concurrency, ...args }) {
      const rs = await all('handshakes', () => ({ ...args, concurrency: Math.max(1, Math.ceil(concurrency / ws.length)) }));
      return { ok: sum(rs, 'ok'), wallMs: Math.max(...rs.map((r) => r.wallMs)), errors: mergeErr(rs), openUs: cat(rs, 'openUs'), firstUs: cat(rs, 'firstUs') };
    },
    listen: () => all('listen', () => ({})),
    async collect() { const rs = await all('collect', () => ({})); return { latUs: cat(rs, 'latUs') }; },
    publish: (args) => ws[0].call('publish', args),
    slowStart: (args) => ws[0].call('slowStart', args),
    slowStop: () => ws[0].call('slowStop'),
    async stats() { const rs = await all('stats', () => ({})); return { conns: sum(rs, 'conns'), open: sum(rs, 'open'), unexpectedCloses: sum(rs, 'unexpectedCloses') }; },
    stop: () => Promise.all(ws.map((w) => w.stop())),
  };
}

export const workersFor = (n) => Math.max(1, Math.ceil(n / MAX_CONNS_PER_WORKER));
