/**
 * Gateway-wide options, resolved and validated once at start-up.
 */
import type { Clock } from './core/clock.ts';
import { TrustedProxies, type ClientAddressConfig } from './http/client-address.ts';
import { systemClock } from './core/clock.ts';
import { ConfigError } from './errors.ts';
import type { RuntimeAdapter } from './core/leg.ts';
import { createLogger, type Logger, type LogLevel } from './log.ts';
import type { RouteConfig } from './routing/define-route.ts';
import { resolveRoute, type ResolvedRoute } from './routing/schema.ts';
import type { Store } from './store/types.ts';

/** A route loaded from a file keeps the file name for error messages. */
export interface LoadedRoute {
  source: string;
  route: RouteConfig;
}

export interface GatewayOptions {
  /** Route objects, or routes loaded with `loadRouteFiles(dir)`. */
  routes: Array<RouteConfig | LoadedRoute>;
  /** The runtime adapter (the Node entry point supplies one). */
  runtime?: RuntimeAdapter;
  /** Environment for JWT_* settings. @default the runtime's environment (`process.env` on Node, Bun and Deno), else {} */
  env?: Record<string, string | undefined>;
  /** Presence and broadcast store. @default a memory store, created when a route has a channel */
  store?: Store;
  /**
   * Secret for the `/_wsgate` admin API (Bearer). Setting it (or `adminAudience`) turns the admin
   * API on; with neither, `/_wsgate/*` answers 404. @default env WSGATE_ADMIN_SECRET
   */
  adminSecret?: string;
  /**
   * The `aud` an admin JWT must carry (besides `scope: wsgate:admin`, verified with the
   * gateway-wide keys). Setting it turns the admin API on. Ordinary tokens never carry it.
   * @default env WSGATE_ADMIN_AUDIENCE, else 'wsgate-admin'
   */
  adminAudience?: string;
  /**
   * Serve the admin API and `/metrics` on `app.gateway.adminApp` (a second listener) instead of
   * the public app, which then answers 404 for them. @default false
   */
  adminListener?: boolean;
  /** Bearer token `/metrics` requires. @default env WSGATE_METRICS_TOKEN, else none (open) */
  metricsToken?: string;
  /** @default 'info' */
  log?: Logger | LogLevel;
  /**
   * Global cap on open connections; past it handshakes get 503 + Retry-After. The `wsgate`
   * entry points default it from the process's file-descriptor limit. @default 100000
   */
  maxConnections?: number;
  /**
   * Cap on the sockets open connections hold: a relayed connection holds two (client and
   * upstream leg), a hub connection one; a handshake in flight counts as two. Past it handshakes
   * get 503 `overloaded` + Retry-After. The `wsgate` entry points default it from the process's
   * file-descriptor limit (the limit minus a reserve). @default unlimited
   */
  maxSockets?: number;
  /** Concurrent handshakes in flight per client IP. @default 64 */
  maxHandshakesPerIp?: number;
  /** Longest request target accepted. @default 8192 */
  maxUrlBytes?: number;
  /**
   * Proxies whose forwarding headers are believed: addresses and CIDR ranges (IPv4 or IPv6), or
   * the presets `loopback`, `private`, `linklocal`. @default [] (no peer is trusted)
   */
  trustedProxies?: string[];
  /**
   * Where a trusted proxy puts the client's address: `x-forwarded-for` (right-most untrusted
   * hop), `forwarded` (RFC 7239), or a one-address header such as `cf-connecting-ip` or
   * `x-real-ip`. @default 'x-forwarded-for'
   */
  clientIpHeader?: string;
  /** Presence lease TTL, seconds. @default env PRESENCE_TTL_SEC, else 30 */
  presenceTtlSec?: number;
  /** Injected clock for tests. @default the system clock */
  clock?: Clock;
  /** Serve the chat demo page at `/` and dev tokens at `/_wsgate/dev-token` (never in production). @default false */
  devPage?: boolean;
}

export interface ResolvedOptions {
  routes: ResolvedRoute[];
  runtime: RuntimeAdapter | undefined;
  env: Record<string, string | undefined>;
  store: Store | undefined;
  adminSecret: string | undefined;
  /** True when a secret or an admin audience is configured. */
  adminEnabled: boolean;
  adminAudience: string;
  adminListener: boolean;
  metricsToken: string | undefined;
  log: Logger;
  maxConnections: number;
  maxSockets: number;
  maxHandshakesPerIp: number;
  maxUrlBytes: number;
  clientAddress: ClientAddressConfig;
  presenceTtlSec: number;
  clock: Clock;
  devPage: boolean;
}

function clientIpHeader(h: string | undefined): string {
  const name = (h ?? 'x-forwarded-for').trim().toLowerCase();
  if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) throw new ConfigError({ source: 'options', field: 'clientIpHeader', expected: 'a header name', got: h }, `options.clientIpHeader: "${h}" is not a header name`);
  return name;
}

/** Route objects or loaded route files, each validated (errors name file, field and reason). */
export function resolveRoutes(list: GatewayOptions['routes']): ResolvedRoute[] {
  return list.map((r, i) => ('source' in r && 'route' in r ? resolveRoute(r.route, r.source) : resolveRoute(r, `routes[${i}]`)));
}

export function resolveOptions(o: GatewayOptions): ResolvedOptions {
  if (!Array.isArray(o.routes)) throw new ConfigError({ source: 'options', field: 'routes', expected: 'a list of routes' }, 'options.routes: expected a list of routes');
  const routes = resolveRoutes(o.routes);
  const env = o.env ?? o.runtime?.env?.() ?? {};
  const num = (name: string, v: number | undefined, d: number) => {
    if (v === undefined) return d;
    if (!Number.isInteger(v) || v < 1) throw new ConfigError({ source: 'options', field: name, expected: 'a positive integer', got: v }, `options.${name}: expected a positive integer, got ${v}`);
    return v;
  };
  const adminSecret = o.adminSecret ?? (env.WSGATE_ADMIN_SECRET || undefined);
  const audience = o.adminAudience ?? env.WSGATE_ADMIN_AUDIENCE;
  return {
    routes,
    runtime: o.runtime,
    env,
    store: o.store,
    adminSecret,
    adminEnabled: Boolean(adminSecret) || Boolean(audience),
    adminAudience: audience || 'wsgate-admin',
    adminListener: o.adminListener ?? false,
    metricsToken: o.metricsToken ?? (env.WSGATE_METRICS_TOKEN || undefined),
    log: typeof o.log === 'object' ? o.log : createLogger(o.log ?? 'info', o.runtime?.writeLog),
    maxConnections: num('maxConnections', o.maxConnections, 100_000),
    maxSockets: num('maxSockets', o.maxSockets, Number.POSITIVE_INFINITY),
    maxHandshakesPerIp: num('maxHandshakesPerIp', o.maxHandshakesPerIp, 64),
    maxUrlBytes: num('maxUrlBytes', o.maxUrlBytes, 8192),
    clientAddress: { trusted: new TrustedProxies(o.trustedProxies ?? []), header: clientIpHeader(o.clientIpHeader) },
    presenceTtlSec: num('presenceTtlSec', o.presenceTtlSec ?? (env.PRESENCE_TTL_SEC ? Number(env.PRESENCE_TTL_SEC) : undefined), 30),
    clock: o.clock ?? systemClock,
    devPage: o.devPage ?? false,
  };
}
