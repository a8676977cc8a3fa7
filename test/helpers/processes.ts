/**
 * Gateway processes for multi-instance tests: `node dist/bin.js start|dev` on a free loopback
 * port, ready once GET /readyz answers 200 (or, with `{ ready: 'listening' }`, once the
 * "listening" line is printed — for a gateway that is expected to stay not ready). Every process
 * started here is SIGKILLed by `stopProcesses()` and on exit of the test worker.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './redis-server.ts';
import { readyBoundMs } from './readiness.ts';
import { TEST_SECRET } from './tokens.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const BIN = join(ROOT, 'dist/bin.js');
export const ADMIN_SECRET = 'wsgate-admin-secret-for-tests-0123456789';

export interface GatewayProcess {
  port: number;
  child: ChildProcess;
  /** stdout + stderr so far (last 20 kB). */
  output(): string;
  /** Send a signal (default SIGKILL) and wait for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Resolves when the process exits, with its code or signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly alive: boolean;
  url(path: string, token?: string): string;
  http(path: string, init?: RequestInit): Promise<Response>;
  /** An admin API call with the admin secret. */
  admin(path: string, init?: RequestInit): Promise<Response>;
}

export interface SpawnOptions {
  command?: 'start' | 'dev';
  /** A routes folder (see `routesDir`). */
  routes: string;
  store?: string;
  env?: Record<string, string>;
  /** What "started" means: GET /readyz 200 (default) or the "listening" line. */
  ready?: 'readyz' | 'listening';
  timeoutMs?: number;
}

const live = new Set<ChildProcess>();
const dirs: string[] = [];
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A temporary routes folder with one plain-object route file per entry (no `wsgate` import needed). */
export function routesDir(routes: Record<string, Record<string, unknown>>): string {
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-routes-'));
  dirs.push(dir);
  for (const [name, route] of Object.entries(routes)) writeFileSync(join(dir, `${name}.mjs`), `export default ${JSON.stringify(route, null, 2)};\n`);
  return dir;
}

export async function spawnGateway(o: SpawnOptions): Promise<GatewayProcess> {
  const port = await freePort();
  const args = [BIN, o.command ?? 'start', '--routes', o.routes, '--port', String(port), '--host', '127.0.0.1'];
  if (o.store) args.push('--store', o.store);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    JWT_SECRET: TEST_SECRET,
    WSGATE_ADMIN_SECRET: ADMIN_SECRET,
    LOG_LEVEL: 'warn',
    ...o.env,
  };
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let out = '';
  const collect = (b: Buffer) => (out = (out + b.toString()).slice(-20_000));
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => {
      live.delete(child);
      r({ code, signal });
    }),
  );
  const base = `127.0.0.1:${port}`;
  const gp: GatewayProcess = {
    port,
    child,
    output: () => out,
    exited,
    get alive() {
      return child.exitCode === null && child.signalCode === null;
    },
    async kill(signal = 'SIGKILL') {
      if (gp.alive) child.kill(signal);
      await exited;
    },
    url: (path, token) => `ws://${base}${path}${token ? `${path.includes('?') ? '&' : '?'}token=${token}` : ''}`,
    http: (path, init) => fetch(`http://${base}${path}`, init),
    admin: (path, init = {}) => fetch(`http://${base}${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN_SECRET}`, ...(init.headers as Record<string, string>) } }),
  };
  // Readiness is polled; the bound scales with how loaded the machine is now (readiness.ts).
  const bound = o.timeoutMs ?? readyBoundMs();
  const deadline = Date.now() + bound;
  for (;;) {
    if (!gp.alive) throw new Error(`gateway exited before it was ready:\n${out}`);
    if (Date.now() > deadline) {
      await gp.kill();
      throw new Error(`gateway on port ${port} not ready within ${bound} ms:\n${out}`);
    }
    if (o.ready === 'listening') {
      if (out.includes('wsgate listening on')) break;
    } else {
      const ok = await gp
        .http('/readyz')
        .then((r) => r.status === 200)
        .catch(() => false);
      if (ok) break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return gp;
}

/** SIGKILL every process still running (afterAll). */
export async function stopProcesses(): Promise<void> {
  await Promise.all(
    [...live].map(
      (c) =>
        new Promise<void>((r) => {
          if (c.exitCode !== null || c.signalCode !== null) return r();
          c.once('exit', () => r());
          c.kill('SIGKILL');
        }),
    ),
  );
}
