/**
 * wsgate start | dev | token | routes | client
 * Each command validates its input first and exits 2 with one clear line when it is wrong;
 * `--help` (or `-h`) prints the command's options and exits 0.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import { createGateway as createCoreGateway } from './gateway.ts';
import { createNodeAdapter } from './runtime/node/adapter.ts';
import { loadRouteFiles } from './runtime/node/load-routes.ts';
import { resolveRoute } from './routing/schema.ts';
import { Router } from './routing/router.ts';
import { handleSignals, type NodeServer, serveAdmin, serveNode } from './runtime/node/serve.ts';
import { drainFromSettings, gatewayOptionsFromSettings, storeFromSettings } from './runtime/entry.ts';
import { parseArgsOptions, resolveSettings, SERVER_SETTINGS, settingsHelp, UsageError } from './cli-options.ts';
import { resolveAuth } from './auth/index.ts';

const COMMANDS: Record<string, { usage: string; about: string }> = {
  start: { usage: 'wsgate start [options]', about: 'run the gateway; every flag also reads its environment variable' },
  dev: { usage: 'wsgate dev [options]', about: 'start + a built-in echo upstream, a dev JWT secret and the chat demo page, on 127.0.0.1 unless --host says otherwise' },
  token: { usage: 'wsgate token [--sub ID] [--ttl SEC] [--claim k=v ...]', about: 'mint an HS256 token with JWT_SECRET' },
  routes: { usage: 'wsgate routes [--routes DIR]', about: 'validate the route files and print the route table' },
  client: { usage: 'wsgate client URL', about: 'a terminal WebSocket client (stdin -> socket -> stdout)' },
};

const TOKEN_FLAGS = `  --sub ID        the token's subject [dev-user]
  --ttl SEC       lifetime in seconds [3600]
  --claim k=v     an extra claim (value parsed as JSON when it is JSON); repeatable`;

const AUTH_ENV = `Token verification (environment): JWT_SECRET, JWT_PUBLIC_KEY, JWT_JWKS_URL, JWT_ISSUER, JWT_AUDIENCE;
admin API (off unless this or --admin-audience is set): WSGATE_ADMIN_SECRET; /metrics token: WSGATE_METRICS_TOKEN.
Signals: SIGTERM/SIGINT drain and exit; SIGHUP re-reads the routes folder.`;

const USAGE = `Usage:
${Object.values(COMMANDS)
  .map((c) => `  ${c.usage.padEnd(54)} ${c.about.split(/[;,]/)[0]}`)
  .join('\n')}

wsgate COMMAND --help lists the options of a command.`;

function commandHelp(command: string): string {
  const c = COMMANDS[command]!;
  const body =
    command === 'start' || command === 'dev'
      ? `Options (flag, environment variable, meaning [default]):\n${settingsHelp(SERVER_SETTINGS, command === 'dev')}\n\n${AUTH_ENV}`
      : command === 'token'
        ? `Options:\n${TOKEN_FLAGS}`
        : command === 'routes'
          ? `Options:\n  --routes DIR    folder of route files [routes]\n\n${AUTH_ENV}`
          : '';
  return `Usage: ${c.usage}\n${c.about}\n${body ? `\n${body}` : ''}`;
}

const OPTIONS = {
  ...parseArgsOptions(SERVER_SETTINGS),
  sub: { type: 'string' },
  ttl: { type: 'string' },
  claim: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function mintToken(secret: string, sub: string, ttlSec: number, claims: Record<string, unknown> = {}): Promise<string> {
  const { SignJWT } = await import('jose/jwt/sign');
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

async function start(flags: Record<string, unknown>, dev: boolean): Promise<void> {
  const env = process.env;
  const settings = resolveSettings(SERVER_SETTINGS, flags as Record<string, string | boolean | undefined>, env, dev);
  const certFile = settings['tls-cert'] as string | undefined;
  const keyFile = settings['tls-key'] as string | undefined;
  if (Boolean(certFile) !== Boolean(keyFile)) throw new UsageError('--tls-cert and --tls-key go together');
  const port = settings.port as number;
  if (port > 65535) throw new UsageError(`--port ${port}: expected 0 to 65535`);
  if (dev) {
    const { startEchoServer } = await import('./runtime/node/echo.ts');
    const echo = await startEchoServer(Number(env.ECHO_PORT ?? 0));
    env.ECHO_UPSTREAM ??= `ws://127.0.0.1:${echo.port}`;
    if (!env.JWT_SECRET && !env.JWT_PUBLIC_KEY && !env.JWT_JWKS_URL) env.JWT_SECRET = `dev-secret-${crypto.randomUUID()}`;
  }
  const routes = await loadRouteFiles(String(settings.routes));
  const store = await storeFromSettings(settings);
  const app = createCoreGateway({ runtime: createNodeAdapter(), routes, env, ...(store ? { store } : {}), ...gatewayOptionsFromSettings(settings), ...(dev ? { devPage: true } : {}) });
  await app.gateway.warm().catch((err: Error) => console.error(`warning: ${err.message}`));
  const host = String(settings.host);
  let node: NodeServer;
  try {
    const proxyProtocol = settings['proxy-protocol'] === true;
    node = await serveNode(app, {
      port,
      host,
      proxyProtocol,
      headersTimeoutMs: settings['headers-timeout'] as number,
      maxHeaderBytes: settings['max-header-bytes'] as number,
      ...(certFile && keyFile ? { tls: { cert: readFileSync(certFile), key: readFileSync(keyFile) } } : {}),
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new UsageError(`port ${port} on ${host} is already in use: pick another with --port N (or PORT=N), or stop what listens there`);
    if (code === 'EACCES') throw new UsageError(`no permission to listen on ${host}:${port}: use a port above 1023 (--port N)`);
    if (code === 'EADDRNOTAVAIL') throw new UsageError(`--host ${host}: not an address of this machine`);
    throw err;
  }
  const admin = app.gateway.adminApp ? await serveAdmin(app.gateway.adminApp, settings['admin-port'] as number, String(settings['admin-host'])) : undefined;
  handleSignals(app, node, { ...drainFromSettings(settings), loadRoutes: loadRouteFiles, ...(store ? { store } : {}) }, admin);
  const ws = certFile ? 'wss' : 'ws';
  const http = certFile ? 'https' : 'http';
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const behind = settings['proxy-protocol'] === true ? ', PROXY protocol' : '';
  const { maxConnections, maxSockets } = app.gateway.options;
  const cap = Number.isFinite(maxSockets) ? `max ${Math.floor(maxSockets / 2)} relayed or ${maxSockets} hub connections (fd limit)` : `max ${maxConnections} connections`;
  console.error(`wsgate listening on ${ws}://${shown}:${node.port} (${routes.length} routes${store ? `, store ${store.name}` : ''}, ${cap}${behind})`);
  if (admin) console.error(`wsgate admin listening on http://${String(settings['admin-host'])}:${admin.port} (/_wsgate/*, /metrics)`);
  if (dev) {
    const token = await mintToken(env.JWT_SECRET!, 'dev-user', 3600);
    const first = app.gateway.options.routes.find((r) => r.upstreams.length > 0 && !r.path.includes(':')) ?? app.gateway.options.routes[0]!;
    const url = `${ws}://${shown}:${node.port}${first.path}?token=${token}`;
    console.log(`\nGateway:   ${ws}://${shown}:${node.port}   (chat demo: ${http}://${shown}:${node.port}/)`);
    console.log(`Route:     ${first.path} -> ${first.upstreams[0] ?? `channel ${first.channel}`}`);
    console.log(`Dev token: ${token}`);
    // The script that runs now, so the command works in this repository and in a user's project alike.
    const bin = relative(process.cwd(), process.argv[1] ?? 'wsgate') || 'wsgate';
    console.log(`Try it:    node ${bin} client '${url}'\n`);
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
    if (command === undefined || command === 'help' || command === '--help' || command === '-h') return console.log(USAGE);
    if (!(command in COMMANDS)) throw new UsageError(`unknown command "${command}"\n${USAGE}`);
    const { values, positionals } = parseArgs({ args: rest, options: OPTIONS, allowPositionals: command === 'client' });
    if (values.help) return console.log(commandHelp(command));
    switch (command) {
      case 'start':
        return await start(values, false);
      case 'dev':
        return await start(values, true);
      case 'token': {
        const secret = process.env.JWT_SECRET;
        if (!secret) throw new UsageError('JWT_SECRET is not set');
        console.log(await mintToken(secret, values.sub ?? 'dev-user', intArg('ttl', values.ttl ?? '3600'), parseClaims(values.claim)));
        return;
      }
      case 'routes': {
        const loaded = await loadRouteFiles((values as { routes?: string }).routes ?? process.env.WSGATE_ROUTES ?? 'routes');
        const routes = loaded.map((l) => resolveRoute(l.route, l.source));
        new Router(routes);
        for (const r of routes) resolveAuth(r.auth, process.env, r.source);
        printRoutes(routes);
        return;
      }
      case 'client':
        if (!positionals[0]) throw new UsageError('client: a ws:// or wss:// URL is required');
        return await (await import('./runtime/node/client.ts')).runClient(positionals[0]);
    }
  } catch (err) {
    console.error(`wsgate ${command ?? ''}: ${(err as Error).message}`);
    process.exit(2);
  }
}
