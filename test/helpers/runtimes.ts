/**
 * Find each runtime binary the contract suite runs the gateway on, and start a gateway process
 * with it. Binaries come from npm devDependencies (`node_modules/.bin`) or, when npm skipped the
 * install scripts that link them, straight from the platform packages (`@oven/bun-<os>-<arch>`,
 * `@deno/<os>-<arch>`; see test/README.md). A runtime that cannot be found is reported with the
 * reason, never guessed.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { freePort } from './gateway.ts';
import { readyBoundMs } from './readiness.ts';

export type RuntimeName = 'node20' | 'node24' | 'bun' | 'deno';
export type Resolved = { bin: string; version: string } | { missing: string };

const ROOT = new URL('../..', import.meta.url).pathname;
const BIN_DIR = join(ROOT, 'node_modules/.bin');
const arch = process.arch === 'arm64' ? 'arm64' : 'x64';
const os = process.platform === 'darwin' ? 'darwin' : 'linux';

function version(bin: string): string | undefined {
  try {
    return execFileSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n')[0];
  } catch {
    return undefined;
  }
}

function firstWorking(candidates: string[], accept: (v: string) => boolean, what: string): Resolved {
  const tried: string[] = [];
  for (const bin of candidates) {
    if (!existsSync(bin)) continue;
    const v = version(bin);
    if (v !== undefined && accept(v)) return { bin, version: v };
    tried.push(`${bin} (${v ?? 'does not run'})`);
  }
  return { missing: `${what} not found${tried.length ? `; tried ${tried.join(', ')}` : ''} (run npm ci; see test/README.md "Runtimes")` };
}

/** `node` binaries on PATH outside node_modules (npm scripts put node_modules/.bin first). */
function pathNodes(): string[] {
  return (process.env.PATH ?? '').split(delimiter).filter((d) => d && !d.includes('node_modules')).map((d) => join(d, 'node'));
}

const cache = new Map<RuntimeName, Resolved>();

export function resolveRuntime(name: RuntimeName): Resolved {
  let r = cache.get(name);
  if (r) return r;
  const nm = (p: string) => join(ROOT, 'node_modules', p);
  switch (name) {
    case 'node20':
      r = firstWorking([process.execPath, ...pathNodes()], (v) => v.startsWith('v20.'), 'Node 20 on PATH');
      break;
    case 'node24':
      r = firstWorking([join(BIN_DIR, 'node'), nm('node/bin/node'), nm(`node-${os}-${arch}/bin/node`)], (v) => v.startsWith('v24.'), 'Node 24 (npm package node@24)');
      break;
    case 'bun':
      // The real binaries first: without its install script, .bin/ holds a Node shim that runs the binary
      // with spawnSync, so a signal to the test's pid would never reach the gateway.
      r = firstWorking([nm(`@oven/bun-${os}-${arch}/bin/bun`), nm('bun/bin/bun.exe'), join(BIN_DIR, 'bun')], () => true, 'Bun (npm package bun)');
      break;
    case 'deno':
      r = firstWorking([nm(`@deno/${os}-${arch}${os === 'linux' ? '-glibc' : ''}/deno`), nm('deno/deno'), join(BIN_DIR, 'deno')], () => true, 'Deno (npm package deno)');
      break;
  }
  cache.set(name, r);
  return r;
}

/** The command line that runs the gateway on a runtime (`--routes/--port/--host` appended). */
export function gatewayCommand(name: RuntimeName, bin: string): string[] {
  switch (name) {
    case 'node20':
    case 'node24':
      return [bin, 'dist/bin.js', 'start'];
    case 'bun':
      return [bin, 'src/runtime/bun/main.ts'];
    case 'deno':
      return [bin, 'run', ...DENO_FLAGS, 'src/runtime/deno/main.ts'];
  }
}

/** Keep in sync with the `start:deno` script in package.json. */
export const DENO_FLAGS = ['-A', '--no-lock', '--node-modules-dir=manual'];

export interface RuntimeProcess {
  port: number;
  pid: number;
  output(): string;
  stop(): Promise<void>;
}

/** Spawn `argv --routes DIR --port P --host 127.0.0.1`; resolves once GET /readyz answers 200. */
export async function startRuntimeProcess(argv: string[], o: { routesDir: string; env: Record<string, string>; timeoutMs?: number }): Promise<RuntimeProcess> {
  const port = await freePort();
  const [cmd, ...args] = argv;
  const child = spawn(cmd!, [...args, '--routes', o.routesDir, '--port', String(port), '--host', '127.0.0.1'], {
    cwd: ROOT,
    env: { PATH: `${BIN_DIR}${delimiter}${process.env.PATH ?? ''}`, HOME: process.env.HOME ?? '/tmp', NO_COLOR: '1', ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const collect = (b: Buffer) => (out = (out + b.toString()).slice(-20_000));
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.once('exit', kill);
  const stop = async () => {
    kill();
    await exited;
  };
  const bound = o.timeoutMs ?? readyBoundMs();
  const deadline = Date.now() + bound;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${argv.join(' ')} exited before it was ready:\n${out}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${argv.join(' ')} not ready on port ${port} within ${bound} ms:\n${out}`);
    }
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, pid: child.pid!, output: () => out, stop };
}

/**
 * Run `suite(name, start)` on a runtime, or — when its binary is missing — print a loud banner
 * and register a skipped test that names the reason (never a silent pass). With
 * WSGATE_REQUIRE_RUNTIMES=1 (CI) a missing runtime is a failure instead.
 */
export async function onRuntime(
  name: RuntimeName,
  suite: (name: RuntimeName, start: (o: { routesDir: string; env: Record<string, string> }) => Promise<RuntimeProcess>) => void,
): Promise<void> {
  const { describe, it } = await import('vitest');
  const r = resolveRuntime(name);
  if ('missing' in r) {
    const line = `RUNTIME ${name} SKIPPED: ${r.missing}`;
    console.warn(`\n${'!'.repeat(line.length)}\n${line}\n${'!'.repeat(line.length)}\n`);
    describe(`runtime contract: ${name}`, () => {
      if (process.env.WSGATE_REQUIRE_RUNTIMES === '1') it(`${name} is required (WSGATE_REQUIRE_RUNTIMES=1)`, () => { throw new Error(line); });
      else it.skip(line, () => {});
    });
    return;
  }
  console.log(`[runtime contract] ${name}: ${r.bin} ${r.version}`);
  suite(name, (o) => startRuntimeProcess(gatewayCommand(name, r.bin), o));
}
