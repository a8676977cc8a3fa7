// Slow consumer: N clients at a fixed open-loop rate; then one extra client stops reading while
// it keeps sending (its echoes pile up in whatever sits in between). Reports RSS growth of the
// process in between and the other clients' p99 with and without the slow consumer.
import { createLoad } from '../lib/load.mjs';
import { percentiles, rotate } from '../lib/stats.mjs';
import { rssBytes } from '../lib/cpu.mjs';
import { tokens, withToken } from '../lib/tokens.mjs';
import { startTargets, stopAll, measured, pinLoad, CONNECT_CONCURRENCY } from './common.mjs';

export const name = 'slow';
export const title = 'Slow consumer: RSS growth and the other clients\' p99';

const MB = 1024 * 1024;
export function params(smoke, o) {
  const bufferLimit = o.bufferLimit ? Number(o.bufferLimit) : 8 * MB; // the route default (maxBufferedBytes)
  return smoke ? { smoke: true, conns: 4, rate: 200, size: 1024, durationMs: 250, slowSize: 16384, slowRate: 500, bufferLimit }
    : { conns: o.conns ? Math.min(Number(o.conns), 100) : 20, rate: o.rate ?? 1000, size: 1024, durationMs: o.duration ?? 5000, slowSize: 16384, slowRate: 2000, bufferLimit };
}

async function measureTarget(ctx, p, t, echo, load, urls) {
  const c = await load.connect(urls, p.conns, CONNECT_CONCURRENCY);
  if (c.opened !== p.conns) throw new Error(`opened ${c.opened}/${p.conns} (${JSON.stringify(c.errors)})`);
  await load.openLoop({ size: p.size, rate: p.rate, durationMs: p.smoke ? 100 : 1000 }); // warm-up
  const trees = { proxy: t.pid, echo: echo.pid };
  const a = await measured(ctx, trees, () => load.openLoop({ size: p.size, rate: p.rate, durationMs: p.durationMs }));
  const pid = t.pid ?? echo.pid;
  const rss0 = rssBytes(pid, true); const echo0 = rssBytes(echo.pid);
  let maxRss = rss0; let maxEcho = echo0;
  const sample = () => { maxRss = Math.max(maxRss, rssBytes(pid, true)); maxEcho = Math.max(maxEcho, rssBytes(echo.pid)); };
  const timer = setInterval(sample, 100);
  let slowRes;
  const b = await measured(ctx, trees, async () => {
    await load.slowStart({ url: urls[0], size: p.slowSize, rate: p.slowRate });
    try { return await load.openLoop({ size: p.size, rate: p.rate, durationMs: p.durationMs }); }
    finally { slowRes = await load.slowStop(); }
  }, { retry: false });
  clearInterval(timer);
  sample();
  await load.closeAll();
  const pa = percentiles(a.latUs); const pb = percentiles(b.latUs);
  const m = { p99_us_without: pa.p99, p99_us_with: pb.p99, p99Ratio: pa.p99 ? pb.p99 / pa.p99 : null,
    rssGrowthMB: (maxRss - rss0) / MB, upstreamEchoRssGrowthMB: t.pid ? (maxEcho - echo0) / MB : null, slowClosedWith: slowRes.closedBy ?? null, slowSentMB: (slowRes.sent * p.slowSize) / MB,
    lostWith: b.sent - b.received };
  ctx.log(`    ${t.name}: RSS +${m.rssGrowthMB.toFixed(1)} MB, other clients' p99 ${pa.p99} -> ${pb.p99} µs (${m.p99Ratio?.toFixed(2)}×), slow client closed with ${m.slowClosedWith ?? '(still open)'}`);
  return { m, raw: { without: { ...pa, cpu: a.cpu, disturbed: a.disturbed }, with: { ...pb, cpu: b.cpu, disturbed: b.disturbed }, rss0, maxRss, slow: slowRes } };
}

export async function run(ctx, p, rep) {
  const names = rotate(ctx.targets.filter((n) => ['direct', 'nginx', 'relay', 'gateway'].includes(n)), rep);
  const metrics = {}; const raw = {}; const skipped = {}; const failed = {};
  const gwTokens = await tokens('HS256', 20);
  for (const n of names) { // fresh processes per target: RSS growth from a clean start
    const st = await startTargets(ctx, [n], { gateway: { maxBufferedBytes: ctx.opts.bufferLimit ? p.bufferLimit : undefined } });
    Object.assign(skipped, st.skipped); Object.assign(failed, st.failed);
    const t = st.targets[n];
    const load = await createLoad(1);
    pinLoad(ctx, load);
    try {
      if (t) {
        const urls = n === 'gateway' ? gwTokens.map((k) => withToken(t.url(t.path), k)) : [t.url(t.path)];
        const r = await measureTarget(ctx, p, t, st.echo, load, urls);
        metrics[n] = r.m; raw[n] = r.raw;
      }
    } catch (e) { failed[n] = e.message; ctx.log(`    ! ${n}: ${e.message}`); }
    finally { await load.stop(); await stopAll(st.echo, st.targets); }
  }
  return { metrics, raw, skipped, failed, bufferLimit: p.bufferLimit,
    notes: [`slow client: ${p.slowSize} B messages at ${p.slowRate}/s, never reads; direct = the echo server's own RSS; upstreamEchoRssGrowthMB shows buffering pushed back to the upstream; slowClosedWith = close code the slow client got before the end (n/a: never closed)`] };
}

export const ratios = {
  'gateway RSS growth / (buffer limit + 10 MB)': (m, r) => (m.gateway ? m.gateway.rssGrowthMB / ((r.bufferLimit ?? 8 * MB) / MB + 10) : null),
  'gateway other clients p99 with / without': (m) => m.gateway?.p99Ratio,
  'relay other clients p99 with / without': (m) => m.relay?.p99Ratio,
  'nginx other clients p99 with / without': (m) => m.nginx?.p99Ratio,
};

export const checks = [
  { label: 'Slow consumer: gateway RSS growth ≤ per-connection buffer limit + 10 MB', ratio: 'gateway RSS growth / (buffer limit + 10 MB)', op: '<=', limit: 1 },
  { label: 'Slow consumer: the other clients\' p99 stays within 20%', ratio: 'gateway other clients p99 with / without', op: '<=', limit: 1.2 },
];
