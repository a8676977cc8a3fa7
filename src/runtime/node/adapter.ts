/**
 * The Node runtime adapter: `ws` for both legs. Upstream dials use the `ws` client (works on
 * Node 20, sends custom headers, accepts 1001/1011 as client close codes). Clients are accepted
 * with a noServer `WebSocketServer` per distinct `maxPayload`, so each route's message limit is
 * enforced by ws before a payload is buffered (RELIABILITY D1). permessage-deflate is off on
 * both legs (RUNTIME-NOTES "Outbound").
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { HmacVerifierFactory } from '../../auth/verify.ts';
import { UpstreamDialError, type Leg, type RuntimeAdapter, type UpstreamRequest } from '../../core/leg.ts';
import { nodeHmacVerifier } from './hmac.ts';
import { wsLeg } from './ws-leg.ts';

/** What the Node upgrade listener passes to the Hono app as `env`. */
export interface NodeUpgradeEnv {
  incoming: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  /** Aborted when the client's TCP connection closes before the upgrade completes. */
  signal: AbortSignal;
  remoteAddress: string | undefined;
  accepted?: boolean;
}

const CHOSEN = Symbol('wsgate.protocol');

export function createNodeAdapter(): RuntimeAdapter & { dispose(): void; hmacVerifier: HmacVerifierFactory } {
  const servers = new Map<number, WebSocketServer>();
  const serverFor = (maxPayload: number): WebSocketServer => {
    let wss = servers.get(maxPayload);
    if (!wss) {
      wss = new WebSocketServer({
        noServer: true,
        maxPayload,
        perMessageDeflate: false,
        clientTracking: false,
        // Return exactly the subprotocol the upstream chose (ws would pick the first offered).
        handleProtocols: (_offered, req) => (req as unknown as Record<symbol, string | undefined>)[CHOSEN] || false,
      });
      servers.set(maxPayload, wss);
    }
    return wss;
  };

  return {
    name: 'node',
    hmacVerifier: nodeHmacVerifier,
    connectUpstream: (req, signal) => dialUpstream(req, signal),
    remoteAddress: (_req, env) => (env as Partial<NodeUpgradeEnv> | undefined)?.remoteAddress,
    accept(_request, env, opts, onOpen) {
      const e = env as NodeUpgradeEnv;
      if (e.signal.aborted || e.socket.destroyed || !e.socket.writable) throw new Error('client went away during the handshake');
      (e.incoming as unknown as Record<symbol, string | undefined>)[CHOSEN] = opts.protocol;
      return new Promise<Response>((resolve, reject) => {
        const onGone = () => reject(new Error('client went away during the handshake'));
        e.signal.addEventListener('abort', onGone, { once: true });
        serverFor(opts.maxPayload).handleUpgrade(e.incoming, e.socket, e.head, (ws) => {
          e.signal.removeEventListener('abort', onGone);
          e.accepted = true;
          onOpen(wsLeg(ws));
          resolve(new Response(null, { status: 200, headers: { 'x-wsgate-accepted': '1' } }));
        });
      });
    },
    dispose() {
      for (const wss of servers.values()) wss.close();
      servers.clear();
    },
  };
}

/** Dial an upstream; resolves once its handshake completed, so failures become 502/504. */
export function dialUpstream(req: UpstreamRequest, signal?: AbortSignal): Promise<Leg> {
  return new Promise((resolve, reject) => {
    let settled = false;
    // Offered subprotocols go in a plain header and the answer is checked here: the ws client
    // refuses a 101 without a subprotocol when some were offered, which RFC 6455 §4.1 allows.
    const headers = req.protocols.length ? { ...req.headers, 'sec-websocket-protocol': req.protocols.join(', ') } : req.headers;
    const chosen = { value: '' };
    let badProtocol: string | undefined;
    const ws = new WebSocket(req.url, [], {
      headers,
      perMessageDeflate: false,
      maxPayload: req.maxPayload,
      followRedirects: false,
      handshakeTimeout: req.timeoutMs + 1000,
    });
    ws.once('upgrade', (res) => {
      const p = res.headers['sec-websocket-protocol'];
      if (p === undefined) return;
      delete res.headers['sec-websocket-protocol'];
      if (req.protocols.includes(p)) chosen.value = p;
      else {
        badProtocol = p;
        ws.terminate();
      }
    });
    // Build the leg now so messages sent by the upstream right after its 101 are buffered.
    const leg = wsLeg(ws, chosen);
    const fail = (err: UpstreamDialError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      ws.terminate();
      reject(err);
    };
    const onAbort = () => fail(new UpstreamDialError('unavailable', 'client went away'));
    const timer = setTimeout(() => fail(new UpstreamDialError('timeout', `no upstream handshake within ${req.timeoutMs} ms`)), req.timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    ws.once('open', () => {
      if (settled) return ws.terminate();
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(leg);
    });
    ws.once('unexpected-response', (request, response) => {
      // Never read or relay the upstream's body (F3): drop it and map the status.
      response.resume();
      request.destroy();
      fail(new UpstreamDialError('rejected', `upstream answered HTTP ${response.statusCode}`, response.statusCode));
    });
    const closedEarly = (why: string) =>
      fail(badProtocol !== undefined ? new UpstreamDialError('rejected', 'upstream chose a subprotocol that was not offered', 101) : new UpstreamDialError('unavailable', why));
    const onError = (err: Error) => closedEarly(err.message);
    const onClose = () => closedEarly('upstream closed during the handshake');
    ws.on('error', onError);
    ws.once('close', onClose);
    // After the handshake nothing of the dial may stay referenced by the socket's listeners:
    // they would keep this scope (request, headers, timer) alive for the connection's life.
    ws.once('open', () => {
      ws.off('error', onError);
      ws.off('close', onClose);
      ws.removeAllListeners('unexpected-response');
      ws.removeAllListeners('upgrade');
    });
  });
}
