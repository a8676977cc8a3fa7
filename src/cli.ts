/**
 * wsgate start | dev | token | routes | client
 * Each command validates its input first and exits 2 with one clear line when it is wrong.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { createGateway } from './index.ts';
import { loadRouteFiles } from './routing/load.ts';
import { resolveRoute } from './routing/schema.ts';
import { Router } from './routing/router.ts';
import { handleSignals, serveNode } from './runtime/node/serve.ts';
import { startEchoServer } from './runtime/node/echo.ts';
import { createStore } from './store/index.ts';
import { runClient } from './runtime/node/client.ts';
import { resolveAuth } from './auth/index.ts';

const USAGE = `Usage:
  wsgate start  [--routes DIR] [--port 8787] [--host 0.0.0.0] [--tls-cert FILE --tls-key FILE] [--store URL]
  wsgate dev    [--routes DIR] [--port 8787]     start + a built-in echo upstream and a dev token
  wsgate token  [--sub ID] [--ttl 3600] [--claim k=v ...]   mint an HS256 token with JWT_SECRET
  wsgate routes [--routes DIR]                   validate route files and print the route table
  wsgate client URL                              a terminal WebSocket client (stdin -> socket -> stdout)

Environment: JWT_SECRET, JWT_PUBLIC_KEY, JWT_JWKS_URL, JWT_ISSUER, JWT_AUDIENCE, STORE_URL,
WSGATE_ADMIN_SECRET, PRESENCE_TTL_SEC, LOG_LEVEL (debug|info|warn|error|silent).`;

const OPTIONS = {
  routes: { type: 'string', default: 'routes' },
  port: { type: 'string', default: '8787' },
  host: { type: 'string', default: '0.0.0.0' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  store: { type: 'string' },
  sub: { type: 'string', default: 'dev-user' },
  ttl: { type: 'string', default: '3600' },
  claim: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;

class UsageError extends Error {}

export async function mintToken(secret: string, sub: string, ttlSec: number, claims: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSec)
    .sign(new TextEncoder().encode(secret));
}

function parseClaims(list: string[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of list ?? []) {
    const i = kv.indexOf('=');
    if (i < 1) throw new UsageError(`--claim ${kv}: expected key=value`);
    const raw = kv.slice(i + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      /* a plain string */
    }
    out[kv.slice(0, i)] = value;
  }
  return out;
}

function intArg(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535 * 1000) throw new UsageError(`--${name} ${v}: expected an integer`);
  return n;
}

async function start(values: Record<string, unknown>, dev: boolean): Promise<void> {
  const env = process.env;
  if (dev) {
    const echo = await startEchoServer(Number(env.ECHO_PORT ?? 0));
    env.ECHO_UPSTREAM ??= `ws://127.0.0.1:${echo.port}`;
    if (!env.JWT_SECRET && !env.JWT_PUBLIC_KEY && !env.JWT_JWKS_URL) env.JWT_SECRET = `dev-secret-${crypto.randomUUID()}`;
  }
  const routes = await loadRouteFiles(String(values.routes));
  const storeUrl = (values.store as string | undefined) ?? env.STORE_URL;
  const store = storeUrl ? await createStore(storeUrl) : undefined;
  const app = createGateway({
    routes,
    env,
    ...(store ? { store } : {}),
    log: (env.LOG_LEVEL as 'info' | undefined) ?? 'info',
    ...(dev ? { devPage: true } : {}),
  });
  await app.gateway.warm().catch((err: Error) => console.error(`warning: ${err.message}`));
  const certFile = values['tls-cert'] as string | undefined;
  const keyFile = values['tls-key'] as string | undefined;
  if (Boolean(certFile) !== Boolean(keyFile)) throw new UsageError('--tls-cert and --tls-key go together');
  const node = await serveNode(app, {
    port: intArg('port', String(values.port)),
    host: String(values.host),
    ...(certFile && keyFile ? { tls: { cert: readFileSync(certFile), key: readFileSync(keyFile) } } : {}),
  });
  handleSignals(app, node);
  const scheme = certFile ? 'wss' : 'ws';
  const host = values.host === '0.0.0.0' ? '127.0.0.1' : String(values.host);
  console.error(`wsgate listening on ${scheme}://${host}:${node.port} (${routes.length} routes${store ? `, store ${store.name}` : ''})`);
  if (dev) {
    const token = await mintToken(env.JWT_SECRET!, 'dev-user', 3600);
    const first = app.gateway.options.routes.find((r) => r.upstreams.length > 0 && !r.path.includes(':')) ?? app.gateway.options.routes[0]!;
    const url = `${scheme}://${host}:${node.port}${first.path}?token=${token}`;
    console.log(`\nGateway:   ${scheme}://${host}:${node.port}   (chat demo: http://${host}:${node.port}/)`);
    console.log(`Route:     ${first.path} -> ${first.upstreams[0] ?? `channel ${first.channel}`}`);
    console.log(`Dev token: ${token}`);
    console.log(`Try it:    node src/bin.mjs client '${url}'\n`);
  }
}

function printRoutes(routes: ReturnType<typeof resolveRoute>[]): void {
  const rows = routes.map((r) => [r.path, r.upstreams.join(', ') || `hub ${r.channel}`, r.auth === false ? 'public' : 'jwt', r.heartbeat ? `${r.heartbeat.intervalMs}/${r.heartbeat.timeoutMs} ms` : 'off', r.channel ?? '-']);
  const head = ['PATH', 'UPSTREAM', 'AUTH', 'HEARTBEAT', 'CHANNEL'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [head, ...rows]) console.log(row.map((c, i) => c.padEnd(widths[i]!)).join('  '));
}

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  try {
    const { values, positionals } = parseArgs({ args: rest, options: OPTIONS, allowPositionals: true });
    if (values.help || !command || command === 'help') return console.log(USAGE);
    switch (command) {
      case 'start':
        return await start(values, false);
      case 'dev':
        return await start(values, true);
      case 'token': {
        const secret = process.env.JWT_SECRET;
        if (!secret) throw new UsageError('JWT_SECRET is not set');
        console.log(await mintToken(secret, values.sub, intArg('ttl', values.ttl), parseClaims(values.claim)));
        return;
      }
      case 'routes': {
        const loaded = await loadRouteFiles(values.routes);
        const routes = loaded.map((l) => resolveRoute(l.route, l.source));
        new Router(routes);
        for (const r of routes) resolveAuth(r.auth, process.env, r.source);
        printRoutes(routes);
        return;
      }
      case 'client':
        if (!positionals[0]) throw new UsageError('client: a ws:// or wss:// URL is required');
        return await runClient(positionals[0]);
      default:
        throw new UsageError(`unknown command "${command}"\n${USAGE}`);
    }
  } catch (err) {
    console.error(`wsgate ${command ?? ''}: ${(err as Error).message}`);
    process.exit(2);
  }
}
