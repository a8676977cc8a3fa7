/**
 * Choosing and dialling an upstream: round-robin or sticky-by-subject over the route's targets,
 * failing over to the next target when a dial is refused, times out or gets a 5xx. The headers
 * sent upstream are built here from verified facts only — never the client's token.
 */
import { GatewayError } from '../errors.ts';
import type { ForwardedFacts } from '../http/client-address.ts';
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

export interface UpstreamHeaderInput {
  request: Request;
  url: URL;
  /** The client's address as the gateway determined it. */
  ip: string;
  /** The forwarding chain, scheme, host and port (src/http/client-address.ts); without it, the gateway's own view. */
  forwarded?: ForwardedFacts;
  /** The connection id, sent as X-Request-Id. */
  id: string;
  claims: Record<string, unknown>;
  route: ResolvedRoute;
  /** The verified token, forwarded as `Authorization: Bearer` only when the route opts in. */
  token: string | undefined;
}

/** Client headers passed through unchanged: what an upstream commonly logs or localises by. */
const PASSED_THROUGH = ['origin', 'user-agent', 'accept-language'];

/** The headers of the upstream handshake: forwarding facts, the claim headers, a few client headers. */
export function upstreamHeaders({ request, url, ip, forwarded, id, claims, route, token }: UpstreamHeaderInput): Record<string, string> {
  const headers: Record<string, string> = {
    'x-forwarded-for': forwarded?.for ?? ip,
    'x-forwarded-host': forwarded?.host ?? request.headers.get('host') ?? url.host,
    'x-forwarded-proto': forwarded?.proto ?? (url.protocol === 'https:' ? 'https' : 'http'),
    ...(forwarded ? { 'x-forwarded-port': forwarded.port } : {}),
    'x-request-id': id,
    ...claimHeaderValues(claims, route.claimHeaders),
  };
  for (const h of PASSED_THROUGH) {
    const v = request.headers.get(h);
    if (v !== null) headers[h] = v;
  }
  if (route.forwardToken && token !== undefined) headers.authorization = `Bearer ${token}`;
  return headers;
}

/** Longest claim header value sent (after encoding); past it the handshake gets 400 `claim_unsendable`. */
export const MAX_CLAIM_HEADER_BYTES = 4096;

/**
 * The one encoding of a claim header value: visible ASCII other than `%` (0x21–0x7E) is sent as
 * it is; every other character (space, `%`, controls, any non-ASCII) is percent-encoded as UTF-8.
 * `decodeURIComponent(value)` always gives the claim back, and plain ids pass unchanged.
 * Throws `claim_unsendable` for what has no UTF-8 form (a lone surrogate) or is too long.
 */
export function encodeClaimHeader(value: string, header: string): string {
  let out = '';
  for (const ch of value) {
    const c = ch.charCodeAt(0);
    if (c >= 0x21 && c <= 0x7e && c !== 0x25) out += ch;
    else {
      try {
        out += encodeURIComponent(ch);
      } catch {
        throw new GatewayError('claim_unsendable', `Claim for ${header} is not valid Unicode`);
      }
    }
    if (out.length > MAX_CLAIM_HEADER_BYTES) throw new GatewayError('claim_unsendable', `Claim for ${header} is over ${MAX_CLAIM_HEADER_BYTES} bytes`);
  }
  return out;
}

/** Header values from claims: strings as they are, others as JSON; each encoded by `encodeClaimHeader`. */
export function claimHeaderValues(claims: Record<string, unknown>, map: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [claim, header] of Object.entries(map)) {
    const v = claims[claim];
    if (v === undefined || v === null) continue;
    out[header] = encodeClaimHeader(typeof v === 'string' ? v : JSON.stringify(v), header);
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
      last = err instanceof UpstreamDialError ? err : new UpstreamDialError('unavailable', String(err), undefined, { cause: err });
      const errno = (err as { code?: string }).code;
      if (errno === 'EMFILE' || errno === 'ENFILE') last = new UpstreamDialError('exhausted', String(err), undefined, { cause: err });
      // Out of file descriptors is overload here, never an upstream failure (no failover either).
      if (last.kind === 'exhausted') throw new GatewayError('overloaded', 'Gateway is out of file descriptors', { 'retry-after': '5' }, { cause: last });
      onFailure(last.kind);
      const retryable = last.kind !== 'rejected' || (last.upstreamStatus ?? 500) >= 500;
      if (!retryable) break;
    }
  }
  // The client sees the table's message (or the upstream's status), never the dial's own text; the dial error stays as `cause`.
  const cause = { cause: last };
  if (last?.kind === 'timeout') throw new GatewayError('upstream_timeout', undefined, {}, cause);
  if (last?.kind === 'rejected') {
    const message = last.upstreamStatus === 101 ? 'Upstream chose a subprotocol the client did not offer' : `Upstream answered HTTP ${last.upstreamStatus}`;
    throw new GatewayError('upstream_rejected', message, {}, cause);
  }
  throw new GatewayError('upstream_unavailable', undefined, {}, cause);
}
