/**
 * createGateway(options) → a Hono app: the wiring of one gateway instance (options, router,
 * registry, timers, store and channels) and its controls (drain, publish, close, warm, dispose).
 * The upgrade pipeline itself lives in http/upgrade.ts; nothing is upgraded until every check
 * passed and the upstream answered.
 */
// hono/tiny (PatternRouter): the gateway's few routes need no router precompilation, and it loads
// in about half the time of the default build (cold start).
import { Hono } from 'hono/tiny';
import { createVerifier, resolveAuth, type Verifier } from './auth/index.ts';
import { createChannels, type Channels } from './core/channels.ts';
import { Deadlines } from './core/deadlines.ts';
import { HeartbeatScheduler } from './core/heartbeat.ts';
import { Registry } from './core/registry.ts';
import type { SessionDeps } from './core/session.ts';
import { errorResponse, GatewayError, toGatewayError } from './errors.ts';
import { mountAdminApi } from './http/admin.ts';
import { mountDemo } from './http/demo.ts';
import { mountMetrics, mountProbes } from './http/probes.ts';
import { hmacDeps, prepareRoute, type RouteRuntime } from './http/route-runtime.ts';
import { createUpgradeHandler } from './http/upgrade.ts';
import { createGatewayMetrics } from './metrics.ts';
import { resolveOptions, resolveRoutes, type GatewayOptions, type ResolvedOptions } from './options.ts';
import { Router } from './routing/router.ts';
import { drainSessions } from './core/drain.ts';
import type { ResolvedRoute } from './routing/schema.ts';
import { createMemoryStore } from './store/memory.ts';

export interface GatewayControl {
  readonly options: ResolvedOptions;
  readonly registry: Registry;
  readonly metrics: ReturnType<typeof createGatewayMetrics>;
  readonly channels: Channels | undefined;
  /** True once `drain` was called: readiness fails and new upgrades get 503. */
  readonly draining: boolean;
  /**
   * Stop accepting, then close open connections with 1001, spread over `windowMs`; connections
   * still open at `deadlineMs` are dropped. Resolves when none is left.
   */
  drain(opts?: { windowMs?: number; deadlineMs?: number }): Promise<void>;
  /** Publish to a channel on every instance; resolves with the connections on the channel across instances (from presence). */
  publish(channel: string, data: string): Promise<number>;
  /** Close a connection by id. */
  closeConnection(id: string, code?: number, reason?: string): boolean;
  /**
   * Swap in a new route table (SIGHUP): validated and prepared in full first, then swapped in
   * one step; on any error it throws (naming file, field and reason) and the old table stays.
   * Open connections keep the route they were accepted on. Resolves with the route count.
   */
  reload(routes: GatewayOptions['routes']): Promise<number>;
  /** Prepare keys (JWKS) and the store; resolves when ready. */
  warm(): Promise<void>;
  /** Release timers and the store. */
  dispose(): Promise<void>;
  /** With `adminListener`: the app serving `/_wsgate/*` and `/metrics` (give it its own port). */
  readonly adminApp: Hono | undefined;
}

export type GatewayApp = Hono & { gateway: GatewayControl };

/** Admin tokens are verified with the gateway-wide keys, when there are any, and must carry the admin audience. */
function adminVerifier(opts: ResolvedOptions): Verifier | undefined {
  try {
    const auth = resolveAuth({ audience: opts.adminAudience }, opts.env, 'gateway-wide auth (admin API)');
    return auth ? createVerifier(auth, hmacDeps(opts)) : undefined;
  } catch {
    return undefined;
  }
}

export function createGateway(input: GatewayOptions): GatewayApp {
  const opts = resolveOptions(input);
  const { log, clock } = opts;
  let router = new Router(opts.routes);
  const registry = new Registry();
  const heartbeat = new HeartbeatScheduler(clock);
  const deadlines = new Deadlines(clock);
  const metrics = createGatewayMetrics();
  const needsStore = opts.routes.some((r) => r.channel !== undefined);
  const store = opts.store ?? (needsStore ? createMemoryStore() : undefined);
  // Presence deltas only matter to routes that show presence events: asked per join, cached per route table.
  let announceFor: { routes: unknown; v: boolean } | undefined;
  const announce = () => {
    if (announceFor?.routes !== opts.routes) announceFor = { routes: opts.routes, v: opts.routes.some((r) => r.channel !== undefined && r.presenceEvents) };
    return announceFor.v;
  };
  const channels = store ? createChannels({ store, registry, log, clock, ttlSec: opts.presenceTtlSec, metrics, routes: opts.routes, announce }) : undefined;
  const perRoute = new Map<ResolvedRoute, RouteRuntime>();
  for (const route of opts.routes) perRoute.set(route, prepareRoute(route, opts, metrics));
  let draining = false;

  const shared = { clock, heartbeat, deadlines, registry, log, ...(channels ? { channels } : {}) };
  const routeDeps = new Map<ResolvedRoute, SessionDeps>();
  const sessionDeps = (route: ResolvedRoute): SessionDeps => {
    const counters = perRoute.get(route)!.counters;
    // workerd: timers must belong to the request that owns the socket, so each session gets its own.
    if (opts.runtime?.requestScopedIo) return { ...shared, counters, heartbeat: new HeartbeatScheduler(clock), deadlines: new Deadlines(clock) };
    let d = routeDeps.get(route);
    if (!d) routeDeps.set(route, (d = { ...shared, counters }));
    return d;
  };

  const app = new Hono() as GatewayApp;
  const adminApp = opts.adminListener ? new Hono() : undefined;
  const probeDeps = { isDraining: () => draining, store, metrics, registry, verifiers: () => router.routes.map((r) => perRoute.get(r)?.verifier), memoryUsage: () => opts.runtime?.memoryUsage?.() };
  mountProbes(app, probeDeps);
  mountMetrics(adminApp ?? app, probeDeps, opts.metricsToken);
  if (opts.devPage) mountDemo(app, { secret: opts.env.JWT_SECRET, peer: (c) => opts.runtime?.remoteAddress?.(c.req.raw, c.env) });
  // Off unless configured: with no secret and no admin audience, /_wsgate/* is a 404.
  if (opts.adminEnabled) mountAdminApi(adminApp ?? app, { channels, registry, adminSecret: opts.adminSecret, verifier: adminVerifier(opts) });
  if (adminApp) {
    adminApp.onError((err) => errorResponse(toGatewayError(err)));
    adminApp.notFound(() => errorResponse(new GatewayError('not_found', 'Not an admin path')));
  }
  const upgrade = createUpgradeHandler({ opts, router: () => router, registry, metrics, channels, perRoute, sessionDeps, isDraining: () => draining });
  app.all('*', upgrade);

  app.onError((err) => errorResponse(toGatewayError(err)));
  app.notFound(() => errorResponse(new GatewayError('not_found')));

  const control: GatewayControl = {
    adminApp,
    options: opts,
    registry,
    metrics,
    channels,
    get draining() {
      return draining;
    },
    async drain({ windowMs = 5000, deadlineMs = windowMs + 5000 } = {}) {
      draining = true;
      metrics.draining.set({}, 1);
      channels?.quiesce();
      await drainSessions({ registry, clock, inFlight: () => upgrade.inFlight, windowMs, deadlineMs });
    },
    async reload(input) {
      if (!Array.isArray(input)) throw new Error('routes: expected a list of routes');
      const routes = resolveRoutes(input);
      const next = new Router(routes);
      if (!store && routes.some((r) => r.channel !== undefined)) throw new Error('a route with a channel needs a store: restart the gateway to add the first one');
      const prepared = new Map(routes.map((r) => [r, prepareRoute(r, opts, metrics)] as const));
      for (const rt of prepared.values()) await rt.verifier?.warm().catch(() => {});
      // One step: a handshake sees either the old table or the new one, never a mix.
      for (const [r, rt] of prepared) perRoute.set(r, rt);
      router = next;
      opts.routes = routes;
      return routes.length;
    },
    publish: (channel, data) => (channels ? channels.publish(channel, data) : Promise.reject(new GatewayError('store_unavailable', 'No route has a channel'))),
    closeConnection(id, code = 4903, reason = 'Closed by an administrator') {
      const s = registry.get(id);
      if (!s) return false;
      s.close(code, reason, 'admin');
      return true;
    },
    async warm() {
      for (const rt of perRoute.values()) await rt.verifier?.warm();
    },
    async dispose() {
      heartbeat.dispose();
      deadlines.dispose();
      await channels?.dispose();
      if (!input.store) await store?.dispose();
    },
  };
  app.gateway = control;
  return app;
}
