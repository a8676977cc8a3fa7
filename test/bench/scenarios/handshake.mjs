// Handshakes: connect -> first relayed message -> close cycles at a fixed concurrency. Time to
// open, time to first relayed message, connections/s and CPU µs per handshake of the process in
// between; on the gateway for HS256, RS256, ES256, EdDSA tokens and for rejected (invalid) tokens.
import { createLoad } from '../lib/load.mjs';
import { percentiles, rotate } from '../lib/stats.mjs';
import { tokens, invalidTokens, withToken } from '../lib/tokens.mjs';
import { measured, startTargets, stopAll, pinLoad } from './common.mjs';

export const name = 'handshake';
export const title = 'Handshakes: time to open, to first relayed message, connections/s';

export function params(smoke, o) {
  return smoke ? { durationMs: 250, warmupMs: 50, concurrency: 4, tokenPool: 5 }
    : { durationMs: o.duration ?? 3000, warmupMs: 1000, concurrency: o.concurrency ? Number(o.concurrency) : 20, tokenPool: 200 };
}

const ALGS = [['hs256', 'HS256', '/echo'], ['rs256', 'RS256', '/rs'], ['es256', 'ES256', '/es'], ['eddsa', 'EdDSA', '/ed']];

export async function run(ctx, p, rep) {
  const names = rotate(ctx.targets.filter((n) => ['direct', 'nginx', 'relay', 'gateway'].includes(n)), rep);
  const { echo, targets, skipped, failed } = await startTargets(ctx, names);
  const load = await createLoad(1);
  pinLoad(ctx, load);
  const metrics = {}; const raw = {};
  // The cases: one per non-gateway target, five on the gateway (four algorithms + rejected).
  const cases = [];
  for (const n of names) {
    const t = targets[n];
    if (!t) continue;
    if (n !== 'gateway') { cases.push({ key: n, t, urls: [t.url('/')], firstMessage: true }); continue; }
    const algs = rotate(ALGS, rep);
    for (const [key, alg, path] of algs) cases.push({ key: `gateway.${key}`, t, urls: (await tokens(alg, p.tokenPool)).map((k) => withToken(t.url(path), k)), firstMessage: true });
    cases.push({ key: 'gateway.rejected', t, urls: (await invalidTokens(p.tokenPool)).map((k) => withToken(t.url('/echo'), k)), reject: true });
  }
  try {
    for (const c of cases) {
      try {
        // Unmeasured warm-up of the same case: otherwise whichever case comes first in a fresh
        // process pays for JIT compilation (cold cases measured ~0.8x of warm ones).
        await load.handshakes({ urls: c.urls, durationMs: p.warmupMs, concurrency: p.concurrency, firstMessage: !c.reject });
        const r = await measured(ctx, { proxy: c.t.pid, echo: echo.pid }, () => load.handshakes({ urls: c.urls, durationMs: p.durationMs, concurrency: p.concurrency, firstMessage: !c.reject }));
        const m = {};
        if (c.reject) {
          const rejected = r.errors[401] ?? 0;
          m.rejectedPerS = rejected / (r.wallMs / 1000);
          m.cpuUsPerRejected = c.t.pid ? r.cpu.cpuUs.proxy / Math.max(1, rejected) : null;
          if (r.ok) throw new Error(`${r.ok} invalid-token handshakes were accepted`);
          const other = Object.entries(r.errors).filter(([k]) => k !== '401');
          if (other.length) m.otherErrors = other.reduce((a, [, v]) => a + v, 0);
          if (!rejected) throw new Error(`no 401 for invalid tokens: ${JSON.stringify(r.errors)}`);
        } else {
          if (!r.ok) throw new Error(`no handshake succeeded: ${JSON.stringify(r.errors)}`);
          const o = percentiles(r.openUs); const f = percentiles(r.firstUs);
          Object.assign(m, { connPerS: r.ok / (r.wallMs / 1000), open_p50_us: o.p50, open_p99_us: o.p99, first_p50_us: f.p50, first_p99_us: f.p99,
            cpuUsPerHandshake: c.t.pid ? r.cpu.cpuUs.proxy / r.ok : null, errors: Object.values(r.errors).reduce((a, b) => a + b, 0) });
        }
        metrics[c.key] = m;
        raw[c.key] = { ok: r.ok, wallMs: r.wallMs, errors: r.errors, cpu: r.cpu, disturbed: r.disturbed };
        ctx.log(`    ${c.key}: ${Math.round(m.connPerS ?? m.rejectedPerS)} /s${m.open_p50_us ? `, open p50 ${m.open_p50_us} µs, first msg p50 ${m.first_p50_us} µs` : ''}${m.cpuUsPerHandshake ? `, ${m.cpuUsPerHandshake.toFixed(0)} µs CPU` : ''}`);
      } catch (e) { failed[c.key] = e.message; ctx.log(`    ! ${c.key}: ${e.message}`); }
    }
  } finally {
    await load.stop();
    await stopAll(echo, targets);
  }
  return { metrics, raw, skipped, failed, order: cases.map((c) => c.key) };
}

const div = (a, b) => (a != null && b != null && b > 0 ? a / b : null);
export const ratios = {
  'gateway HS256 / bare relay connections/s': (m) => div(m['gateway.hs256']?.connPerS, m.relay?.connPerS),
  'gateway RS256 / bare relay connections/s': (m) => div(m['gateway.rs256']?.connPerS, m.relay?.connPerS),
  'gateway ES256 / bare relay connections/s': (m) => div(m['gateway.es256']?.connPerS, m.relay?.connPerS),
  'gateway EdDSA / bare relay connections/s': (m) => div(m['gateway.eddsa']?.connPerS, m.relay?.connPerS),
  'nginx / direct connections/s': (m) => div(m.nginx?.connPerS, m.direct?.connPerS),
  'relay / direct connections/s': (m) => div(m.relay?.connPerS, m.direct?.connPerS),
};

export const checks = [
  { label: 'Authenticated handshakes/s (HS256) ≥ 0.85× the bare relay\'s connections/s', ratio: 'gateway HS256 / bare relay connections/s', op: '>=', limit: 0.85 },
];
