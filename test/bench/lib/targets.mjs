// The processes a scenario measures: the upstream echo, nginx as a WebSocket proxy, the bare
// relay, Redis and the gateway. Each start*() returns { name, pid, port, url(path), stop() }.
import { existsSync, mkdirSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProcess, freePort, httpReady, tryRun, sh } from './procs.mjs';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SERVERS = fileURLToPath(new URL('../servers/', import.meta.url));
const PRELOAD = join(SERVERS, 'gc-preload.mjs');
export const GATEWAY_BIN = join(ROOT, 'dist/bin.js');

export function tmp(prefix) { return mkdtempSync(join(tmpdir(), `wsgate-bench-${prefix}-`)); }

/** Env that lets the bench read heap-after-GC of a Node process (see servers/gc-preload.mjs). */
function heapEnv(dir, name) {
  const file = join(dir, `${name}-heap.json`);
  return { file, env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${PRELOAD}`.trim(), BENCH_HEAP_FILE: file } };
}

const wrap = (h, port, extra = {}) => ({ name: h.name, pid: h.pid, port, handle: h, startupMs: h.startupMs,
  url: (path = '/') => `ws://127.0.0.1:${port}${path}`, stop: (ms) => h.stop(ms), ...extra });

export async function startEcho({ pin } = {}) {
  const port = await freePort();
  const h = await startProcess('echo', process.execPath, [join(SERVERS, 'echo.mjs'), String(port)], { ready: /READY/, pin });
  return wrap(h, port);
}

export async function startRelay(upstreamUrl, { pin } = {}) {
  const port = await freePort();
  const dir = tmp('relay');
  const hp = heapEnv(dir, 'relay');
  const h = await startProcess('relay', process.execPath, [join(SERVERS, 'relay.mjs'), String(port), upstreamUrl], { ready: /READY/, env: hp.env, pin });
  return wrap(h, port, { heapFile: hp.file, cleanup: () => rmSync(dir, { recursive: true, force: true }) });
}

/** Byte-copy floor (servers/copy.mjs): two sockets piped, nothing parsed. */
export async function startCopy(upstreamPort, { pin } = {}) {
  const port = await freePort();
  const h = await startProcess('copy', process.execPath, [join(SERVERS, 'copy.mjs'), String(port), String(upstreamPort)], { ready: /READY/, pin });
  return wrap(h, port);
}

/** Bare broadcast hub (servers/hub.mjs): the broadcast floor (`preframed`: framed once). */
export async function startHub({ pingMs, preframed } = {}) {

  const port = await freePort();
  const args = [join(SERVERS, 'hub.mjs'), String(port), String(pingMs ?? 0), ...(preframed ? ['preframed'] : [])];
  const h = await startProcess(preframed ? 'preframed-hub' : 'bare-hub', process.execPath, args, { ready: /READY/ });
  return wrap(h, port);
}

// ---- nginx ---------------------------------------------------------------------------------
let nginxChecked = null;
/** nginx binary path, installing Debian's nginx-light when missing and running as root. */
export function ensureNginx({ install = true, log = console.error } = {}) {
  if (nginxChecked) return nginxChecked;
  let bin = tryRun('sh', ['-c', 'command -v nginx || ls /usr/sbin/nginx']);
  if (!bin && install && process.getuid?.() === 0) {
    log('[bench] nginx missing: apt-get install -y nginx-light');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    if (tryRun('apt-get', ['install', '-y', '-q', 'nginx-light'], { env, timeout: 240000 }) === null) {
      tryRun('apt-get', ['update', '-q'], { env, timeout: 240000 });
      tryRun('apt-get', ['install', '-y', '-q', 'nginx-light'], { env, timeout: 240000 });
    }
    bin = tryRun('sh', ['-c', 'command -v nginx || ls /usr/sbin/nginx']);
  }
  const version = bin ? (tryRun('sh', ['-c', `${bin} -v 2>&1`]) || '').replace(/^nginx version:\s*/, '') : null;
  nginxChecked = { bin, version, reason: bin ? null : (process.getuid?.() === 0 ? 'apt-get install nginx-light failed' : 'not installed and not root (cannot apt-get install nginx-light)') };
  return nginxChecked;
}

export async function startNginx(upstreamPort, { pin, maxConns = 40000 } = {}) {
  const ng = ensureNginx();
  if (!ng.bin) throw new Error(`nginx absent: ${ng.reason}`);
  const port = await freePort();
  const dir = tmp('nginx');
  mkdirSync(join(dir, 'logs'));
  const t = (n) => `${n}_temp_path ${dir}/${n};`;
  writeFileSync(join(dir, 'nginx.conf'), `daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 20000;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections ${maxConns}; multi_accept on; } # above the fd limit on purpose: at 19000 nginx 1.22 ran out at ~17.8k sockets ("not enough, reusing connections"); the fd limit is the real cap
http {
  access_log off;
  ${t('client_body')} ${t('proxy')} ${t('fastcgi')} ${t('uwsgi')} ${t('scgi')}
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://127.0.0.1:${upstreamPort};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
    }
  }
}
`);
  const h = await startProcess('nginx', ng.bin, ['-p', dir, '-c', join(dir, 'nginx.conf')], { ready: httpReady(`http://127.0.0.1:${port}/`), pin });
  return wrap(h, port, { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) });
}

// ---- Redis ---------------------------------------------------------------------------------
export async function startRedis() {
  const bin = tryRun('sh', ['-c', 'command -v redis-server']);
  if (!bin) throw new Error('redis-server absent (apt-get install redis-server)');
  const port = await freePort();
  const h = await startProcess('redis', bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { ready: /Ready to accept connections/ });
  return { ...wrap(h, port), url: `redis://127.0.0.1:${port}` };
}

// ---- the gateway ---------------------------------------------------------------------------
export const RUNTIMES = {
  node20: () => ({ cmd: process.execPath, pre: [] }),
  node24: () => bin('node'),
  bun: () => bin('bun'),
  deno: () => { const b = bin('deno'); return b && { ...b, pre: ['run', '-A'] }; },
};
function bin(name) {
  const p = join(ROOT, 'node_modules/.bin', name);
  return existsSync(p) ? { cmd: p, pre: [] } : null;
}
export function runtimeVersion(name) {
  const r = RUNTIMES[name]?.();
  return r ? tryRun(r.cmd, ['--version'])?.split('\n')[0] ?? null : null;
}

export function gatewayAvailable() {
  return existsSync(GATEWAY_BIN) ? null : `gateway CLI ${GATEWAY_BIN} does not exist yet (dist/bin.js)`;
}

/**
 * Start one gateway instance. `routes` maps file name -> route object (serialised as an ESM
 * default export). Heap after GC is read through the preload (Node runtimes only).
 */
export async function startGateway({ routes, env = {}, store, runtime = 'node20', pin, name = 'gateway', routesDir, cli = false } = {}) {
  const missing = gatewayAvailable();
  if (missing) throw new Error(missing);
  const rt = RUNTIMES[runtime]?.();
  if (!rt) throw new Error(`runtime ${runtime} not installed (node_modules/.bin)`);
  const dir = tmp(name);
  const rdir = routesDir ?? join(dir, 'routes');
  if (!routesDir) {
    mkdirSync(rdir);
    for (const [file, route] of Object.entries(routes)) writeFileSync(join(rdir, `${file}.mjs`), `export default ${JSON.stringify(route, null, 2)};\n`);
  }
  const port = await freePort();
  const hp = runtime.startsWith('node') ? heapEnv(dir, name) : { env: {}, file: null };
  // Each runtime's own entry (Bun and Deno run their adapters, not the Node CLI under compatibility);
  // `cli`: the Node CLI (dist/bin.js) under that runtime's Node compatibility instead.
  const entry = cli ? [GATEWAY_BIN, 'start']
    : runtime === 'bun' ? [join(ROOT, 'src/runtime/bun/main.ts')]
    : runtime === 'deno' ? ['--no-lock', '--node-modules-dir=manual', join(ROOT, 'src/runtime/deno/main.ts')]
    : [GATEWAY_BIN, 'start'];
  const args = [...rt.pre, ...entry, '--routes', rdir, '--port', String(port), '--host', '127.0.0.1', ...(store ? ['--store', store] : [])];
  const h = await startProcess(name, rt.cmd, args, { cwd: ROOT, env: { ...hp.env, ...env }, ready: httpReady(`http://127.0.0.1:${port}/readyz`), readyTimeoutMs: 30000, pin });
  return wrap(h, port, { heapFile: hp.file, routesDir: rdir, cleanup: () => rmSync(dir, { recursive: true, force: true }) });
}

export function gitSha() { return tryRun('git', ['-C', ROOT, 'rev-parse', 'HEAD']); }
export function gitDirty() { return (tryRun('git', ['-C', ROOT, 'status', '--porcelain']) || '').length > 0; }
export { sh };
