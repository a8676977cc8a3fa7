/**
 * What the gateway prepares once per route at start-up: the token verifier and the metric cells
 * its sessions bump, so nothing on a handshake or a message looks a label set up again.
 */
import { createVerifier, resolveAuth, type Verifier } from '../auth/index.ts';
import type { SessionCounters } from '../core/session.ts';
import { createRouteCells, type Cell, type GatewayMetrics } from '../metrics.ts';
import type { ResolvedOptions } from '../options.ts';
import type { ResolvedRoute } from '../routing/schema.ts';

export interface RouteRuntime {
  verifier: Verifier | undefined;
  counters: SessionCounters;
  /** wsgate_handshakes_total{route,outcome}, cells resolved once per outcome. */
  handshakes(outcome: string): Cell;
}

/** The runtime's synchronous HMAC for HS* tokens when it has one (Node); jose/WebCrypto otherwise. */
export const hmacDeps = (opts: ResolvedOptions) => (opts.runtime?.hmacVerifier ? { hmac: opts.runtime.hmacVerifier } : {});

export function prepareRoute(route: ResolvedRoute, opts: ResolvedOptions, metrics: GatewayMetrics): RouteRuntime {
  const auth = resolveAuth(route.auth, opts.env, route.source);
  const cells = createRouteCells(metrics, route.name);
  return { verifier: auth ? createVerifier(auth, hmacDeps(opts)) : undefined, counters: cells.counters, handshakes: cells.handshakes };
}
