/**
 * Run the gateway on workerd with `wrangler dev`, for the runtime contract and the Workers tests.
 *
 * wrangler needs Node >= 22: it runs on the Node 24 from devDependencies, whatever Node runs the
 * tests. Routes come either from the project's manifest (routes/) or from a routes folder: then a
 * temporary entry imports those files statically, as the generated manifest does. `env` becomes
 * `--var NAME:VALUE`. Startup is bounded (20 s), and `stop()` kills wrangler's whole process
 * group (wrangler and its workerd child). When wrangler or workerd is missing, or cannot start
 * here, the suite is a loud skip with the reason.
 */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from './gateway.ts';

const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
const NM = join(ROOT, 'node_modules');

export interface WorkerdProcess {
  port: number;
  output(): string;
  stop(): Promise<void>;
}

export type WorkerdTools = { node: string; wrangler: string } | { missing: string };

let tools: WorkerdTools | undefined;
/** Node >= 22 and wrangler's entry script, or why they are missing. */
export function resolveWorkerdTools(): WorkerdTools {
  if (tools) return tools;
  const arch = process.arch === 'arm64' ? 'arm64' : 'x64';
  const wrangler = join(NM, 'wrangler/bin/wrangler.js');
  // npm may hoist the platform package or nest it under wrangler/miniflare (when the lock file
  // also lists other platforms' builds at the top level).
  const pkg = `@cloudflare/workerd-${process.platform}-${arch === 'x64' ? '64' : arch}/bin/workerd`;
  const places = [join(NM, pkg), join(NM, 'wrangler/node_modules', pkg), join(NM, 'miniflare/node_modules', pkg)];
  const workerd = places.find((p) => existsSync(p));
  if (!existsSync(wrangler)) return (tools = { missing: 'wrangler is not installed (npm ci; devDependency wrangler)' });
  if (!workerd) return (tools = { missing: `workerd binary not found at ${places.join(' or ')} (npm ci; wrangler's optional dependency)` });
  const candidates = [join(NM, '.bin/node'), join(NM, 'node/bin/node'), join(NM, `node-${process.platform}-${arch}/bin/node`), process.execPath];
  for (const node of candidates) {
    if (!existsSync(node)) continue;
    try {
      const v = execFileSync(node, ['--version'], { encoding: 'utf8', timeout: 10_000 }).trim();
      if (Number(/^v(\d+)/.exec(v)?.[1]) >= 22) return (tools = { node, wrangler });
    } catch {
      /* try the next one */
    }
  }
  return (tools = { missing: 'no Node >= 22 for wrangler (devDependency node@24 missing; see test/README.md "Runtimes")' });
}

/** The project's wrangler.toml with absolute paths, and `main` pointed at `entry`. */
function configFor(entry: string): string {
  // Route files written by a test live in a temporary folder, outside this package: `wsgate`
  // there is aliased to the typed identity helper (a project of one's own would install wsgate).
  const alias = `\n[alias]\n"wsgate" = ${JSON.stringify(join(ROOT, 'src/routing/define-route.ts'))}\n"wsgate/route" = ${JSON.stringify(join(ROOT, 'src/route.ts'))}\n`;
  return readFileSync(join(ROOT, 'wrangler.toml'), 'utf8').replace(/^main = .*$/m, `main = ${JSON.stringify(entry)}`) + alias;
}

/** A temporary Worker entry serving the route files of `dir` (as the generated manifest would). */
function entryFor(dir: string): string {
  const files = readdirSync(dir).filter((f) => /\.(mjs|js|ts|mts)$/.test(f) && !f.startsWith('_') && !f.startsWith('.')).sort();
  return [
    `import { createWorker, ChannelObject } from ${JSON.stringify(join(ROOT, 'src/runtime/workerd/worker.ts'))};`,
    ...files.map((f, i) => `import route${i} from ${JSON.stringify(join(dir, f))};`),
    'export { ChannelObject };',
    `export default createWorker([${files.map((f, i) => `{ source: ${JSON.stringify(f)}, route: route${i} }`).join(', ')}]);`,
    '',
  ].join('\n');
}

const live = new Set<() => void>();
process.once('exit', () => {
  for (const kill of live) kill();
});

/** `wrangler dev` on a free port; resolves once GET /readyz answers 200. */
export async function startWorkerd(o: { routesDir?: string; env?: Record<string, string>; timeoutMs?: number }): Promise<WorkerdProcess> {
  const t = resolveWorkerdTools();
  if ('missing' in t) throw new Error(t.missing);
  const work = mkdtempSync(join(tmpdir(), 'wsgate-workerd-'));
  let entry = join(ROOT, 'src/runtime/workerd/main.ts');
  if (o.routesDir) writeFileSync((entry = join(work, 'entry.ts')), entryFor(o.routesDir));
  writeFileSync(join(work, 'wrangler.toml'), configFor(entry));
  const port = await freePort();
  const inspector = await freePort();
  const args = [t.wrangler, 'dev', '--config', join(work, 'wrangler.toml'), '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspector)];
  args.push('--persist-to', join(work, 'state'), '--show-interactive-dev-session=false');
  for (const [k, v] of Object.entries({ LOG_LEVEL: 'warn', ...o.env })) args.push('--var', `${k}:${v}`);
  const child = spawn(t.node, args, {
    cwd: ROOT,
    detached: true, // its own process group: stop() kills wrangler and workerd together
    env: { PATH: `${join(NM, '.bin')}${delimiter}${process.env.PATH ?? ''}`, HOME: process.env.HOME ?? '/tmp', NO_COLOR: '1', WRANGLER_SEND_METRICS: 'false', CI: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const collect = (b: Buffer) => (out = (out + b.toString()).slice(-20_000));
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const kill = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
  live.add(kill);
  const stop = async () => {
    kill();
    await exited;
    live.delete(kill);
    rmSync(work, { recursive: true, force: true });
  };
  const timeoutMs = o.timeoutMs ?? 20_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`wrangler dev exited before it was ready:\n${out}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev not ready on port ${port} within ${timeoutMs} ms:\n${out}`);
    }
    const status = await fetch(`http://127.0.0.1:${port}/readyz`).then(async (r) => (r.status === 500 && (await r.text()).includes('misconfigured') ? 'misconfigured' : r.status), () => 0);
    if (status === 200) break;
    if (status === 'misconfigured') {
      await stop();
      throw new Error(`the Worker is misconfigured:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { port, output: () => out, stop };
}

/**
 * Define `suite` when wrangler and workerd can start here; otherwise a loud skip with the reason
 * (a failing test instead when WSGATE_REQUIRE_RUNTIMES=1).
 */
export async function onWorkerd(title: string, suite: () => void): Promise<void> {
  const { describe, it } = await import('vitest');
  const t = resolveWorkerdTools();
  let reason = 'missing' in t ? t.missing : undefined;
  if (!reason) {
    // Prove it starts (20 s bound) before defining the suite, so an environment where workerd
    // cannot run is a skip with its output, not a cascade of failures.
    try {
      const probe = await startWorkerd({ env: { JWT_SECRET: `probe-${crypto.randomUUID()}` } });
      await probe.stop();
    } catch (err) {
      reason = `wrangler dev cannot start here: ${String((err as Error).message).slice(0, 1500)}`;
    }
  }
  if (reason) {
    const line = `WORKERD SKIPPED (${title}): ${reason}`;
    console.warn(`\n${'!'.repeat(80)}\n${line}\n${'!'.repeat(80)}\n`);
    describe(title, () => {
      if (process.env.WSGATE_REQUIRE_RUNTIMES === '1') it('workerd is required (WSGATE_REQUIRE_RUNTIMES=1)', () => { throw new Error(line); });
      else it.skip(line.split('\n')[0]!, () => {});
    });
    return;
  }
  suite();
}
