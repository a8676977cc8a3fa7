/**
 * Choosing and dialling an upstream: round-robin or sticky-by-subject over the route's targets,
 * failing over to the next target when a dial is refused, times out or gets a 5xx. The headers
 * sent upstream are built here from verified facts only — never the client's token (B11).
 */
import { GatewayError } from '../errors.ts';
import type { ResolvedRoute } from '../routing/schema.ts';
import { UpstreamDialError, type Leg, type RuntimeAdapter } from './leg.ts';

export interface DialPlan {
  urls: string[];
  protocols: string[];
  headers: Record<string, string>;
}

const cursors = new WeakMap<ResolvedRoute, number>();

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** Order targets: the picked one first, then the others as failover. */
export function orderTargets(route: ResolvedRoute, urls: string[], subject: string | undefined): string[] {
  if (urls.length < 2) return urls;
  let start: number;
  if (route.balance === 'sticky' && subject !== undefined) start = hash(subject) % urls.length;
  else {
    start = cursors.get(route) ?? 0;
    cursors.set(route, (start + 1) % urls.length);
  }
  return [...urls.slice(start), ...urls.slice(0, start)];
}

/** Header values from claims: strings as they are, others as JSON; CR/LF never pass. */
export function claimHeaderValues(claims: Record<string, unknown>, map: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [claim, header] of Object.entries(map)) {
    const v = claims[claim];
    if (v === undefined || v === null) continue;
    out[header] = (typeof v === 'string' ? v : JSON.stringify(v)).replace(/[\r\n\0]/g, ' ');
  }
  return out;
}

export async function dialWithFailover(
  runtime: RuntimeAdapter,
  route: ResolvedRoute,
  plan: DialPlan,
  signal: AbortSignal | undefined,
  onFailure: (kind: UpstreamDialError['kind']) => void,
): Promise<Leg> {
  let last: UpstreamDialError | undefined;
  for (const url of plan.urls) {
    if (signal?.aborted) break;
    try {
      return await runtime.connectUpstream(
        { url, protocols: plan.protocols, headers: plan.headers, timeoutMs: route.connectTimeoutMs, maxPayload: route.maxMessageBytes },
        signal,
      );
    } catch (err) {
      last = err instanceof UpstreamDialError ? err : new UpstreamDialError('unavailable', String(err));
      onFailure(last.kind);
      const retryable = last.kind !== 'rejected' || (last.upstreamStatus ?? 500) >= 500;
      if (!retryable) break;
    }
  }
  if (last?.kind === 'timeout') throw new GatewayError('upstream_timeout');
  if (last?.kind === 'rejected')
    throw new GatewayError('upstream_rejected', last.upstreamStatus === 101 ? 'Upstream chose a subprotocol the client did not offer' : `Upstream answered HTTP ${last.upstreamStatus}`);
  throw new GatewayError('upstream_unavailable');
}
