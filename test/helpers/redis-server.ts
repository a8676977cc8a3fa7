/**
 * A private `redis-server` per test file, on a free port, never the shared one on 6379.
 * Suites use `describe.skipIf(!hasRedis)`; when the binary is missing the reason is printed at
 * collection time so a skipped suite is never mistaken for a passing one.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';

const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
export const hasRedis = probe.status === 0;
export const noRedisReason = hasRedis
  ? ''
  : `redis-server is not on PATH (${probe.error?.message ?? `exit ${String(probe.status)}`}): ` +
    'Redis store tests are SKIPPED. Install it (apt-get install redis-server) to run them.';
if (!hasRedis) console.warn(`\n*** ${noRedisReason} ***\n`);

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  readonly running: boolean;
  /** Start (again) on the same port; resolves once it answers PING. */
  start(): Promise<void>;
  /** SIGTERM and wait for exit. Safe to call twice. */
  stop(): Promise<void>;
  /** SIGKILL (a crash) and wait for exit. */
  kill(): Promise<void>;
  /** kill() then start() on the same port. */
  restart(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** A port nobody listens on right now (the server still retries if it loses the race). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Creates a handle on a free port; starts it unless `{ start: false }` (to test "Redis down"). */
export async function createRedisServer(options: { start?: boolean } = {}): Promise<RedisServer> {
  if (!hasRedis) throw new Error(noRedisReason);
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    if (port === 6379) continue; // never the shared Redis
    const handle = serverOn(port);
    if (options.start === false) return handle;
    try {
      await handle.start();
      return handle;
    } catch (error) {
      await handle.kill();
      if (attempt >= 3) throw error; // else another process took the port meanwhile: retry
    }
  }
}

function serverOn(port: number): RedisServer {
  let child: ChildProcess | undefined;

  const exit = async (signal: NodeJS.Signals): Promise<void> => {
    const current = child;
    if (!current || current.exitCode !== null || current.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => current.once('exit', () => resolve()));
    current.kill(signal);
    await exited;
    live.delete(current);
    child = undefined;
  };

  const handle: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    async start() {
      if (handle.running) return;
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
      args.push('--dir', tmpdir(), '--loglevel', 'warning');
      const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child = proc;
      live.add(proc);
      let output = '';
      const collect = (chunk: Buffer): void => {
        output = (output + chunk.toString()).slice(-2000);
      };
      proc.stdout?.on('data', collect);
      proc.stderr?.on('data', collect);
      let failed: string | undefined;
      proc.once('exit', (code, signal) => {
        live.delete(proc);
        failed = `redis-server on port ${port} exited (${code ?? signal}): ${output.trim()}`;
      });
      const deadline = Date.now() + 5000;
      while (!(await ping(port))) {
        if (failed) throw new Error(failed);
        if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING`);
        await sleep(20);
      }
    },
    stop: () => exit('SIGTERM'),
    kill: () => exit('SIGKILL'),
    async restart() {
      await handle.kill();
      await handle.start();
    },
  };
  return handle;
}

/** Sends PING over raw RESP; true when the server answers +PONG. */
export function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    const finish = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => finish(false));
    socket.once('error', () => finish(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => finish(data.toString().startsWith('+PONG')));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
