/**
 * The upgrade pipeline: one Hono handler that turns a WebSocket upgrade request into a relayed
 * session, or into a JSON error before anything is upgraded. Checks run cheapest and safest
 * first: draining? → route match (404, or the next handler when the app has more routes) →
 * plain request (426/405) → handshake shape (400/426) → URL size (414) → capacity (503) →
 * per-IP handshakes (429) → origin (403) → token (401/403) → per-user cap (429) → upstream
 * dial (502/504) → accept.
 */
import type { Context, Next } from 'hono';
import { extractToken, upstreamProtocols } from '../auth/index.ts';
import type { Channels } from '../core/channels.ts';
import { parseRecover } from '../core/history.ts';
import type { AcceptContext, Leg, RuntimeAdapter } from '../core/leg.ts';
import { socketsOf, type Registry } from '../core/registry.ts';
import { Session, type SessionDeps } from '../core/session.ts';
import { dialWithFailover, orderTargets, upstreamHeaders } from '../core/upstream.ts';
import { GatewayError, toGatewayError } from '../errors.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { ResolvedOptions } from '../options.ts';
import { buildUpstreamUrl, forwardedQuery, type Router } from '../routing/router.ts';
import type { ResolvedRoute } from '../routing/schema.ts';
import { resolveClient, type ForwardedFacts } from './client-address.ts';
import { checkHandshake, checkOrigin, isUpgradeRequest } from './handshake.ts';
import type { RouteRuntime } from './route-runtime.ts';

export interface UpgradeDeps {
  opts: ResolvedOptions;
  /** The current route table (SIGHUP swaps it; a handshake uses the one it matched against). */
  router(): Router;
  registry: Registry;
  metrics: GatewayMetrics;
  channels: Channels | undefined;
  perRoute: ReadonlyMap<ResolvedRoute, RouteRuntime>;
  /** The session deps for a route (one shared object per route, or fresh ones per request on workerd). */
  sessionDeps(route: ResolvedRoute): SessionDeps;
  isDraining(): boolean;
}

export interface UpgradeHandler {
  (c: Context, next: Next): Promise<Response | void>;
  /** Handshakes between their first check and their accept (they count towards the capacity). */
  readonly inFlight: number;
}

/**
 * The path the router sees: when the gateway is mounted under a prefix (`app.route('/ws',
 * gateway)`), Hono reports this handler's route as `/ws/*`, and the prefix is taken off.
 */
function routedPath(c: Context, pathname: string): string {
  const routePath = c.req.routePath;
  if (!routePath || routePath === '*' || routePath === '/*') return pathname;
  const prefix = routePath.endsWith('/*') ? routePath.slice(0, -2) : routePath;
  return prefix && pathname.startsWith(prefix) ? pathname.slice(prefix.length) || '/' : pathname;
}

export function createUpgradeHandler(deps: UpgradeDeps): UpgradeHandler {
  const { opts, registry, metrics, channels, perRoute } = deps;
  const { log } = opts;
  const handshakesPerIp = new Map<string, number>();
  let inFlight = 0;

  const handler = async (c: Context, next: Next): Promise<Response | void> => {
    const request = c.req.raw;
    const url = new URL(request.url);
    const match = deps.router().match(routedPath(c, url.pathname));
    // Not ours: a route the application added next to the gateway may take it; else JSON 404.
    if (!match) return next();
    const { route, params } = match;
    const rt = perRoute.get(route)!;
    if (!isUpgradeRequest(request)) {
      if (request.method === 'GET' || request.method === 'HEAD')
        throw new GatewayError('upgrade_required', `Connect with a WebSocket client: ws://${url.host}${url.pathname}?token=<JWT>`, { upgrade: 'websocket' });
      throw new GatewayError('method_not_allowed', undefined, { allow: 'GET' });
    }
    const runtime = opts.runtime;
    const client = resolveClient(runtime?.remoteAddress?.(request, c.env), request.headers, opts.clientAddress, url.protocol === 'https:' ? 'https' : 'http');
    const ip = client.ip;
    try {
      if (deps.isDraining()) throw new GatewayError('draining', undefined, { 'retry-after': '5' });
      checkHandshake(request);
      if (url.pathname.length + url.search.length > opts.maxUrlBytes) throw new GatewayError('uri_too_long');
      // A handshake in flight may still dial an upstream: it counts as two sockets.
      if (registry.size + inFlight >= opts.maxConnections || registry.sockets + 2 * inFlight + socketsOf(route) > opts.maxSockets)
        throw new GatewayError('overloaded', undefined, { 'retry-after': '5' });
      if (!runtime) throw new GatewayError('internal', 'No runtime adapter configured');
      const n = handshakesPerIp.get(ip) ?? 0;
      if (n >= opts.maxHandshakesPerIp) throw new GatewayError('too_many_connections', 'Too many handshakes in progress from this address');
      handshakesPerIp.set(ip, n + 1);
      inFlight++;
      try {
        const res = await handshake(c.env, request, url, route, params, ip, client.forwarded, runtime);
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
  };

  async function handshake(
    env: unknown,
    request: Request,
    url: URL,
    route: ResolvedRoute,
    params: Record<string, string>,
    ip: string,
    forwarded: ForwardedFacts,
    runtime: RuntimeAdapter,
  ): Promise<Response> {
    checkOrigin(route, request.headers.get('origin'));
    const rt = perRoute.get(route)!;
    let claims: Record<string, unknown> = {};
    let expiresAtMs: number | undefined;
    let token: string | undefined;
    if (rt.verifier) {
      const auth = rt.verifier.auth;
      token = extractToken(request, auth, url.search).token;
      const verified = await rt.verifier.verify(token);
      claims = verified.claims as Record<string, unknown>;
      expiresAtMs = verified.expiresAtMs;
    }
    // The token parameter is stripped on public routes too ('token' there: no auth config names another).
    const tokenParam = rt.verifier?.auth.queryParam ?? 'token';
    const userId = typeof claims.sub === 'string' ? claims.sub : undefined;
    if (route.maxConnectionsPerUser !== undefined && userId !== undefined && registry.countUser(userId, route.name) >= route.maxConnectionsPerUser)
      throw new GatewayError('too_many_connections', 'Too many connections for this user');
    // Before any upstream is dialled: a bad `since` is a 400 with nothing to clean up.
    const recover = route.history ? parseRecover(url.searchParams) : undefined;
    const id = crypto.randomUUID();
    const signal = runtime.handshakeSignal?.(request, env);
    let upstream: Leg | undefined;
    if (route.upstreams.length > 0) {
      const headers = upstreamHeaders({ request, url, ip, forwarded, id, claims, route, token });
      const urls = orderTargets(route, route.upstreams.map((t) => buildUpstreamUrl(t, params, forwardedQuery(url.search, t, route.forwardQuery, tokenParam))), userId);
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
      // Closed at exp + clockTolerance + expiryGrace: a token accepted inside the tolerance
      // (already past exp) must not be upgraded and closed in the same breath.
      expiryGraceMs: rt.verifier ? (rt.verifier.auth.clockToleranceSec + rt.verifier.auth.expiryGraceSec) * 1000 : 0,
    };
    try {
      // A drain that started while we were dialling wins: never accept after it.
      if (deps.isDraining()) throw new GatewayError('draining', undefined, { 'retry-after': '5' });
      const acceptOpts = { ...(upstream?.protocol ? { protocol: upstream.protocol } : {}), maxPayload: route.maxMessageBytes, context };
      return await runtime.accept(request, env, acceptOpts, (client) => {
        const session = new Session(
          { ...context, client, ...(upstream ? { upstream } : {}), upstreamWhatwg: runtime.upstreamWhatwg ?? false },
          deps.sessionDeps(route),
        );
        log.info('open', { conn: session.id, route: route.name, ip, sub: userId });
      });
    } catch (err) {
      upstream?.close(1001, 'Client went away');
      upstream?.terminate();
      throw err instanceof GatewayError ? err : new GatewayError('bad_request', 'Client went away during the handshake');
    }
  }

  Object.defineProperty(handler, 'inFlight', { get: () => inFlight });
  return handler as UpgradeHandler;
}
