/**
 * What every entry point (`wsgate start`, src/runtime/bun/main.ts, src/runtime/deno/main.ts)
 * shares: the settings table read from flags and environment, route files from a folder, the
 * optional store, and the SIGTERM/SIGINT drain (readiness fails, connections close with 1001
 * over a window, the process exits 0). Runs on Bun and Deno through their `node:` compatibility.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseArgsOptions, resolveSettings, SERVER_SETTINGS, settingsHelp, UsageError, type SettingValues } from '../cli-options.ts';
import type { RuntimeAdapter } from '../core/leg.ts';
import { createGateway, type GatewayApp } from '../gateway.ts';
import { TrustedProxies } from '../http/client-address.ts';
import type { LogLevel } from '../log.ts';
import type { GatewayOptions, LoadedRoute } from '../options.ts';
import { loadRouteFiles } from './route-files.ts';
import { readFdLimit, socketBudgetForFdLimit } from './fd-limit.ts';
import type { Store } from '../store/types.ts';

export interface EntryOptions {
  routes: string;
  port: number;
  host: string;
  settings: SettingValues;
  /** The store built from the settings, if any: the entry disposes it on exit. */
  store: Store | undefined;
}

const LEVELS = new Set(['debug', 'info', 'warn', 'error', 'silent']);

/** The gateway-wide options that come from the settings table (flags and environment). */
export function gatewayOptionsFromSettings(v: SettingValues): Partial<GatewayOptions> {
  const level = String(v['log-level'] ?? 'info');
  if (!LEVELS.has(level)) throw new UsageError(`--log-level ${level}: expected debug, info, warn, error or silent`);
  const out: Partial<GatewayOptions> = { log: level as LogLevel };
  // Set: exactly that many connections. Unset: as many as the file-descriptor limit holds, less a
  // reserve, counted in sockets (two per relayed connection, one per hub connection).
  if (typeof v['max-connections'] === 'number') out.maxConnections = v['max-connections'];
  else out.maxSockets = socketBudgetForFdLimit(readFdLimit());
  if (typeof v['max-url-bytes'] === 'number') out.maxUrlBytes = v['max-url-bytes'];
  if (typeof v['admin-audience'] === 'string' && v['admin-audience']) out.adminAudience = v['admin-audience'];
  if (typeof v['admin-port'] === 'number') out.adminListener = true;
  if (typeof v['max-handshakes-per-ip'] === 'number') out.maxHandshakesPerIp = v['max-handshakes-per-ip'];
  if (typeof v['presence-ttl'] === 'number') out.presenceTtlSec = v['presence-ttl'];
  const trusted = expandTrustList((v['trust-proxy'] as string[] | undefined) ?? []);
  if (trusted.length > 0) {
    try {
      new TrustedProxies(trusted);
    } catch (err) {
      throw new UsageError(`--trust-proxy: ${(err as Error).message.replace(/^trusted proxies: /, '')}`);
    }
    out.trustedProxies = trusted;
  }
  if (typeof v['client-ip-header'] === 'string') out.clientIpHeader = v['client-ip-header'];
  return out;
}

/**
 * `@/path/file` entries of a trust list become the ranges in the file: one address or CIDR per
 * line, `#` comments and blank lines ignored (a cloud's published ranges, saved by the operator).
 */
export function expandTrustList(list: readonly string[]): string[] {
  const out: string[] = [];
  for (const entry of list) {
    if (!entry.startsWith('@')) {
      out.push(entry);
      continue;
    }
    let text: string;
    try {
      text = readFileSync(entry.slice(1), 'utf8');
    } catch (err) {
      throw new UsageError(`--trust-proxy ${entry}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    const ranges = text
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim())
      .filter(Boolean);
    if (ranges.length === 0) throw new UsageError(`--trust-proxy ${entry}: the file lists no address or range`);
    out.push(...ranges);
  }
  return out;
}

/** The store a settings table names (`memory` → undefined: the gateway creates one if a route needs it). */
export async function storeFromSettings(v: SettingValues): Promise<Store | undefined> {
  const url = v.store as string | undefined;
  // Imported only for a non-memory store: the Redis driver and its client stay off the start path otherwise.
  return url && url !== 'memory' ? (await import('../store/index.ts')).createStore(url) : undefined;
}

/** Parse the settings (flags, environment), build the gateway; exits 2 on bad input, 0 on --help. */
export async function startGateway(runtime: RuntimeAdapter, argv: string[], label: string): Promise<{ app: GatewayApp; opts: EntryOptions }> {
  const env = process.env;
  try {
    const { values } = parseArgs({ args: argv, options: { ...parseArgsOptions(SERVER_SETTINGS), help: { type: 'boolean', short: 'h' } } });
    if (values.help) {
      console.log(`wsgate on ${label}: the gateway, configured by flags or environment variables\n\n${settingsHelp(SERVER_SETTINGS)}`);
      process.exit(0);
    }
    const settings = resolveSettings(SERVER_SETTINGS, values as Record<string, string | boolean | undefined>, env);
    const port = settings.port as number;
    if (port > 65535) throw new UsageError(`--port ${port}: expected 0 to 65535`);
    if (settings['proxy-protocol'] === true)
      throw new UsageError(
        `--proxy-protocol: ${label} cannot read bytes before its HTTP server does; run the Node listener (wsgate start), or put the balancer in HTTP mode and use --trust-proxy with X-Forwarded-For`,
      );
    const routes = await loadRouteFiles(String(settings.routes));
    const store = await storeFromSettings(settings);
    const app = createGateway({ routes, env, runtime, ...(store ? { store } : {}), ...gatewayOptionsFromSettings(settings) });
    await app.gateway.warm().catch((err: Error) => console.error(`warning: ${err.message}`));
    return { app, opts: { routes: String(settings.routes), port, host: String(settings.host), settings, store } };
  } catch (err) {
    console.error(`wsgate (${label}): ${(err as Error).message}`);
    process.exit(2);
  }
}

export interface DrainOptions {
  windowMs?: number;
  deadlineMs?: number;
  /** The route folder SIGHUP re-reads. */
  routesDir?: string;
  /** How SIGHUP loads it (Node passes its own importer). @default the shared loader with `import()` */
  loadRoutes?: (dir: string, o: { fresh: boolean }) => Promise<LoadedRoute[]>;
  /** A store the caller created (the gateway disposes only the one it created itself). */
  store?: Store;
}

/**
 * SIGTERM/SIGINT/SIGQUIT: drain, stop the listener, exit 0 — at `deadlineMs` at the latest, whatever is
 * unfinished (the drain yields between batches, so the exit timer fires on time).
 * SIGHUP: re-read the route folder (`routesDir`); a valid table is swapped in, a broken one is
 * logged (file, field, reason) and the old table stays. No signal kills the process undrained.
 */
export function drainOnSignals(app: GatewayApp, closeListener: () => Promise<void> | void, o: DrainOptions = {}): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const windowMs = o.windowMs ?? 5000;
    const deadlineMs = o.deadlineMs ?? windowMs + 5000;
    console.error(`${signal}: draining ${app.gateway.registry.size} connections over ${windowMs} ms (exit by ${deadlineMs} ms)`);
    setTimeout(() => {
      console.error(`${signal}: drain deadline reached, exiting`);
      process.exit(0);
    }, deadlineMs);
    // The drain's own deadline leaves a moment to stop the listener and release the store.
    await app.gateway.drain({ windowMs: Math.min(windowMs, deadlineMs), deadlineMs: Math.max(0, deadlineMs - Math.min(1000, deadlineMs / 5)) });
    await Promise.race([closeListener(), new Promise((r) => setTimeout(r, 500))]);
    await Promise.race([app.gateway.dispose().catch(() => {}), new Promise((r) => setTimeout(r, 500))]);
    await Promise.race([o.store?.dispose().catch(() => {}), new Promise((r) => setTimeout(r, 500))]);
    process.exit(0);
  };
  let reloading = false;
  const reload = async () => {
    if (stopping || reloading || o.routesDir === undefined) return;
    reloading = true;
    try {
      const n = await app.gateway.reload(await (o.loadRoutes ?? loadRouteFiles)(o.routesDir, { fresh: true }));
      console.error(`SIGHUP: route table reloaded from ${o.routesDir} (${n} routes)`);
    } catch (err) {
      console.error(`SIGHUP: route table NOT reloaded, the old one stays: ${(err as Error).message}`);
    } finally {
      reloading = false;
    }
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  // SIGQUIT is nginx's graceful stop; by default it would kill the process undrained.
  process.once('SIGQUIT', () => void stop('SIGQUIT'));
  process.on('SIGHUP', () => void reload());
}

/** The drain window and deadline from the settings table. */
export function drainFromSettings(v: SettingValues): { windowMs: number; deadlineMs: number; routesDir: string } {
  const windowMs = (v['drain-window'] as number | undefined) ?? 5000;
  return { windowMs, deadlineMs: Math.max(windowMs, (v['drain-deadline'] as number | undefined) ?? windowMs + 5000), routesDir: String(v.routes ?? 'routes') };
}
