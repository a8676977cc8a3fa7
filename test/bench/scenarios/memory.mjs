// Idle memory per relayed connection: RSS (process tree, /proc), heap after a full GC (Node
// targets, via servers/gc-preload.mjs) and kernel TCP memory (/proc/net/sockstat), at growing
// connection counts; then a connect/close wave and the heap against its baseline.
// One process holds at most RLIMIT_NOFILE sockets and a relay needs two per connection: sizes
// that cannot fit are reported as not run, and the largest size that fits is added.
import { createLoad, workersFor } from '../lib/load.mjs';
import { kernelTcp } from '../lib/cpu.mjs';
import { memory } from '../lib/probe.mjs';
import { rotate } from '../lib/stats.mjs';
import { tokens, withToken } from '../lib/tokens.mjs';
import { sleep } from '../lib/procs.mjs';
import { startTargets, stopAll, fdCapacity, CONNECT_CONCURRENCY } from './common.mjs';

export const name = 'memory';
export const title = 'Idle memory per relayed connection';

export function params(smoke, o) {
  return smoke ? { sizes: [50], wave: 100, waveBatch: 50, settleMs: 200, lingerMs: 200 }
    : { sizes: o.memSizes ?? [1000, 5000, 20000], wave: o.wave ? Number(o.wave) : 20000, waveBatch: 5000, settleMs: 1500, lingerMs: o.linger ? Number(o.linger) : 15000 };
}

const KB = 1024;

// Fills m and raw as it goes, so the sizes measured before a failure are still reported.
async function measureTarget(ctx, p, t, sizes, gwTokens, m, raw) {
  raw.points = [];
  const urls = gwTokens ? gwTokens.map((k) => withToken(t.url(t.path), k)) : [t.url(t.path)];
  const load = await createLoad(workersFor(Math.max(...sizes, p.waveBatch)));
  try {
    await load.connect(urls, 100, CONNECT_CONCURRENCY); await load.closeAll(); // warm up lazy paths
    await sleep(p.settleMs);
    const base = await memory(t); const k0 = kernelTcp();
    raw.baseline = base;
    let open = 0;
    for (const n of sizes) {
      const c = await load.connect(urls, n - open, CONNECT_CONCURRENCY);
      open = c.total;
      if (open !== n) throw new Error(`${t.name}: ${open}/${n} connections open (${JSON.stringify(c.errors)})`);
      await sleep(p.settleMs);
      const mem = await memory(t); const k = kernelTcp();
      const st = await load.stats();
      if (st.open !== n) throw new Error(`${t.name}: only ${st.open}/${n} connections still open after settling`);
      m[`rssKBPerConn_${n}`] = (mem.rss - base.rss) / n / KB;
      m[`heapKBPerConn_${n}`] = mem.heapUsed != null && base.heapUsed != null ? (mem.heapUsed - base.heapUsed) / n / KB : null;
      // Kernel: machine-wide slab + TCP buffer growth over the sockets added (client, proxy in,
      // proxy out, echo: all on this machine); the proxy itself holds two of them per connection.
      const perSocket = (k.slabBytes - k0.slabBytes + k.memBytes - k0.memBytes) / Math.max(1, k.inuse - k0.inuse);
      m[`kernelKBPerConn_${n}`] = (2 * perSocket) / KB;
      raw.points.push({ n, mem, kernel: k, tcpSocketsAdded: k.inuse - k0.inuse });
      ctx.log(`    ${t.name} ${n} conns: RSS ${m[`rssKBPerConn_${n}`].toFixed(1)} KB/conn, heap ${m[`heapKBPerConn_${n}`]?.toFixed(1) ?? 'n/a'} KB/conn, kernel ${m[`kernelKBPerConn_${n}`].toFixed(1)} KB/conn (2 sockets; +${k.inuse - k0.inuse} TCP sockets machine-wide)`);
    }
    await load.closeAll();
    // Wave: p.wave connections opened and closed in batches (the fd limit caps one batch).
    for (let done = 0; done < p.wave; done += p.waveBatch) {
      const c = await load.connect(urls, Math.min(p.waveBatch, p.wave - done), CONNECT_CONCURRENCY);
      if (c.opened < Math.min(p.waveBatch, p.wave - done)) raw.waveErrors = c.errors;
      await load.closeAll();
    }
    // Twice: soon after the wave and after lingering timers (leases, close timeouts) had time.
    await sleep(p.settleMs * 2);
    const soon = await memory(t);
    await sleep(p.lingerMs);
    const after = await memory(t);
    raw.afterWaveSoon = soon; raw.afterWave = after;
    m.heapAfterWaveSoonRatio = soon.heapUsed != null && base.heapUsed ? soon.heapUsed / base.heapUsed : null;
    m.heapAfterWaveKB = after.heapUsed != null ? after.heapUsed / KB : null;
    m.heapBaselineKB = base.heapUsed != null ? base.heapUsed / KB : null;
    m.heapAfterWaveRatio = after.heapUsed != null && base.heapUsed ? after.heapUsed / base.heapUsed : null;
    m.rssAfterWaveMB = after.rss / KB / KB;
    if (base.metricsHeap != null) { m.metricsHeapBaselineKB = base.metricsHeap / KB; m.metricsHeapAfterWaveKB = after.metricsHeap / KB; }
    ctx.log(`    ${t.name} after a ${p.wave}-connection wave: heap ${m.heapAfterWaveSoonRatio?.toFixed(3) ?? 'n/a'}× baseline after ${p.settleMs * 2} ms, ${m.heapAfterWaveRatio?.toFixed(3) ?? 'n/a'}× after ${p.settleMs * 2 + p.lingerMs} ms`);
  } finally { await load.stop(); }
}

export async function run(ctx, p, rep) {
  const names = rotate(ctx.targets.filter((n) => ['nginx', 'relay', 'copy', 'gateway', 'gateway-ws'].includes(n)), rep);
  const cap = fdCapacity();
  const fits = p.sizes.filter((n) => n <= cap.relayed);
  const notes = p.sizes.filter((n) => n > cap.relayed).map((n) => `${n} connections not run: a relayed connection needs 2 sockets in one process and RLIMIT_NOFILE is ${cap.limit} (max ${cap.relayed}); the largest size that fits was measured instead`);
  const capSize = Math.floor(cap.relayed / 1000) * 1000;
  const sizes = [...new Set([...fits, ...(fits.length < p.sizes.length ? [capSize] : [])])].sort((a, b) => a - b);
  const metrics = {}; const raw = {}; const skipped = {}; const failed = {};
  const gwTokens = await tokens('HS256', 50);
  for (const n of names) { // fresh processes per target: a clean baseline
    const st = await startTargets(ctx, [n]);
    Object.assign(skipped, st.skipped); Object.assign(failed, st.failed);
    const t = st.targets[n];
    try {
      if (t) { metrics[n] = {}; raw[n] = {}; await measureTarget(ctx, p, t, sizes, n.startsWith('gateway') ? gwTokens : null, metrics[n], raw[n]); }
    } catch (e) { failed[n] = e.message; ctx.log(`    ! ${n}: ${e.message}`); }
    finally { await stopAll(st.echo, st.targets); }
  }
  if (metrics.nginx) notes.push('nginx has no heap: RSS only (master + worker)');
  return { metrics, raw, skipped, failed, notes, sizes };
}

const at = (n) => (m) => m.gateway?.[`rssKBPerConn_${n}`];
export const ratios = {
  'gateway/relay RSS per conn (largest size)': (m, r) => { const n = Math.max(...(r.sizes ?? [0])); return m.gateway && m.relay ? m.gateway[`rssKBPerConn_${n}`] / m.relay[`rssKBPerConn_${n}`] : null; },
  'gateway/nginx RSS per conn (largest size)': (m, r) => { const n = Math.max(...(r.sizes ?? [0])); return m.gateway && m.nginx ? m.gateway[`rssKBPerConn_${n}`] / m.nginx[`rssKBPerConn_${n}`] : null; },
  'gateway RSS KB/conn at 5k': at(5000),
  'gateway heap KB/conn at 5k': (m) => m.gateway?.heapKBPerConn_5000,
  'gateway RSS KB/conn at 20k': at(20000),
  'gateway heap KB/conn at 20k': (m) => m.gateway?.heapKBPerConn_20000,
  'gateway RSS KB/conn at largest size': (m, r) => m.gateway?.[`rssKBPerConn_${Math.max(...(r.sizes ?? [0]))}`],
  'gateway heap KB/conn at largest size': (m, r) => m.gateway?.[`heapKBPerConn_${Math.max(...(r.sizes ?? [0]))}`],
  'gateway heap after wave / baseline': (m) => m.gateway?.heapAfterWaveRatio,
  'bare relay heap after wave / baseline': (m) => m.relay?.heapAfterWaveRatio,
};

const fdNote = () => (fdCapacity().relayed < 20000 ? `not run: needs 40k sockets in one process, RLIMIT_NOFILE is ${fdCapacity().limit}; see the largest size that fits` : undefined);
export const checks = [
  { label: 'Idle relayed connection ≤ 12 KB RSS at 5k', ratio: 'gateway RSS KB/conn at 5k', op: '<=', limit: 12, unit: 'KB' },
  { label: 'Idle relayed connection ≤ 6 KB heap at 5k', ratio: 'gateway heap KB/conn at 5k', op: '<=', limit: 6, unit: 'KB' },
  { label: 'Idle relayed connection ≤ 12 KB RSS at 20k', ratio: 'gateway RSS KB/conn at 20k', op: '<=', limit: 12, unit: 'KB', missing: fdNote },
  { label: 'Idle relayed connection ≤ 6 KB heap at 20k', ratio: 'gateway heap KB/conn at 20k', op: '<=', limit: 6, unit: 'KB', missing: fdNote },
  { label: 'Idle relayed connection ≤ 12 KB RSS at the largest size that fits', ratio: 'gateway RSS KB/conn at largest size', op: '<=', limit: 12, unit: 'KB' },
  { label: 'Idle relayed connection ≤ 6 KB heap at the largest size that fits', ratio: 'gateway heap KB/conn at largest size', op: '<=', limit: 6, unit: 'KB' },
  { label: 'Heap back within 10% of baseline after the connect/close wave', ratio: 'gateway heap after wave / baseline', op: '<=', limit: 1.1 },
];
