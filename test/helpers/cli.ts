/**
 * Child processes of the real `wsgate` command for cli/drain/resets tests. Every process started
 * here is SIGKILLed by stopAll() (registered through onStop), and every temp folder removed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onStop } from './gateway.ts';
import { readyBoundMs } from './readiness.ts';
import { TEST_SECRET } from './tokens.ts';

export const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
export const BIN = join(ROOT, 'dist/bin.js');

/** Environment for a child: no inherited JWT_ / ECHO_ / LOG_ settings, plus `extra`. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(JWT_|ECHO_|LOG_LEVEL|STORE_URL|WSGATE_|VITEST|NODE_OPTIONS)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, JWT_SECRET: TEST_SECRET, ...extra };
}

/** A temp folder outside the repo with the given files; removed by stopAll(). */
export function tmpRoutes(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-routes-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  onStop(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface Proc {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Resolves with the first match of `re` in stdout+stderr, or rejects after timeoutMs (default: the measured readiness bound). */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
}

/** Spawn `node dist/bin.js ...args` (or another command); killed with SIGKILL by stopAll(). */
export function run(args: string[], o: { env?: NodeJS.ProcessEnv; cwd?: string; command?: string; input?: string } = {}): Proc {
  const child = spawn(o.command ?? process.execPath, o.command ? args : [BIN, ...args], {
    cwd: o.cwd ?? ROOT,
    env: o.env ?? childEnv(),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    for (const l of listeners) l();
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    for (const l of listeners) l();
  });
  if (o.input !== undefined) child.stdin!.end(o.input);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((r) =>
    child.once('exit', (code, signal) => {
      for (const l of listeners) l();
      r({ code, signal, at: Date.now() });
    }),
  );
  onStop(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(re, timeoutMs = readyBoundMs()) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = re.exec(out + '\n' + err);
          if (m) {
            done();
            resolve(m);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(new Error(`process exited (${child.exitCode ?? child.signalCode}) before printing ${re}\nstdout: ${out}\nstderr: ${err}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out waiting for ${re}\nstdout: ${out}\nstderr: ${err}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
  };
}

/** Run to completion (bounded): exit code, stdout, stderr. */
export async function runToEnd(args: string[], o: Parameters<typeof run>[1] & { timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = run(args, o);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), o.timeoutMs ?? readyBoundMs());
  const { code } = await p.exited;
  clearTimeout(timer);
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** `wsgate start --routes dir --port N --host 127.0.0.1`, resolved once it is listening. */
export async function startProcess(routesDir: string, port: number, env: NodeJS.ProcessEnv = childEnv()): Promise<Proc> {
  const p = run(['start', '--routes', routesDir, '--port', String(port), '--host', '127.0.0.1'], { env });
  await p.waitFor(/wsgate listening on ws:\/\/127\.0\.0\.1:\d+/);
  return p;
}
