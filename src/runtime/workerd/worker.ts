/**
 * `createWorker(routes)`: a Cloudflare Worker serving the gateway.
 *
 * The gateway is built once per isolate, on the first request (timers cannot be created at global
 * scope), from the routes and the Worker's vars and secrets (`JWT_SECRET` via
 * `wrangler secret put JWT_SECRET`). Hub routes are served by the channel's Durable Object
 * (`ChannelObject`, which the Worker's main module must export so wrangler can bind it).
 */
import { ConfigError } from '../../errors.ts';
import { createGateway, type GatewayApp } from '../../gateway.ts';
import type { LogLevel } from '../../log.ts';
import type { LoadedRoute } from '../../options.ts';
import type { RouteConfig } from '../../routing/define-route.ts';
import { createWorkerdAdapter } from './adapter.ts';
import { ChannelObject } from './channel-object.ts';
import { createDurableObjectStore, handOff } from './store.ts';
import type { DurableObjectNamespace } from './types.ts';

export { ChannelObject };

export interface WorkerEnv {
  /** The ChannelObject namespace (needed when a route has a channel). */
  CHANNELS?: DurableObjectNamespace;
  [name: string]: unknown;
}

type Built = { app: GatewayApp } | { error: string };

function build(routes: LoadedRoute[], env: WorkerEnv): Built {
  try {
    const vars: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(env)) if (typeof v === 'string') vars[k] = v;
    const dev = vars.WSGATE_DEV_PAGE === '1';
    // `wrangler dev` without a configured key: a per-isolate random secret, as `wsgate dev` does.
    if (dev && !vars.JWT_SECRET && !vars.JWT_PUBLIC_KEY && !vars.JWT_JWKS_URL) vars.JWT_SECRET = `dev-secret-${crypto.randomUUID()}`;
    const channelRoutes = routes.filter((r) => r.route.channel !== undefined);
    for (const r of channelRoutes)
      if (r.route.upstream !== undefined)
        throw new ConfigError(
          { source: r.source, field: 'upstream', expected: 'no upstream on a channel route on Workers (a hub route)' },
          `${r.source}: a relay route with a channel is not supported on Workers yet (a Worker relay session cannot receive channel messages); use a hub route or run this route on Node, Bun or Deno`,
        );
    const ns = env.CHANNELS;
    if (channelRoutes.length > 0 && !ns)
      throw new ConfigError(
        { source: 'wrangler.toml', field: 'durable_objects.bindings', expected: 'a CHANNELS binding (routes with a channel need it)' },
        'routes with a channel need the CHANNELS Durable Object binding (see wrangler.toml)',
      );
    const runtime = createWorkerdAdapter({
      // The namespace of the request being served: bindings are per request on workerd.
      handoff: (_request, reqEnv, ctx, protocol) =>
        handOff((reqEnv as WorkerEnv).CHANNELS ?? ns!, {
          id: ctx.id,
          channel: ctx.channel,
          route: ctx.route,
          ...(ctx.userId !== undefined ? { userId: ctx.userId } : {}),
          ...(ctx.recover ? { recover: ctx.recover } : {}),
          ...(protocol ? { protocol } : {}),
          ...(ctx.expiresAtMs !== undefined ? { expiresAtMs: ctx.expiresAtMs } : {}),
          expiryGraceMs: ctx.expiryGraceMs,
        }),
    });
    const app = createGateway({
      routes,
      runtime,
      env: vars,
      ...(ns ? { store: createDurableObjectStore(ns) } : {}),
      log: (vars.LOG_LEVEL as LogLevel | undefined) ?? 'info',
      devPage: dev,
    });
    return { app };
  } catch (err) {
    const error = (err as Error).message ?? String(err);
    console.error(JSON.stringify({ level: 'error', event: 'worker_start_failed', error }));
    return { error };
  }
}

/**
 * A Worker (`export default`) serving `routes`. A configuration error is logged once and every
 * request then gets a 500 JSON naming it, rather than a Worker that fails to load.
 */
export function createWorker(routes: Array<LoadedRoute | RouteConfig>): { fetch(request: Request, env: WorkerEnv, ctx: unknown): Response | Promise<Response> } {
  let built: Built | undefined;
  return {
    fetch(request, env, ctx) {
      built ??= build(routes.map((r, i) => ('source' in r && 'route' in r ? r : { source: `routes[${i}]`, route: r })), env);
      if ('error' in built) return Response.json({ error: 'misconfigured', message: built.error }, { status: 500 });
      return built.app.fetch(request, env, ctx as never);
    },
  };
}

