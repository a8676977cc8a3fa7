// Broadcast: S subscribers on a hub route, one HTTP publish at a time (POST
// /_wsgate/channels/<channel>/messages); delivery latency = receive time - publish start, on the
// same clock (publisher and subscribers are load workers on this machine). Memory store on one
// instance, and Redis across two instances (subscribers split between them, publishes to one).
import { createLoad, workersFor } from '../lib/load.mjs';
import { percentiles, rotate } from '../lib/stats.mjs';
import { tokens, withToken, ADMIN_SECRET } from '../lib/tokens.mjs';
import { startGateway, startRedis, startHub, gatewayAvailable } from '../lib/targets.mjs';
import { sleep } from '../lib/procs.mjs';
import { measured, gatewayRoutes, gatewayEnv, CONNECT_CONCURRENCY } from './common.mjs';

export const name = 'broadcast';
export const title = 'Broadcast: one publish to S subscribers, delivery latency';

export function params(smoke, o) {
  return smoke ? { subs: [10], publishes: 3, intervalMs: 50, size: 64 }
    : { subs: o.subs ?? [10, 1000, 10000], publishes: o.publishes ? Number(o.publishes) : 30, intervalMs: 200, size: 256 };
}

// Publishes far enough apart that one delivery wave ends before the next starts.
const interval = (p, subs) => Math.max(p.intervalMs, Math.round(subs / 20));

async function runCase(ctx, p, gws, subs, key) {
  const toks = await tokens('HS256', 50);
  const room = `bench${Date.now() % 1e6}`;
  const urls = toks.flatMap((k) => gws.map((g) => withToken(g.url(`/room/${room}`), k))); // alternate instances
  const load = await createLoad(workersFor(subs));
  try {
    const c = await load.connect(urls, subs, CONNECT_CONCURRENCY);
    if (c.opened !== subs) throw new Error(`${c.opened}/${subs} subscribers connected (${JSON.stringify(c.errors)})`);
    await sleep(Math.min(3000, 300 + subs / 10)); // subscriptions reach the store
    const pubUrl = `http://127.0.0.1:${gws[0].port}/_wsgate/channels/${encodeURIComponent(`room:${room}`)}/messages`;
    await load.listen(); // warm-up publishes (first-use paths), not counted
    await load.publish({ url: pubUrl, token: ADMIN_SECRET, count: 3, intervalMs: interval(p, subs), size: p.size });
    await sleep(Math.min(3000, 300 + subs / 10));
    await load.collect();
    await load.listen();
    const trees = Object.fromEntries(gws.map((g, i) => [`gw${i}`, g.pid]));
    const r = await measured(ctx, trees, () => load.publish({ url: pubUrl, token: ADMIN_SECRET, count: p.publishes, intervalMs: interval(p, subs), size: p.size }), { retry: false });
    await sleep(Math.min(5000, 500 + subs / 20));
    const { latUs } = await load.collect();
    const pc = percentiles(latUs);
    const expected = subs * p.publishes;
    if (Object.keys(r.errors).length) throw new Error(`publish errors ${JSON.stringify(r.errors)}`);
    if (!latUs.length) throw new Error(`no delivery reached a subscriber (publish answered ${JSON.stringify(r.delivered)})`);
    const m = { p50_ms: pc.p50 / 1000, p99_ms: pc.p99 / 1000, max_ms: pc.max / 1000, delivered: latUs.length / expected,
      gwCpuUsPerDelivery: Object.values(r.cpu.cpuUs).reduce((a, b) => a + b, 0) / Math.max(1, latUs.length) };
    ctx.log(`    ${key}: p50 ${m.p50_ms.toFixed(2)} ms, p99 ${m.p99_ms.toFixed(2)} ms, delivered ${(m.delivered * 100).toFixed(1)}% (${latUs.length}/${expected}); publish answered delivered=${JSON.stringify(r.delivered.slice(0, 3))}…`);
    return { m, raw: { percentilesUs: pc, publishAnswers: r.delivered, cpu: r.cpu } };
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
  const routes = { room: gatewayRoutes('ws://127.0.0.1:9/').room };
  for (const mode of rotate(['hub', 'preframed', 'memory', 'redis'], rep)) {
    const procs = [];
    const key0 = mode === 'hub' ? 'bare-hub' : mode === 'preframed' ? 'preframed-hub' : `gateway.${mode}`;
    try {
      let gws;
      if (mode === 'hub') gws = [await startHub()];
      else if (mode === 'preframed') gws = [await startHub({ preframed: true })];
      else if (mode === 'memory') gws = [await startGateway({ routes, env: gatewayEnv(), name: 'gateway-mem' })];
      else {
        const redis = await startRedis(); procs.push(redis);
        gws = [await startGateway({ routes, env: gatewayEnv(), store: redis.url, name: 'gateway-a' })];
        procs.push(gws[0]);
        gws.push(await startGateway({ routes, env: gatewayEnv(), store: redis.url, name: 'gateway-b', routesDir: gws[0].routesDir }));
      }
      procs.push(...gws.filter((g) => !procs.includes(g)));
      for (const s of p.subs) {
        const key = `${key0}.${s}`;
        try { const r = await runCase(ctx, p, gws, s, key); metrics[key] = r.m; raw[key] = r.raw; }
        catch (e) { failed[key] = e.message; ctx.log(`    ! ${key}: ${e.message}`); }
      }
    } catch (e) { failed[key0] = e.message; ctx.log(`    ! ${mode}: ${e.message.split('\n')[0]}`); }
    finally { for (const pr of procs.reverse()) { await pr.stop(); pr.cleanup?.(); } }
  }
  return { metrics, raw, skipped, failed, subs: p.subs, notes: [
    'delivery latency: from the start of the HTTP publish request to receipt by each subscriber (after 3 uncounted warm-up publishes)',
    'the subscribers run on the same 2 cores: their own receive work is in every figure; bare-hub (servers/hub.mjs, a `ws` server sending each publish to its members) is the send-loop floor on this machine; preframed-hub frames each publish once and writes the same Buffer to every socket (the pre-framed floor)'] };
}

const ratio = (a, b) => (m, r) => { const n = Math.max(...(r.subs ?? [0])); return m[`${b}.${n}`]?.p99_ms ? m[`${a}.${n}`]?.p99_ms / m[`${b}.${n}`].p99_ms : null; };
export const ratios = {
  'gateway memory / bare hub p99 (largest)': ratio('gateway.memory', 'bare-hub'),
  'gateway redis (2 instances) / bare hub p99 (largest)': ratio('gateway.redis', 'bare-hub'),
  'gateway memory / pre-framed floor p99 (largest)': ratio('gateway.memory', 'preframed-hub'),
  'gateway redis (2 instances) / pre-framed floor p99 (largest)': ratio('gateway.redis', 'preframed-hub'),
  'pre-framed floor / bare hub p99 (largest)': ratio('preframed-hub', 'bare-hub'),
};
const top = (p) => Math.max(...p.subs);
export function checksFor(p) {
  const n = top(p);
  return [
    { label: `Broadcast to ${n.toLocaleString('en-US')} subscribers: p99 ≤ 50 ms on one instance (memory store)`, metric: [`gateway.memory.${n}`, 'p99_ms'], op: '<=', limit: 50, unit: 'ms' },
    { label: `Broadcast to ${n.toLocaleString('en-US')} subscribers: p99 ≤ 0.5× the bare ws send loop (memory store)`, ratio: 'gateway memory / bare hub p99 (largest)', op: '<=', limit: 0.5 },
    { label: `Broadcast to ${n.toLocaleString('en-US')} subscribers: p99 ≤ 0.6× the bare ws send loop (Redis, 2 instances)`, ratio: 'gateway redis (2 instances) / bare hub p99 (largest)', op: '<=', limit: 0.6 },
    { label: `Broadcast to ${n.toLocaleString('en-US')} subscribers: p99 ≤ 100 ms across two instances on Redis`, metric: [`gateway.redis.${n}`, 'p99_ms'], op: '<=', limit: 100, unit: 'ms' },
  ];
}
export const checks = checksFor({ subs: [10000] });
