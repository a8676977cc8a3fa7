// Relay: maximum round trips/s (closed loop, N connections, one message in flight each) at
// 64 B / 1 KB / 16 KB, CPU µs per round trip of the process in between, and latency at a fixed
// open-loop rate (raw send->receive from the intended send time, and added over direct).
import { createLoad } from '../lib/load.mjs';
import { percentiles } from '../lib/stats.mjs';
import { rotate } from '../lib/stats.mjs';
import { tokens, withToken } from '../lib/tokens.mjs';
import { measured, startTargets, stopAll, pinLoad, CONNECT_CONCURRENCY, GATEWAY_TARGETS } from './common.mjs';

export const name = 'relay';
export const title = 'Relay throughput, CPU per round trip and latency';

export function params(smoke, o) {
  return smoke
    ? { conns: 4, sizes: [64, 1024, 16384], durationMs: 250, rate: 200, latencyMs: 300, warmupMs: 50 }
    : { conns: o.conns ?? 100, sizes: [64, 1024, 16384], durationMs: o.duration ?? 5000, rate: o.rate ?? 2000, latencyMs: o.latencyDuration ?? 5000, warmupMs: 1000 };
}

/** Measures one target; shared with the runtime matrix. */
export async function measureTarget(ctx, p, t, echo, load, gwTokens) {
  const m = {}; const raw = {};
  const urls = gwTokens ? gwTokens.map((k) => withToken(t.url(t.path), k)) : [t.url(t.path)];
  const c = await load.connect(urls, p.conns, CONNECT_CONCURRENCY);
  if (c.opened !== p.conns) throw new Error(`${t.name}: opened ${c.opened}/${p.conns} connections (${JSON.stringify(c.errors)})`);
  await load.closedLoop({ size: 1024, durationMs: p.warmupMs });
  const trees = { proxy: t.pid, echo: echo.pid, load: load.pids[0] };
  for (const size of p.sizes) {
    const r = await measured(ctx, trees, () => load.closedLoop({ size, durationMs: p.durationMs }));
    const rt = r.roundTrips;
    m[`rtps_${size}`] = rt / (r.wallMs / 1000);
    m[`cpuUsPerRt_${size}`] = t.pid ? r.cpu.cpuUs.proxy / rt : null;
    m[`echoCpuUsPerRt_${size}`] = r.cpu.cpuUs.echo / rt;
    raw[`closed_${size}`] = { roundTrips: rt, wallMs: r.wallMs, undelivered: r.undelivered, cpu: r.cpu, disturbed: r.disturbed };
    ctx.log(`    ${t.name} ${size} B: ${Math.round(m[`rtps_${size}`])} rt/s, ${m[`cpuUsPerRt_${size}`]?.toFixed(1) ?? '-'} µs CPU/rt${r.disturbed ? ' (disturbed)' : ''}`);
  }
  const r = await measured(ctx, trees, () => load.openLoop({ size: 1024, rate: p.rate, durationMs: p.latencyMs }));
  const pc = percentiles(r.latUs);
  m.lat_p50_us = pc.p50; m.lat_p99_us = pc.p99; m.lat_p999_us = pc['p99.9']; m.lat_max_us = pc.max;
  m.lost = r.sent - r.received;
  m.sendLag_p99_us = percentiles(r.lagUs).p99;
  m.cpuUsPerMsgAtRate = t.pid ? r.cpu.cpuUs.proxy / Math.max(1, r.received) : null;
  raw.openLoop = { sent: r.sent, received: r.received, percentilesUs: pc, cpu: r.cpu, disturbed: r.disturbed };
  ctx.log(`    ${t.name} ${p.rate} msg/s: p50 ${pc.p50} µs, p99 ${pc.p99} µs, lost ${m.lost}`);
  await load.closeAll();
  return { m, raw };
}

export async function run(ctx, p, rep) {
  const names = rotate(ctx.targets.filter((n) => ['direct', 'nginx', 'relay', 'copy'].includes(n) || GATEWAY_TARGETS[n]), rep);
  const { echo, targets, skipped, failed } = await startTargets(ctx, names);
  const load = await createLoad(1);
  pinLoad(ctx, load);
  const gwTokens = await tokens('HS256', 20);
  const metrics = {}; const raw = {};
  try {
    for (const n of names) {
      const t = targets[n];
      if (!t) continue;
      try {
        const r = await measureTarget(ctx, p, t, echo, load, n.startsWith('gateway') ? gwTokens : null);
        metrics[n] = r.m; raw[n] = r.raw;
      } catch (e) { failed[n] = e.message; ctx.log(`    ! ${n}: ${e.message}`); await load.closeAll(); }
    }
  } finally {
    await load.stop();
    await stopAll(echo, targets);
  }
  return { metrics, raw, skipped, failed, order: names };
}

const added = (m, t) => (m[t]?.lat_p99_us != null && m.direct?.lat_p99_us != null ? m[t].lat_p99_us - m.direct.lat_p99_us : null);
const added50 = (m, t) => (m[t]?.lat_p50_us != null && m.direct?.lat_p50_us != null ? m[t].lat_p50_us - m.direct.lat_p50_us : null);
const div = (a, b) => (a != null && b != null && b > 0 ? a / b : null);

export const ratios = {
  'gateway/relay CPU per 1 KB rt': (m) => div(m.gateway?.cpuUsPerRt_1024, m.relay?.cpuUsPerRt_1024),
  'gateway/relay CPU per 1 KB msg at fixed rate': (m) => div(m.gateway?.cpuUsPerMsgAtRate, m.relay?.cpuUsPerMsgAtRate),
  'gateway/relay max rt/s 1 KB': (m) => div(m.gateway?.rtps_1024, m.relay?.rtps_1024),
  'gateway/relay max rt/s 64 B': (m) => div(m.gateway?.rtps_64, m.relay?.rtps_64),
  'gateway/relay max rt/s 16 KB': (m) => div(m.gateway?.rtps_16384, m.relay?.rtps_16384),
  'nginx/direct max rt/s 1 KB': (m) => div(m.nginx?.rtps_1024, m.direct?.rtps_1024),
  'relay/direct max rt/s 1 KB': (m) => div(m.relay?.rtps_1024, m.direct?.rtps_1024),
  'gateway/direct max rt/s 1 KB': (m) => div(m.gateway?.rtps_1024, m.direct?.rtps_1024),
  'gateway added p99 (µs)': (m) => added(m, 'gateway'),
  'nginx added p99 (µs)': (m) => added(m, 'nginx'),
  'relay added p99 (µs)': (m) => added(m, 'relay'),
  'gateway added p99 / nginx added p99': (m) => div(added(m, 'gateway'), added(m, 'nginx')),
  // Issue 12 targets (the Node gateway runs the frame relay by default; 'copy' is the byte-copy floor).
  'gateway/nginx CPU per 1 KB rt': (m) => div(m.gateway?.cpuUsPerRt_1024, m.nginx?.cpuUsPerRt_1024),
  'gateway/nginx max rt/s 1 KB': (m) => div(m.gateway?.rtps_1024, m.nginx?.rtps_1024),
  'gateway/copy CPU per 1 KB msg at fixed rate': (m) => div(m.gateway?.cpuUsPerMsgAtRate, m.copy?.cpuUsPerMsgAtRate),
  'gateway/nginx CPU per 1 KB msg at fixed rate': (m) => div(m.gateway?.cpuUsPerMsgAtRate, m.nginx?.cpuUsPerMsgAtRate),
  'gateway added p50 / relay added p50': (m) => div(added50(m, 'gateway'), added50(m, 'relay')),
  'gateway/gateway-ws CPU per 1 KB rt': (m) => div(m.gateway?.cpuUsPerRt_1024, m['gateway-ws']?.cpuUsPerRt_1024),
  'copy/nginx CPU per 1 KB msg at fixed rate': (m) => div(m.copy?.cpuUsPerMsgAtRate, m.nginx?.cpuUsPerMsgAtRate),
  // Bun (--targets …,gateway-bun[,gateway-bun-cli]): its own entry, and the Node CLI under Bun.
  'gateway-bun/nginx CPU per 1 KB msg at fixed rate': (m) => div(m['gateway-bun']?.cpuUsPerMsgAtRate, m.nginx?.cpuUsPerMsgAtRate),
  'gateway-bun/nginx CPU per 1 KB rt': (m) => div(m['gateway-bun']?.cpuUsPerRt_1024, m.nginx?.cpuUsPerRt_1024),
  'gateway-bun/nginx max rt/s 1 KB': (m) => div(m['gateway-bun']?.rtps_1024, m.nginx?.rtps_1024),
  'gateway-bun-cli/nginx CPU per 1 KB msg at fixed rate': (m) => div(m['gateway-bun-cli']?.cpuUsPerMsgAtRate, m.nginx?.cpuUsPerMsgAtRate),
  'gateway-bun-cli/gateway-bun CPU per 1 KB msg at fixed rate': (m) => div(m['gateway-bun-cli']?.cpuUsPerMsgAtRate, m['gateway-bun']?.cpuUsPerMsgAtRate),
};

export const checks = [
  { label: 'Relay CPU per 1 KB round trip ≤ 1.3× the bare relay', ratio: 'gateway/relay CPU per 1 KB rt', op: '<=', limit: 1.3 },
  { label: 'Maximum round trips/s (1 KB) ≥ 0.9× the bare relay', ratio: 'gateway/relay max rt/s 1 KB', op: '>=', limit: 0.9 },
  { label: 'Added p99 latency over direct at the fixed rate ≤ 2× what nginx adds', ratio: 'gateway added p99 / nginx added p99', op: '<=', limit: 2 },
  // Issue 12 (frame-aware relay on Node).
  { label: 'Closed loop: CPU per 1 KB round trip ≤ 1.3× nginx', ratio: 'gateway/nginx CPU per 1 KB rt', op: '<=', limit: 1.3 },
  { label: 'Max round trips/s (1 KB) ≥ 1.5× the bare relay', ratio: 'gateway/relay max rt/s 1 KB', op: '>=', limit: 1.5 },
  { label: 'Max round trips/s (1 KB) ≥ 0.9× nginx', ratio: 'gateway/nginx max rt/s 1 KB', op: '>=', limit: 0.9 },
  { label: 'At 2,000 msg/s: CPU per round trip ≤ 0.8× the bare relay', ratio: 'gateway/relay CPU per 1 KB msg at fixed rate', op: '<=', limit: 0.8 },
  { label: 'At 2,000 msg/s: CPU per round trip ≤ 1.15× the byte-copy floor', ratio: 'gateway/copy CPU per 1 KB msg at fixed rate', op: '<=', limit: 1.15 },
  { label: 'Added p50 over direct at 2,000 msg/s ≤ 0.6× the bare relay\'s', ratio: 'gateway added p50 / relay added p50', op: '<=', limit: 0.6 },
  // Issue 12, point 3 (Bun): below the 1.55× nginx the Bun entry measured before.
  { label: 'Bun entry at 2,000 msg/s: CPU per round trip < 1.55× nginx', ratio: 'gateway-bun/nginx CPU per 1 KB msg at fixed rate', op: '<=', limit: 1.55,
    missing: (skipped, failed) => failed['gateway-bun'] ?? skipped['gateway-bun'] ?? 'gateway-bun and nginx not both in --targets' },
];
