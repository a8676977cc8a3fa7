/**
 * createGateway(options) → a Hono app. The handshake pipeline runs in this order, cheapest and
 * safest first (RELIABILITY A–F): draining? → route match (404) → plain request (426/405) →
 * handshake shape (400/426) → URL size (414) → capacity (503) → per-IP handshakes (429) →
 * origin (403) → token (401/403) → per-user cap (429) → upstream dial (502/504) → accept.
 * Nothing is upgraded until every check passed and the upstream answered.
 */
import { Hono } from 'hono';
import { createVerifier, extractToken, resolveAuth, stripTokenFromSearch, upstreamProtocols, type Verifier } from './auth/index.ts';
import { createChannels, type Channels } from './core/channels.ts';
import { parseRecover } from './core/history.ts';
import { Deadlines } from './core/deadlines.ts';
import { HeartbeatScheduler } from './core/heartbeat.ts';
import type { AcceptContext, Leg, RuntimeAdapter } from './core/leg.ts';
import { Registry } from './core/registry.ts';
import { Session, type CloseCause, type SessionCounters, type SessionDeps } from './core/session.ts';
import { claimHeaderValues, dialWithFailover, orderTargets } from './core/upstream.ts';
import { errorResponse, GatewayError, toGatewayError } from './errors.ts';
import { mountAdminApi } from './http/admin.ts';
import { mountDemo } from './http/demo.ts';
import { checkHandshake, checkOrigin, clientAddress, isUpgradeRequest } from './http/handshake.ts';
import { mountProbes } from './http/probes.ts';
import { createGatewayMetrics, type Cell } from './metrics.ts';
import { resolveOptions, type GatewayOptions, type ResolvedOptions } from './options.ts';
import { buildUpstreamUrl, Router } from './routing/router.ts';
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
  /** Prepare keys (JWKS) and the store; resolves when ready. */
  warm(): Promise<void>;
  /** Release timers and the store. */
  dispose(): Promise<void>;
}

export type GatewayApp = Hono & { gateway: GatewayControl };

interface RouteRuntime {
  verifier: Verifier | undefined;
  counters: SessionCounters;
  /** The deps every session of this route shares (one object per route, not per connection). */
  deps?: SessionDeps;
  /** wsgate_handshakes_total{route,outcome}, cells resolved once per outcome. */
  handshakes(outcome: string): Cell;
}

/** The runtime's synchronous HMAC for HS* tokens when it has one (Node); jose/WebCrypto otherwise. */
const hmacDeps = (opts: ResolvedOptions) => (opts.runtime?.hmacVerifier ? { hmac: opts.runtime.hmacVerifier } : {});

/** Admin tokens are verified with the gateway-wide keys, when there are any. */
function adminVerifier(opts: ResolvedOptions): Verifier | undefined {
  try {
    const auth = resolveAuth(undefined, opts.env, 'gateway-wide auth (admin API)');
    return auth ? createVerifier(auth, hmacDeps(opts)) : undefined;
  } catch {
    return undefined;
  }
}

export function createGateway(input: GatewayOptions): GatewayApp {
  const opts = resolveOptions(input);
  const { log, clock } = opts;
  const router = new Router(opts.routes);
  const registry = new Registry();
  const heartbeat = new HeartbeatScheduler(clock);
  const deadlines = new Deadlines(clock);
  const metrics = createGatewayMetrics();
  const needsStore = opts.routes.some((r) => r.channel !== undefined);
  const store = opts.store ?? (needsStore ? createMemoryStore() : undefined);
  const channels = store ? createChannels({ store, registry, log, clock, ttlSec: opts.presenceTtlSec, metrics, routes: opts.routes }) : undefined;
  const perRoute = new Map<ResolvedRoute, RouteRuntime>();
  for (const route of opts.routes) perRoute.set(route, prepareRoute(route));
  const handshakesPerIp = new Map<string, number>();
  let inFlight = 0;
  let draining = false;

  function prepareRoute(route: ResolvedRoute): RouteRuntime {
    const auth = resolveAuth(route.auth, opts.env, route.source);
    const labels = { route: route.name };
    const closeCells = new Map<string, { v: number }>();
    const handshakeCells = new Map<string, Cell>();
    return {
      handshakes(outcome) {
        let c = handshakeCells.get(outcome);
        if (!c) handshakeCells.set(outcome, (c = metrics.handshakes.cell({ ...labels, outcome })));
        return c;
      },
      verifier: auth ? createVerifier(auth, hmacDeps(opts)) : undefined,
      counters: {
        msgIn: metrics.messages.cell({ ...labels, direction: 'in' }),
        msgOut: metrics.messages.cell({ ...labels, direction: 'out' }),
        bytesIn: metrics.bytes.cell({ ...labels, direction: 'in' }),
        bytesOut: metrics.bytes.cell({ ...labels, direction: 'out' }),
        open: metrics.connectionsOpen.cell(labels),
        hbClient: metrics.heartbeatTimeouts.cell({ ...labels, leg: 'client' }),
        hbUpstream: metrics.heartbeatTimeouts.cell({ ...labels, leg: 'upstream' }),
        close(code: number, cause: CloseCause) {
          const k = `${code}/${cause}`;
          let c = closeCells.get(k);
          if (!c) closeCells.set(k, (c = metrics.closes.cell({ ...labels, code, cause })));
          c.v++;
        },
      },
    };
  }

  const sessionDeps: SessionDeps = {
    clock,
    heartbeat,
    deadlines,
    registry,
    log,
    ...(channels ? { channels } : {}),
    counters: undefined as unknown as SessionCounters, // set per session below
  };

  const app = new Hono() as GatewayApp;
  mountProbes(app, { isDraining: () => draining, store, metrics, registry, verifiers: () => [...perRoute.values()].map((r) => r.verifier) });
  if (opts.devPage) mountDemo(app, { secret: opts.env.JWT_SECRET });
  mountAdminApi(app, { channels, registry, adminSecret: opts.adminSecret, verifier: adminVerifier(opts) });

  app.all('*', async (c) => {
    const request = c.req.raw;
    const url = new URL(request.url);
    const upgrade = isUpgradeRequest(request);
    const match = router.match(url.pathname);
    if (!match) throw new GatewayError('not_found');
    const { route, params } = match;
    const rt = perRoute.get(route)!;
    if (!upgrade) {
      if (request.method === 'GET' || request.method === 'HEAD')
        throw new GatewayError('upgrade_required', `Connect with a WebSocket client: ws://${url.host}${url.pathname}?token=<JWT>`, { upgrade: 'websocket' });
      throw new GatewayError('method_not_allowed', undefined, { allow: 'GET' });
    }
    const runtime = opts.runtime;
    const ip = clientAddress(runtime?.remoteAddress?.(request, c.env), request.headers.get('x-forwarded-for'), opts.trustedProxies);
    try {
      if (draining) throw new GatewayError('draining', undefined, { 'retry-after': '5' });
      checkHandshake(request);
      if (url.pathname.length + url.search.length > opts.maxUrlBytes) throw new GatewayError('uri_too_long');
      if (registry.size + inFlight >= opts.maxConnections) throw new GatewayError('overloaded', undefined, { 'retry-after': '5' });
      if (!runtime) throw new GatewayError('internal', 'No runtime adapter configured');
      const n = handshakesPerIp.get(ip) ?? 0;
      if (n >= opts.maxHandshakesPerIp) throw new GatewayError('too_many_connections', 'Too many handshakes in progress from this address');
      handshakesPerIp.set(ip, n + 1);
      inFlight++;
      try {
        const res = await handshake(c.env, request, url, route, params, ip, runtime);
        rt.handshakes('accepted').v++;
        return res;
      } finally {
        inFlight--;
        const left = (handshakesPerIp.get(ip) ?? 1) - 1;
        if (left === 0) handshakesPerIp.delete(ip);
        else handshakesPerIp.set(ip, left);
      }
    } catch (err) {
      const e = toGatewayError(err);
      if (e.code === 'internal') log.error('handshake_error', { route: route.name, error: String(err) });
      rt.handshakes(e.code).v++;
      log.info('handshake_rejected', { route: route.name, code: e.code, ip, origin: request.headers.get('origin') });
      throw e;
    }
  });

  async function handshake(
    env: unknown,
    request: Request,
    url: URL,
    route: ResolvedRoute,
    params: Record<string, string>,
    ip: string,
    runtime: RuntimeAdapter,
  ): Promise<Response> {
    checkOrigin(route, request.headers.get('origin'));
    const rt = perRoute.get(route)!;
    let claims: Record<string, unknown> = {};
    let expiresAtMs: number | undefined;
    let token: string | undefined;
    let search = url.search;
    if (rt.verifier) {
      const auth = rt.verifier.auth;
      token = extractToken(request, auth, url.search).token;
      const verified = await rt.verifier.verify(token);
      claims = verified.claims as Record<string, unknown>;
      expiresAtMs = verified.expiresAtMs;
      search = stripTokenFromSearch(url.search, auth.queryParam);
    }
    const userId = typeof claims.sub === 'string' ? claims.sub : undefined;
    if (route.maxConnectionsPerUser !== undefined && userId !== undefined && registry.countUser(userId, route.name) >= route.maxConnectionsPerUser)
      throw new GatewayError('too_many_connections', 'Too many connections for this user');
    // Before any upstream is dialled: a bad `since` is a 400 with nothing to clean up.
    const recover = route.history ? parseRecover(url.searchParams) : undefined;
    const id = crypto.randomUUID();
    const signal = (env as { signal?: AbortSignal } | undefined)?.signal;
    let upstream: Leg | undefined;
    if (route.upstreams.length > 0) {
      const headers: Record<string, string> = {
        'x-forwarded-for': ip,
        'x-forwarded-host': request.headers.get('host') ?? url.host,
        'x-forwarded-proto': url.protocol === 'https:' ? 'https' : 'http',
        'x-request-id': id,
        ...claimHeaderValues(claims, route.claimHeaders),
      };
      for (const h of ['origin', 'user-agent', 'accept-language']) {
        const v = request.headers.get(h);
        if (v !== null) headers[h] = v;
      }
      if (route.forwardToken && token !== undefined) headers.authorization = `Bearer ${token}`;
      const urls = orderTargets(route, route.upstreams.map((t) => buildUpstreamUrl(t, params, search)), userId);
      upstream = await dialWithFailover(runtime, route, { urls, protocols: upstreamProtocols(request), headers }, signal, (kind) =>
        metrics.upstreamFailures.inc({ route: route.name, kind }),
      );
    }
    const channel = route.channel ? channels!.channelName(route.channel, params, claims) : undefined;
    const context: AcceptContext = {
      id,
      route,
      ...(userId !== undefined ? { userId } : {}),
      ...(channel !== undefined ? { channel } : {}),
      ...(recover ? { recover } : {}),
      ...(expiresAtMs !== undefined ? { expiresAtMs } : {}),
      expiryGraceMs: (rt.verifier?.auth.expiryGraceSec ?? 0) * 1000,
    };
    try {
      // A drain that started while we were dialling wins: never accept after it (I4).
      if (draining) throw new GatewayError('draining', undefined, { 'retry-after': '5' });
      const acceptOpts = { ...(upstream?.protocol ? { protocol: upstream.protocol } : {}), maxPayload: route.maxMessageBytes, context };
      return await runtime.accept(request, env, acceptOpts, (client) => {
        const session = new Session(
          { ...context, client, ...(upstream ? { upstream } : {}), upstreamWhatwg: runtime.upstreamWhatwg ?? false },
          runtime.requestScopedIo
            ? { ...sessionDeps, counters: rt.counters, heartbeat: new HeartbeatScheduler(clock), deadlines: new Deadlines(clock) }
            : (rt.deps ??= { ...sessionDeps, counters: rt.counters }),
        );
        log.info('open', { conn: session.id, route: route.name, ip, sub: userId });
      });
    } catch (err) {
      upstream?.close(1001, 'Client went away');
      upstream?.terminate();
      throw err instanceof GatewayError ? err : new GatewayError('bad_request', 'Client went away during the handshake');
    }
  }

  app.onError((err) => errorResponse(toGatewayError(err)));
  app.notFound(() => errorResponse(new GatewayError('not_found')));

  const control: GatewayControl = {
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
      const sessions = [...registry.byId.values()];
      const step = sessions.length > 1 ? windowMs / sessions.length : 0;
      sessions.forEach((s, i) => clock.setTimeout(() => s.close(1001, 'Gateway is shutting down', 'drain'), i * step));
      const started = clock.now();
      while ((registry.size > 0 || inFlight > 0) && clock.now() - started < deadlineMs) await new Promise((r) => setTimeout(r, 50));
      for (const s of registry.byId.values()) s.close(1001, 'Gateway is shutting down', 'drain');
    },
    publish: (channel, data) => (channels ? channels.publish(channel, data) : Promise.reject(new GatewayError('store_unavailable', 'No route has a channel'))),
    closeConnection(id, code = 4903, reason = 'Closed by an administrator') {
      const s = registry.byId.get(id);
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
