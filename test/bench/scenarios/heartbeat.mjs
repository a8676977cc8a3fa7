// Heartbeat cost: CPU of an idle gateway holding N connections with the shortest heartbeat
// preset, next to the same gateway with heartbeats off. Relayed connections when 2N sockets fit
// under RLIMIT_NOFILE, else a hub route (one socket per connection, presence off).
import { createLoad, workersFor } from '../lib/load.mjs';
import { rotate } from '../lib/stats.mjs';
import { tokens, withToken } from '../lib/tokens.mjs';
import { startEcho, startGateway, startHub, gatewayAvailable } from '../lib/targets.mjs';
import { sleep } from '../lib/procs.mjs';
import { measured, gatewayEnv, fdCapacity, CONNECT_CONCURRENCY } from './common.mjs';

/** Ping intervals of the presets (src/routing/schema.ts HEARTBEAT_PRESETS), for the bare floor. */
const PRESET_INTERVAL_MS = { 'alibaba-clb': 5000, 'aws-alb': 25000, nginx: 25000, 'alibaba-alb': 25000, default: 25000 };

export const name = 'heartbeat';
export const title = 'Heartbeat cost of idle connections';

export function params(smoke, o) {
  const preset = o.hbPreset ?? 'alibaba-clb'; // the shortest preset: 5 s pings (src/routing/schema.ts)
  return smoke ? { conns: 50, windowMs: 800, preset, settleMs: 200 }
    : { conns: o.hbConns ? Number(o.hbConns) : 10000, windowMs: o.hbWindow ?? 30000, preset, settleMs: 3000 };
}

async function one(ctx, p, heartbeat, hub, echo, toks) {
  const route = hub ? { path: '/idle/:id', channel: 'idle:{id}', presence: false, presenceEvents: false, heartbeat }
    : { path: '/idle/:id', upstream: echo.url('/'), heartbeat };
  const gw = await startGateway({ routes: { idle: route }, env: gatewayEnv(), name: `gateway-hb-${heartbeat}` });
  const load = await createLoad(workersFor(p.conns));
  try {
    const urls = toks.map((k, i) => withToken(gw.url(`/idle/c${i}`), k));
    const c = await load.connect(urls, p.conns, CONNECT_CONCURRENCY);
    if (c.opened !== p.conns) throw new Error(`${c.opened}/${p.conns} connections (${JSON.stringify(c.errors)})`);
    await sleep(p.settleMs);
    const r = await measured(ctx, { gw: gw.pid, load: load.pids[0], echo: echo?.pid }, () => sleep(p.windowMs));
    const st = await load.stats();
    const pct = (r.cpu.cpuUs.gw / 1e6 / r.cpu.wallS) * 100;
    ctx.log(`    heartbeat ${heartbeat}: gateway ${pct.toFixed(2)}% of one core over ${r.cpu.wallS.toFixed(1)} s with ${st.open} open (${st.unexpectedCloses} dropped)`);
    return { pct, open: st.open, dropped: st.unexpectedCloses, cpu: r.cpu, disturbed: r.disturbed };
  } finally {
    await load.closeAll().catch(() => {});
    await load.stop();
    await gw.stop(); gw.cleanup();
  }
}

/**
 * The floor: a bare `ws` server holding the same number of idle connections and pinging each at
 * the preset's interval with the heartbeat from ws's README (servers/hub.mjs). What any Node
 * process pays for these pings; the gateway's figure is read against it.
 */
async function floor(ctx, p, toks) {
  const pingMs = PRESET_INTERVAL_MS[p.preset] ?? 25000;
  const hub = await startHub({ pingMs });
  const load = await createLoad(workersFor(p.conns));
  try {
    const urls = toks.map((k, i) => withToken(hub.url(`/room/c${i}`), k));
    const c = await load.connect(urls, p.conns, CONNECT_CONCURRENCY);
    if (c.opened !== p.conns) throw new Error(`${c.opened}/${p.conns} connections (${JSON.stringify(c.errors)})`);
    await sleep(p.settleMs);
    const r = await measured(ctx, { hub: hub.pid, load: load.pids[0] }, () => sleep(p.windowMs));
    const st = await load.stats();
    const pct = (r.cpu.cpuUs.hub / 1e6 / r.cpu.wallS) * 100;
    ctx.log(`    bare ws pings every ${pingMs} ms: ${pct.toFixed(2)}% of one core over ${r.cpu.wallS.toFixed(1)} s with ${st.open} open (${st.unexpectedCloses} dropped)`);
    return { pct, open: st.open, dropped: st.unexpectedCloses, cpu: r.cpu, disturbed: r.disturbed, pingMs };
  } finally {
    await load.closeAll().catch(() => {});
    await load.stop();
    await hub.stop();
  }
}

export async function run(ctx, p, rep) {
  const metrics = {}; const raw = {}; const failed = {};
  if (!ctx.targets.includes('gateway')) return { metrics, raw, skipped: { gateway: 'gateway not selected (--targets)' }, failed };
  const missing = gatewayAvailable();
  if (missing) return { metrics, raw, skipped: {}, failed: { gateway: missing } };
  const hub = p.conns > fdCapacity().relayed;
  const notes = [`${p.conns} idle connections, ${hub ? `hub route (presence off): ${2 * p.conns} relayed sockets do not fit under RLIMIT_NOFILE ${fdCapacity().limit}` : 'relayed to the echo upstream'}; window ${p.windowMs} ms; preset '${p.preset}'; bare-ws-pings = a bare ws server with the same connections pinging each every ${PRESET_INTERVAL_MS[p.preset] ?? 25000} ms (ws's README heartbeat), the floor for any Node process`];
  const echo = hub ? null : await startEcho();
  const toks = await tokens('HS256', 50);
  try {
    for (const hb of rotate([p.preset, 'off', 'floor'], rep)) {
      try {
        const r = hb === 'floor' ? await floor(ctx, p, toks) : await one(ctx, p, hb, hub, echo, toks);
        metrics[hb === 'floor' ? 'bare-ws-pings' : `gateway.${hb}`] = { cpuPctOfCore: r.pct, dropped: r.dropped };
        raw[hb] = r;
      } catch (e) { failed[hb === 'floor' ? 'bare-ws-pings' : `gateway.${hb}`] = e.message; ctx.log(`    ! heartbeat ${hb}: ${e.message.split('\n')[0]}`); }
    }
  } finally { await echo?.stop(); }
  return { metrics, raw, skipped: {}, failed, notes, preset: p.preset };
}

export const ratios = {
  'gateway CPU % of one core, preset': (m, r) => m[`gateway.${r.preset}`]?.cpuPctOfCore,
  'gateway CPU % of one core, preset minus off': (m, r) => (m[`gateway.${r.preset}`] && m['gateway.off'] ? m[`gateway.${r.preset}`].cpuPctOfCore - m['gateway.off'].cpuPctOfCore : null),
  'bare ws pings CPU % of one core (floor)': (m) => m['bare-ws-pings']?.cpuPctOfCore,
  'gateway preset / bare ws pings': (m, r) => (m[`gateway.${r.preset}`] && m['bare-ws-pings']?.cpuPctOfCore ? m[`gateway.${r.preset}`].cpuPctOfCore / m['bare-ws-pings'].cpuPctOfCore : null),
};
export const checks = [
  { label: 'Heartbeats for the idle connections cost ≤ 2% of one core', ratio: 'gateway CPU % of one core, preset', op: '<=', limit: 2, unit: '%' },
];
