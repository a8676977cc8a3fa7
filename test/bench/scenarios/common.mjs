// Shared scenario plumbing: measured phases with disturbance detection, starting the targets in
// front of one echo upstream, the gateway's bench routes, pinning.
import { startCpu, fdLimit } from '../lib/cpu.mjs';
import { startEcho, startNginx, startRelay, startCopy, startGateway, ensureNginx, gatewayAvailable, RUNTIMES } from '../lib/targets.mjs';
import { JWT_SECRET, ADMIN_SECRET, keyFor } from '../lib/tokens.mjs';
import { tryRun, sleep } from '../lib/procs.mjs';

export const CORE_PROXY = 0; // --pin: the measured proxy gets core 0, load and echo core 1
export const CORE_LOAD = 1;
// Handshakes in flight while opening connections: under the gateway's per-IP cap
// (maxHandshakesPerIp, default 64; every bench client is 127.0.0.1).
export const CONNECT_CONCURRENCY = 48;

/**
 * Run fn() while measuring CPU of the named process trees. If processes outside the run used
 * more than ctx.disturbCores cores on average, the phase is flagged and repeated (ctx.retries).
 */
export async function measured(ctx, trees, fn, { retry = true } = {}) {
  for (let attempt = 1; ; attempt++) {
    const cpu = startCpu(trees);
    const r = await fn();
    const c = cpu.finish();
    const disturbed = c.otherCores > ctx.disturbCores;
    if (!disturbed || !retry || attempt > ctx.retries) {
      if (disturbed) ctx.log(`    ! disturbed: ${c.otherCores.toFixed(2)} cores used by other processes (kept, flagged)`);
      return { ...r, cpu: c, disturbed, attempts: attempt };
    }
    const quiet = await waitQuiet(ctx);
    ctx.log(`    ! disturbed: ${c.otherCores.toFixed(2)} cores used by other processes, repeating the phase${quiet ? '' : ' (the machine did not get quiet within 20 s)'}`);
  }
}

/** Wait (at most maxMs) for a 1 s window in which other processes use < ctx.disturbCores cores. */
export async function waitQuiet(ctx, maxMs = 20000) {
  const t0 = Date.now();
  while (Date.now() - t0 < maxMs) {
    const c = startCpu({});
    await sleep(1000);
    if (c.finish().otherCores <= ctx.disturbCores) return true;
  }
  return false;
}

export function pinLoad(ctx, load) {
  if (!ctx.pin) return;
  for (const pid of load.pids) tryRun('taskset', ['-a', '-p', '-c', String(CORE_LOAD), String(pid)]);
}

/** Bench routes for the gateway (written as .mjs route files). */
export function gatewayRoutes(echoUrl, { heartbeat, maxBufferedBytes } = {}) {
  const relay = (path, extra = {}) => ({ path, upstream: echoUrl, maxMessageBytes: 1048576, ...extra });
  const hb = heartbeat ?? ctxDefaults.heartbeatRelay;
  const r = {
    echo: relay('/echo', { ...(hb ? { heartbeat: hb } : {}), ...(maxBufferedBytes ? { maxBufferedBytes } : {}) }),
    rs: relay('/rs', { auth: { publicKey: keyFor('RS256').publicPem, algorithms: ['RS256'] } }),
    es: relay('/es', { auth: { publicKey: keyFor('ES256').publicPem, algorithms: ['ES256'] } }),
    ed: relay('/ed', { auth: { publicKey: keyFor('EdDSA').publicPem, algorithms: ['EdDSA'] } }),
    room: { path: '/room/:room', channel: 'room:{room}', presenceEvents: false },
  };
  return r;
}
const ctxDefaults = { heartbeatRelay: undefined }; // the route default (what a user gets)

export const gatewayEnv = () => ({ JWT_SECRET, WSGATE_ADMIN_SECRET: ADMIN_SECRET });

/**
 * The gateway targets: 'gateway' (Node, frame-aware relay), 'gateway-ws' (the same gateway on
 * the message-level ws legs), 'gateway-bun' (Bun's own entry, src/runtime/bun/main.ts),
 * 'gateway-bun-cli' (the Node CLI dist/bin.js under Bun's Node compatibility).
 */
export const GATEWAY_TARGETS = {
  gateway: { env: {} },
  'gateway-ws': { env: { WSGATE_NODE_RELAY: 'ws' } },
  'gateway-bun': { runtime: 'bun', env: {} },
  'gateway-bun-cli': { runtime: 'bun', cli: true, env: {} },
};

/**
 * Start the echo upstream plus the requested relay targets. Returns { echo, targets: {name: t},
 * skipped: {name: reason}, failed: {name: error} }. 'direct' is the echo itself. A target that
 * cannot start is reported in `failed` (the run then exits non-zero) and the others still run.
 */
export async function startTargets(ctx, names, { gateway = {}, runtime = 'node20' } = {}) {
  const echo = await startEcho({ pin: ctx.pin ? CORE_LOAD : undefined });
  const targets = {}; const skipped = {}; const failed = {};
  const pin = ctx.pin ? CORE_PROXY : undefined;
  for (const n of names) {
    try {
      if (n === 'direct') targets.direct = { ...echo, name: 'direct', pid: null, stop: async () => {} };
      else if (n === 'nginx') {
        const ng = ensureNginx({ log: ctx.log });
        if (!ng.bin) { skipped.nginx = `ABSENT: nginx ${ng.reason}`; continue; }
        targets.nginx = await startNginx(echo.port, { pin });
      } else if (n === 'relay') targets.relay = await startRelay(echo.url('/'), { pin });
      else if (n === 'copy') targets.copy = await startCopy(echo.port, { pin });
      else if (GATEWAY_TARGETS[n]) {
        const missing = gatewayAvailable();
        if (missing) throw new Error(missing);
        const g = GATEWAY_TARGETS[n];
        if (g.runtime && !RUNTIMES[g.runtime]()) { skipped[n] = `not run: node_modules/.bin/${g.runtime} absent`; continue; }
        const env = { ...gatewayEnv(), ...g.env };
        targets[n] = await startGateway({ routes: gatewayRoutes(echo.url('/'), gateway), env, runtime: g.runtime ?? runtime, cli: g.cli, pin, name: n });
        targets[n].path = '/echo';
      }
    } catch (e) {
      failed[n] = e.message;
      ctx.log(`    ! ${n} failed to start: ${e.message.split('\n')[0]}`);
    }
  }
  for (const t of Object.values(targets)) t.path ??= '/';
  return { echo, targets, skipped, failed };
}

export async function stopAll(echo, targets) {
  for (const t of Object.values(targets)) { await t.stop(); t.cleanup?.(); }
  await echo?.stop();
}

/** How many relayed connections one process can hold under RLIMIT_NOFILE (client + upstream leg). */
export function fdCapacity() {
  const { soft, hard } = fdLimit();
  const lim = Math.min(soft === Infinity ? 1e6 : soft, hard === Infinity ? 1e6 : hard);
  return { limit: lim, relayed: Math.floor((lim - 200) / 2), single: lim - 200 };
}

export { gatewayAvailable };
