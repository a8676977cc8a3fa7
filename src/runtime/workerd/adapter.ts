/**
 * The workerd (Cloudflare Workers) runtime adapter.
 *
 * - Clients are accepted with a `WebSocketPair`, not Hono's helper: that one never calls onOpen,
 *   cannot set `Sec-WebSocket-Protocol`, and compares `Upgrade: websocket` case-sensitively
 *   (RFC 6455 §4.2.1 says case-insensitive).
 * - Upstreams are dialled with `fetch(httpUrl, { headers: { Upgrade: 'websocket' } })`: the only
 *   way identity headers reach the upstream (`new WebSocket(url)` drops them).
 * - I/O objects belong to the request that created them, so the gateway gives each session its own
 *   timers (`requestScopedIo`).
 * - Hub routes (a channel, no upstream) are handed to the channel's Durable Object, which accepts
 *   the socket itself (channel-object.ts): a Worker cannot hold a subscription.
 */
import { UpstreamDialError, type AcceptContext, type RuntimeAdapter, type UpstreamRequest, type Leg } from '../../core/leg.ts';
import { upgradeResponse, workerd, type WorkerdWebSocket } from './types.ts';
import { workerdLeg } from './ws-leg.ts';

export interface WorkerdAdapterOptions {
  /** Accept a hub-route connection elsewhere (the channel's Durable Object). */
  handoff?(request: Request, env: unknown, ctx: AcceptContext & { channel: string }, protocol: string | undefined): Promise<Response>;
}

export function createWorkerdAdapter(options: WorkerdAdapterOptions = {}): RuntimeAdapter {
  return {
    name: 'workerd',
    requestScopedIo: true,
    connectUpstream: dialUpstream,
    remoteAddress: (request) => request.headers.get('cf-connecting-ip') ?? undefined,
    accept(request, env, opts, onOpen) {
      const ctx = opts.context;
      if (options.handoff && ctx?.channel !== undefined && ctx.route.upstreams.length === 0)
        return options.handoff(request, env, { ...ctx, channel: ctx.channel }, opts.protocol);
      return acceptClient(opts.protocol, opts.maxPayload, onOpen);
    },
  };
}

/** Accept the client end of a fresh `WebSocketPair`; onOpen runs before the 101 is returned. */
export function acceptClient(protocol: string | undefined, maxPayload: number, onOpen: (client: Leg) => void): Response {
  const pair = new workerd.WebSocketPair();
  const client = pair[0];
  const server = pair[1];
  server.accept();
  onOpen(workerdLeg(server, { maxPayload, heartbeatFallback: 'app-keepalive', ...(protocol ? { protocol } : {}) }).leg);
  return upgradeResponse(client, protocol);
}

/** Dial an upstream; resolves once it answered 101, so failures become 502/504 before any upgrade. */
export async function dialUpstream(req: UpstreamRequest, signal?: AbortSignal): Promise<Leg> {
  const url = new URL(req.url);
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  const headers = new Headers(req.headers);
  headers.set('upgrade', 'websocket');
  if (req.protocols.length > 0) headers.set('sec-websocket-protocol', req.protocols.join(', '));
  // On workerd a fetch's signal stays bound to the WebSocket it returns: an AbortSignal.timeout
  // would kill the upstream leg `timeoutMs` after the dial. Our own controller is only armed
  // until fetch settles.
  const abort = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    abort.abort();
  }, req.timeoutMs);
  const forward = () => abort.abort();
  signal?.addEventListener('abort', forward, { once: true });
  let res: Response;
  try {
    res = await fetch(url.href, { headers, redirect: 'manual', signal: abort.signal });
  } catch (err) {
    if (timedOut) throw new UpstreamDialError('timeout', `no upstream handshake within ${req.timeoutMs} ms`);
    throw new UpstreamDialError('unavailable', (err as Error).message ?? String(err), undefined, { cause: err });
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', forward);
  }
  const ws = (res as Response & { webSocket?: WorkerdWebSocket | null }).webSocket;
  if (res.status !== 101 || !ws) {
    // Never read or relay the upstream's body.
    await res.body?.cancel().catch(() => {});
    throw new UpstreamDialError('rejected', `upstream answered HTTP ${res.status}`, res.status);
  }
  ws.accept();
  return workerdLeg(ws, { protocol: res.headers.get('sec-websocket-protocol') ?? '', maxPayload: req.maxPayload }).leg;
}
