/**
 * wsgate as a user gets it: the tarball `npm pack` makes, installed into an empty project, used
 * on the real runtimes (the Node on PATH — 20 here — and Node 24, Bun, Deno from devDependencies)
 * outside npm scripts, without a loader. Also what the tarball holds and a Worker project
 * importing `wsgate/workerd`, bundled by `wrangler deploy --dry-run`.
 *
 * Installing uses the npm cache filled by this repository's own install (`--prefer-offline`).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { resolveRuntime, type RuntimeName } from '../helpers/runtimes.ts';
import { resolveWorkerdTools } from '../helpers/wrangler-dev.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const run = promisify(execFile);
const node20 = resolveRuntime('node20');
const npmEnv = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };

const work = mkdtempSync(join(tmpdir(), 'wsgate-pkg-'));
const consumer = join(work, 'consumer');
let tarball = '';
let echo: WebSocketServer;
let upstream = '';
const children: ChildProcess[] = [];

function binOf(r: ReturnType<typeof resolveRuntime>, name: string): string {
  if ('missing' in r) throw new Error(`${name}: ${r.missing}`);
  return r.bin;
}

/** Start `argv` in the consumer project; resolves with the port it prints as `LISTENING <port> <runtime>`. */
function startApp(argv: string[], env: Record<string, string> = {}): Promise<{ port: number; runtime: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: consumer, env: { ...process.env, UPSTREAM: upstream, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no LISTENING line within 30 s: ${out}`)), 30_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /LISTENING (\d+) (\w+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ port: Number(m[1]), runtime: m[2]! });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited ${code}: ${out}`));
    });
  });
}

/** One text and one binary message through the gateway and back from the echo upstream. */
async function relays(port: number): Promise<void> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`, { perMessageDeflate: false });
  const got: Array<{ data: string; isBinary: boolean }> = [];
  await new Promise<void>((resolve, reject) => {
    ws.once('error', reject);
    ws.once('open', () => {
      ws.send('hello from the tarball');
      ws.send(Buffer.from([1, 2, 3]));
    });
    ws.on('message', (d: Buffer, isBinary) => {
      got.push({ data: isBinary ? d.toString('hex') : d.toString(), isBinary });
      if (got.length === 2) resolve();
    });
  });
  ws.close();
  expect(got).toEqual([
    { data: 'hello from the tarball', isBinary: false },
    { data: '010203', isBinary: true },
  ]);
}

const APP = (serve: string) => `import { createGateway, defineRoute, ${serve} } from 'wsgate';
const app = createGateway({ routes: [defineRoute({ path: '/echo', upstream: process.env.UPSTREAM, auth: false })] });
`;

beforeAll(async () => {
  echo = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  echo.on('connection', (s) => s.on('message', (d, isBinary) => s.send(d, { binary: isBinary })));
  await new Promise((r) => echo.once('listening', r));
  upstream = `ws://127.0.0.1:${(echo.address() as { port: number }).port}`;
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT, env: npmEnv, timeout: 120_000 });
  tarball = join(work, (JSON.parse(stdout) as Array<{ filename: string }>)[0]!.filename);
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  await run('npm', ['install', '--prefer-offline', '--no-package-lock', tarball], { cwd: consumer, env: npmEnv, timeout: 180_000 });
}, 300_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await new Promise((r) => echo?.close(r));
  rmSync(work, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('holds the build and the README only: no tests, benches, CI scripts or sources', async () => {
    const { stdout } = await run('tar', ['tzf', tarball]);
    const files = stdout.trim().split('\n').map((f) => f.replace(/^package\//, ''));
    expect(files).toContain('dist/runtime/node/index.js');
    expect(files).toContain('dist/bin.js');
    expect(files).toContain('README.md');
    expect(files.filter((f) => !/^(dist\/|README\.md$|package\.json$)/.test(f))).toEqual([]);
    expect(files.filter((f) => /test|bench|\.ci|\.ts$/.test(f) && !f.endsWith('.d.ts'))).toEqual([]);
    // The install itself: wsgate's dependencies only, no transpiler.
    expect(readdirSync(join(consumer, 'node_modules'))).not.toContain('tsx');
    expect(readdirSync(join(consumer, 'node_modules'))).not.toContain('ioredis');
  });

  it('`wsgate --help` and `wsgate start --help` exit 0 on the Node on PATH', async () => {
    const bin = join(consumer, 'node_modules/wsgate/dist/bin.js');
    const help = await run(binOf(node20, 'node20'), [bin, '--help'], { cwd: consumer });
    expect(help.stdout).toMatch(/wsgate start/);
    const start = await run(binOf(node20, 'node20'), [bin, 'start', '--help'], { cwd: consumer });
    expect(start.stdout).toMatch(/--max-connections/);
  });

  it('a redis:// store without ioredis installed: exit 2 naming the package to install', async () => {
    const dir = join(consumer, 'routes-redis');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'room.mjs'), "export default { path: '/room/:id', channel: 'room:{id}', auth: false };\n");
    const err = await run(binOf(node20, 'node20'), [join(consumer, 'node_modules/wsgate/dist/bin.js'), 'start', '--routes', dir, '--port', '0', '--store', 'redis://127.0.0.1:6379'], {
      cwd: consumer,
      timeout: 30_000,
    }).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(2);
    expect(err?.stderr).toMatch(/npm install ioredis/);
  });

  for (const rt of ['node20', 'node24'] as RuntimeName[]) {
    it(`the README's library example runs and relays on ${rt} without a loader`, async () => {
      writeFileSync(join(consumer, 'app-node.mjs'), `${APP('serveNode')}const node = await serveNode(app, { port: 0, host: '127.0.0.1' });
console.log('LISTENING', node.port, app.gateway.options.runtime.name);
`);
      const r = resolveRuntime(rt);
      const { port, runtime } = await startApp([binOf(r, rt), 'app-node.mjs']);
      expect(runtime).toBe('node');
      await relays(port);
    }, 60_000);
  }

  it('Bun resolves `wsgate` to its own adapter and relays', async () => {
    writeFileSync(join(consumer, 'app-bun.mjs'), `${APP('serveBun')}const s = serveBun(app, { port: 0, hostname: '127.0.0.1' });
console.log('LISTENING', s.port, app.gateway.options.runtime.name);
`);
    const { port, runtime } = await startApp([binOf(resolveRuntime('bun'), 'bun'), 'app-bun.mjs']);
    expect(runtime).toBe('bun');
    await relays(port);
  }, 60_000);

  it('Deno resolves `wsgate` to its own adapter and relays', async () => {
    writeFileSync(join(consumer, 'app-deno.mjs'), `${APP('serveDeno')}const s = serveDeno(app, { port: 0, hostname: '127.0.0.1' });
console.log('LISTENING', await s.listening, app.gateway.options.runtime.name);
`);
    const { port, runtime } = await startApp([binOf(resolveRuntime('deno'), 'deno'), 'run', '-A', '--no-lock', '--node-modules-dir=manual', 'app-deno.mjs']);
    expect(runtime).toBe('deno');
    await relays(port);
  }, 60_000);

  it('a wrangler project importing `wsgate/workerd` passes `wrangler deploy --dry-run`, with no Node-only code in the bundle', async () => {
    const tools = resolveWorkerdTools();
    if ('missing' in tools) throw new Error(tools.missing);
    const dir = join(consumer, 'worker');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'worker.mjs'), `import { createWorker, ChannelObject, defineRoute } from 'wsgate/workerd';
export { ChannelObject };
export default createWorker([
  defineRoute({ path: '/echo', upstream: 'wss://echo.example.com/', auth: false }),
  defineRoute({ path: '/room/:room', channel: 'room:{room}', auth: false }),
]);
`);
    writeFileSync(join(dir, 'wrangler.toml'), `name = "consumer"
main = "worker.mjs"
compatibility_date = "2026-10-20"
compatibility_flags = ["nodejs_compat"]
[[durable_objects.bindings]]
name = "CHANNELS"
class_name = "ChannelObject"
[[migrations]]
tag = "v1"
new_sqlite_classes = ["ChannelObject"]
`);
    const out = join(dir, 'out');
    const { stdout } = await run(tools.node, [tools.wrangler, 'deploy', '--dry-run', '--outdir', out], {
      cwd: dir,
      env: { PATH: `${join(ROOT, 'node_modules/.bin')}${delimiter}${process.env.PATH ?? ''}`, HOME: process.env.HOME ?? '/tmp', NO_COLOR: '1', WRANGLER_SEND_METRICS: 'false', CI: '1' },
      timeout: 90_000,
    });
    expect(stdout).toContain('env.CHANNELS (ChannelObject)');
    const bundle = readFileSync(join(out, 'worker.js'), 'utf8');
    const sources = [...bundle.matchAll(/^\/\/ (\S+)$/gm)].map((m) => m[1]!);
    expect(sources.some((s) => s.includes('wsgate/dist/runtime/workerd/worker.js'))).toBe(true);
    expect(sources.filter((s) => /node_modules\/(ws|ioredis|@hono\/node-server|tsx)\/|dist\/runtime\/(node|bun|deno)\/|dist\/store\/redis|dist\/cli\.js/.test(s))).toEqual([]);
  }, 120_000);
});

describe('route files load on every Node, in any folder', () => {
  const EXTS = ['ts', 'mts', 'js', 'mjs'];
  /** One folder: a route per extension, half with `defineRoute` from 'wsgate', half plain objects. */
  function routeFolder(dir: string, type: 'module' | 'commonjs'): string[] {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type }));
    const paths: string[] = [];
    for (const ext of EXTS) {
      const typed = ext.endsWith('ts') ? ': string' : '';
      paths.push(`/${ext}-define`, `/${ext}-plain`);
      writeFileSync(join(dir, `${ext}-define.${ext}`), `import { defineRoute } from 'wsgate';\nconst up${typed} = 'ws://127.0.0.1:9/x';\nexport default defineRoute({ path: '/${ext}-define', upstream: up, auth: false });\n`);
      writeFileSync(join(dir, `${ext}-plain.${ext}`), `const up${typed} = 'ws://127.0.0.1:9/x';\nexport default { path: '/${ext}-plain', upstream: up, auth: false };\n`);
    }
    return paths;
  }

  async function routesTable(rt: RuntimeName, dir: string): Promise<string> {
    const bin = join(consumer, 'node_modules/wsgate/dist/bin.js');
    const { stdout } = await run(binOf(resolveRuntime(rt), rt), [bin, 'routes', '--routes', dir], { cwd: consumer, timeout: 30_000 });
    return stdout;
  }

  it('a TypeScript route on a Node that cannot strip types, without tsx installed: exit 2 naming tsx', async () => {
    const dir = join(consumer, 'routes-no-tsx');
    routeFolder(dir, 'commonjs');
    const err = await run(binOf(node20, 'node20'), [join(consumer, 'node_modules/wsgate/dist/bin.js'), 'routes', '--routes', dir], { cwd: consumer }).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(2);
    expect(err?.stderr).toMatch(/TypeScript route file.*npm install tsx/);
  });

  const folders = [
    ['inside the project, ESM-scoped', () => join(consumer, 'routes-esm'), 'module'],
    ['inside the project, CommonJS-scoped', () => join(consumer, 'routes-cjs'), 'commonjs'],
    ['outside any project, ESM-scoped', () => join(work, 'elsewhere-esm'), 'module'],
    ['outside any project, CommonJS-scoped', () => join(work, 'elsewhere-cjs'), 'commonjs'],
  ] as const;

  for (const rt of ['node20', 'node24'] as RuntimeName[]) {
    for (const [where, dirOf, type] of folders) {
      it(`${rt}: .ts, .mts, .js, .mjs routes (defineRoute from 'wsgate', or plain objects) ${where}`, async () => {
        // tsx is what a Node without type stripping needs for .ts routes (an optional peer dependency).
        if (rt === 'node20') await run('npm', ['install', '--prefer-offline', '--no-package-lock', 'tsx'], { cwd: consumer, env: npmEnv, timeout: 120_000 });
        const paths = routeFolder(dirOf(), type);
        const table = await routesTable(rt, dirOf());
        for (const p of paths) expect(table).toContain(`${p} `);
      }, 150_000);
    }
  }
});
