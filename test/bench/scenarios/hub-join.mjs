// Hub join: N connections join one hub channel (presence on, 50 users, as in the broadcast
// scenario) against a bare `ws` server accepting N (servers/hub.mjs), and against the same
// gateway route with `presence: false` (what the handshake itself costs); then the gateway is sent
// SIGTERM with the N connections open and the time until it exits is measured (its drain window:
// closes spread over 5 s, stragglers dropped at 10 s, README "Shutdown").
import { createLoad, workersFor } from '../lib/load.mjs';
import { rotate } from '../lib/stats.mjs';
import { tokens, withToken } from '../lib/tokens.mjs';
import { startGateway, startHub, startRedis, gatewayAvailable } from '../lib/targets.mjs';
import { gatewayRoutes, gatewayEnv, CONNECT_CONCURRENCY } from './common.mjs';

export const name = 'hub-join';
export const title = 'Hub join: N connections join one hub channel; SIGTERM drain of them';

export function params(smoke, o) {
  return smoke ? { conns: 200 } : { conns: o.conns ?? 10000 };
}

const DRAIN_WINDOW_MS = 10_000; // README "Shutdown": stragglers are dropped at 10 s

async function joinCase(ctx, target, n) {
  const toks = await tokens('HS256', 50);
  const room = `join${Date.now() % 1e6}`;
  const urls = toks.map((k) => withToken(target.url(`/room/${room}`), k));
  const load = await createLoad(workersFor(n));
  try {
    const t0 = performance.now();
    const c = await load.connect(urls, n, CONNECT_CONCURRENCY);
    const joinMs = performance.now() - t0;
    if (c.opened !== n) throw new Error(`${c.opened}/${n} connected (${JSON.stringify(c.errors)})`);
    let drainMs = null;
    if (target.name !== 'bare-hub') {
      const t1 = performance.now();
      await target.stop(DRAIN_WINDOW_MS + 20_000); // SIGTERM; SIGKILL only 20 s past the window
      drainMs = performance.now() - t1;
    }
    return { join_ms: joinMs, per_1k_ms: (joinMs / n) * 1000, ...(drainMs !== null ? { drain_ms: drainMs } : {}) };
  } finally {
    await load.closeAll().catch(() => {});
    await load.stop();
  }
}

export async function run(ctx, p, rep) {
  const metrics = {}; const raw = {}; const skipped = {}; const failed = {};
  if (!ctx.targets.includes('gateway')) return { metrics, raw, skipped: { gateway: 'gateway not selected (--targets)' }, failed };
  const missing = gatewayAvailable();
  if (missing) return { metrics, raw, skipped, failed: { gateway: missing } };
  for (const mode of rotate(['hub', 'memory', 'nopresence', 'redis'], rep)) {
    const key = mode === 'hub' ? 'bare-hub' : `gateway.${mode}`;
    const room = { ...gatewayRoutes('ws://127.0.0.1:9/').room, ...(mode === 'nopresence' ? { presence: false } : {}) };
    let target;
    let redis;
    try {
      if (mode === 'redis') redis = await startRedis();
      target = mode === 'hub' ? await startHub() : await startGateway({ routes: { room }, env: gatewayEnv(), name: 'gateway-join', ...(redis ? { store: redis.url } : {}) });
      metrics[key] = await joinCase(ctx, target, p.conns);
      ctx.log(`    ${key}: ${p.conns} joined in ${(metrics[key].join_ms / 1000).toFixed(2)} s${metrics[key].drain_ms !== undefined ? `, SIGTERM → exit ${(metrics[key].drain_ms / 1000).toFixed(2)} s` : ''}`);
    } catch (e) { failed[key] = e.message; ctx.log(`    ! ${key}: ${e.message.split('\n')[0]}`); }
    finally { await target?.stop(); target?.cleanup?.(); await redis?.stop(); }
  }
  return { metrics, raw, skipped, failed, notes: ['join time: from the first handshake to the last open, 48 handshakes in flight (the per-IP cap is 64)', `drain: SIGTERM with every connection open until the process exited (window ${DRAIN_WINDOW_MS / 1000} s)`] };
}

const joinRatio = (k) => (m) => (m['bare-hub']?.join_ms && m[k]?.join_ms ? m[k].join_ms / m['bare-hub'].join_ms : null);
const drainS = (k) => (m) => (m[k]?.drain_ms !== undefined ? m[k].drain_ms / 1000 : null);
export const ratios = {
  'gateway join time / bare ws accept time': joinRatio('gateway.memory'),
  'gateway (Redis) join time / bare ws accept time': joinRatio('gateway.redis'),
  'gateway join time with presence / without (presence cost)': (m) => (m['gateway.nopresence']?.join_ms ? m['gateway.memory']?.join_ms / m['gateway.nopresence'].join_ms : null),
  'gateway SIGTERM drain (s)': drainS('gateway.memory'),
  'gateway (Redis) SIGTERM drain (s)': drainS('gateway.redis'),
};
export const checks = [
  { label: '10,000 connections join one hub channel within 1.5× the bare ws server\'s accept time', ratio: 'gateway join time / bare ws accept time', op: '<=', limit: 1.5 },
  { label: 'Same on Redis', ratio: 'gateway (Redis) join time / bare ws accept time', op: '<=', limit: 1.5 },
  { label: 'A SIGTERM drain of them ends within its window (10 s)', ratio: 'gateway SIGTERM drain (s)', op: '<=', limit: DRAIN_WINDOW_MS / 1000, unit: 's' },
  { label: 'Same on Redis', ratio: 'gateway (Redis) SIGTERM drain (s)', op: '<=', limit: DRAIN_WINDOW_MS / 1000, unit: 's' },
];
