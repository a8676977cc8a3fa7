// Runtime matrix: the relay measurements (1 KB closed loop + fixed-rate latency) with the gateway
// on Node 20, Node 24, Bun and Deno, ratios to Node 20 within the repetition. A runtime whose
// binary is not in node_modules/.bin is reported as not run. workerd (wrangler dev) is
// functional only in the issue: never ranked here.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createLoad } from '../lib/load.mjs';
import { rotate } from '../lib/stats.mjs';
import { tokens } from '../lib/tokens.mjs';
import { RUNTIMES, ROOT, gatewayAvailable, startEcho, startGateway } from '../lib/targets.mjs';
import { gatewayRoutes, gatewayEnv, pinLoad } from './common.mjs';
import { measureTarget } from './relay.mjs';

export const name = 'runtimes';
export const title = 'Runtime matrix (gateway relay on each runtime)';

export function params(smoke, o) {
  return smoke ? { conns: 4, sizes: [1024], durationMs: 300, rate: 200, latencyMs: 300, warmupMs: 100 }
    : { conns: o.conns ?? 100, sizes: [1024], durationMs: o.duration ?? 5000, rate: o.rate ?? 2000, latencyMs: o.latencyDuration ?? 5000, warmupMs: 1000 };
}

export async function run(ctx, p, rep) {
  const metrics = {}; const raw = {}; const skipped = {}; const failed = {};
  if (!ctx.targets.includes('gateway')) return { metrics, raw, skipped: { gateway: 'gateway not selected (--targets)' }, failed };
  const missing = gatewayAvailable();
  if (missing) return { metrics, raw, skipped, failed: { 'gateway.node20': missing } };
  const present = [];
  for (const rt of Object.keys(RUNTIMES)) {
    if (RUNTIMES[rt]()) present.push(rt); else skipped[`gateway.${rt}`] = `not run: runtime ${rt} not installed (node_modules/.bin/${rt === 'node24' ? 'node' : rt} absent)`;
  }
  skipped['gateway.workerd'] = existsSync(join(ROOT, 'node_modules/.bin/wrangler'))
    ? 'functional only (issue): not measured or ranked by the bench' : 'not run: wrangler not installed (functional only in any case)';
  const echo = await startEcho();
  const toks = await tokens('HS256', 20);
  const load = await createLoad(1);
  pinLoad(ctx, load);
  try {
    for (const rt of rotate(present, rep)) {
      let gw;
      try {
        gw = await startGateway({ routes: gatewayRoutes(echo.url('/')), env: gatewayEnv(), runtime: rt, name: `gateway-${rt}` });
        gw.path = '/echo';
        const r = await measureTarget(ctx, p, { ...gw, name: `gateway-${rt}` }, echo, load, toks);
        metrics[`gateway.${rt}`] = r.m; raw[`gateway.${rt}`] = r.raw;
      } catch (e) { failed[`gateway.${rt}`] = e.message; ctx.log(`    ! ${rt}: ${e.message.split('\n')[0]}`); await load.closeAll(); }
      finally { if (gw) { await gw.stop(); gw.cleanup(); } }
    }
  } finally { await load.stop(); await echo.stop(); }
  return { metrics, raw, skipped, failed };
}

const div = (a, b) => (a != null && b != null && b > 0 ? a / b : null);
export const ratios = Object.fromEntries(['node24', 'bun', 'deno'].flatMap((rt) => [
  [`${rt}/node20 max rt/s 1 KB`, (m) => div(m[`gateway.${rt}`]?.rtps_1024, m['gateway.node20']?.rtps_1024)],
  [`${rt}/node20 CPU per 1 KB rt`, (m) => div(m[`gateway.${rt}`]?.cpuUsPerRt_1024, m['gateway.node20']?.cpuUsPerRt_1024)],
]));
export const checks = [];
