// Cold start: spawn → first relayed message. The clock starts just before spawn() and stops when
// a message sent through the new process comes back from the echo upstream. The client retries
// the connection every 2 ms until the process listens (no readiness line is trusted: the first
// answered round trip is the measure). Targets, each in the same repetition: the bare `ws` relay
// on the Node on PATH (the floor) and `wsgate start` on Node 20 (the Node on PATH), Node 24, Bun
// and Deno (their own entries: src/runtime/bun/main.ts, src/runtime/deno/main.ts), all with one
// HS256 route in a fresh folder. Samples per target are interleaved; medians are reported.
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { freePort, sleep } from '../lib/procs.mjs';
import { median } from '../lib/stats.mjs';
import { tokens } from '../lib/tokens.mjs';
import { GATEWAY_BIN, ROOT, RUNTIMES, startEcho, tmp } from '../lib/targets.mjs';
import { gatewayEnv } from './common.mjs';

export const name = 'coldstart';
export const title = 'Cold start (spawn → first relayed message)';

export function params(smoke, o) {
  return { samples: smoke ? 1 : (o.samples ? Number(o.samples) : 7), timeoutMs: 30000 };
}

const RELAY = join(ROOT, 'test/bench/servers/relay.mjs');

function commandFor(target, port, routesDir, echoUrl) {
  const gw = ['--routes', routesDir, '--port', String(port), '--host', '127.0.0.1'];
  switch (target) {
    case 'relay': return [process.execPath, [RELAY, String(port), echoUrl]];
    case 'gateway.node20': return [process.execPath, [GATEWAY_BIN, 'start', ...gw]];
    case 'gateway.node24': return RUNTIMES.node24() && [RUNTIMES.node24().cmd, [GATEWAY_BIN, 'start', ...gw]];
    case 'gateway.bun': return RUNTIMES.bun() && [RUNTIMES.bun().cmd, [join(ROOT, 'src/runtime/bun/main.ts'), ...gw]];
    case 'gateway.deno': return RUNTIMES.deno() && [RUNTIMES.deno().cmd, ['run', '-A', '--no-lock', '--node-modules-dir=manual', join(ROOT, 'src/runtime/deno/main.ts'), ...gw]];
    default: return null;
  }
}

/** One round trip through ws://127.0.0.1:port/path, retried until it succeeds or the deadline passes. */
async function firstRoundTrip(url, deadline) {
  for (;;) {
    const ok = await new Promise((resolve) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      ws.once('open', () => ws.send('cold'));
      ws.once('message', () => { ws.terminate(); resolve(true); });
      ws.once('error', () => resolve(false));
      ws.once('unexpected-response', (_q, res) => { res.resume(); ws.terminate(); resolve(false); });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`no round trip through ${url.replace(/token=[^&]+/, 'token=…')} in time`);
    await sleep(2);
  }
}

async function sample(target, echo, routesDir, token, timeoutMs) {
  const port = await freePort();
  const cmd = commandFor(target, port, routesDir, echo.url('/'));
  if (!cmd) return null;
  const path = target === 'relay' ? '/' : `/echo?token=${token}`;
  const t0 = process.hrtime.bigint();
  const child = spawn(cmd[0], cmd[1], { cwd: ROOT, env: { ...process.env, ...gatewayEnv(), LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let err = '';
  child.stderr.on('data', (d) => { err = (err + d).slice(-2000); });
  try {
    await firstRoundTrip(`ws://127.0.0.1:${port}${path}`, Date.now() + timeoutMs);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  } catch (e) {
    throw new Error(`${e.message}; stderr: ${err}`);
  } finally {
    try { process.kill(-child.pid, 'SIGKILL'); } catch {}
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', r)));
  }
}

export async function run(ctx, p) {
  const metrics = {}; const raw = {}; const skipped = {}; const failed = {};
  const targets = ['relay', 'gateway.node20', 'gateway.node24', 'gateway.bun', 'gateway.deno'];
  const echo = await startEcho();
  const dir = tmp('coldstart');
  const routesDir = join(dir, 'routes');
  mkdirSync(routesDir);
  writeFileSync(join(routesDir, 'echo.mjs'), `export default ${JSON.stringify({ path: '/echo', upstream: echo.url('/') })};\n`);
  const [token] = await tokens('HS256', 1);
  const times = Object.fromEntries(targets.map((t) => [t, []]));
  try {
    for (let i = 0; i < p.samples; i++) {
      for (const t of i % 2 ? [...targets].reverse() : targets) {
        if (failed[t] || skipped[t]) continue;
        try {
          const ms = await sample(t, echo, routesDir, token, p.timeoutMs);
          if (ms === null) skipped[t] = `not run: ${t.split('.')[1]} not installed (node_modules/.bin)`;
          else times[t].push(ms);
        } catch (e) { failed[t] = e.message; ctx.log(`    ! ${t}: ${e.message.split('\n')[0]}`); }
      }
    }
  } finally {
    await echo.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  for (const t of targets) if (times[t].length) { metrics[t] = { coldStartMs: median(times[t]) }; raw[t] = times[t]; }
  return { metrics, raw, skipped, failed };
}

const div = (a, b) => (a != null && b != null && b > 0 ? a / b : null);
export const ratios = Object.fromEntries(['node20', 'node24', 'bun', 'deno'].map((rt) => [`gateway ${rt} / bare relay (cold start)`, (m) => div(m[`gateway.${rt}`]?.coldStartMs, m.relay?.coldStartMs)]));
export const checks = [
  { label: 'Node 20 cold start ≤ 1.5× the bare relay', ratio: 'gateway node20 / bare relay (cold start)', op: '<=', limit: 1.5 },
  { label: 'Node 20 cold start ≤ 1.2× the bare relay (moonshot)', ratio: 'gateway node20 / bare relay (cold start)', op: '<=', limit: 1.2 },
];
