/**
 * The Bun runtime adapter. Clients: `server.upgrade(req, { data, headers })` called by us, not
 * hono/bun, so the 101 carries the subprotocol the upstream chose — and, when it chose none, an
 * empty `Sec-WebSocket-Protocol` so Bun does not echo the first offered one (which may be a
 * `bearer.<jwt>` carrier). One `websocket` handler object serves every connection and dispatches
 * to the connection's leg in `ws.data`. Upstreams: Bun's global WebSocket, which takes headers
 * and has `ping`/`pause` (Bun extensions to the WHATWG client).
 *
 * Backpressure: `send()` returns -1 when queued (a `drain`
 * follows) and 0 when Bun dropped the message; a drop makes `bufferedAmount` report Infinity, so
 * the core closes the client as a slow consumer (4408) instead of losing data silently. The
 * server-wide `backpressureLimit` sits above every route's `maxBufferedBytes`, so the core's cap
 * is reached first; `closeOnBackpressureLimit` is the safety net.
 */
import { sharedPayload, upgradedResponse, type Leg, type RuntimeAdapter } from '../../core/leg.ts';
import { exceedsLimit, LegEvents, TOO_BIG } from '../../core/leg-events.ts';
import { dialWhatwg } from '../../core/whatwg-leg.ts';
import { processFacts } from '../process.ts';
import type { BunEnv, BunServerWebSocket, BunSocketData } from './types.ts';

export type { BunEnv, BunServer } from './types.ts';

const decoder = new TextDecoder();

function clientLeg(ws: BunServerWebSocket, d: BunSocketData, events: LegEvents): Leg {
  let dropped = false;
  return {
    protocol: d.protocol,
    get bufferedAmount() {
      return dropped ? Number.POSITIVE_INFINITY : ws.getBufferedAmount();
    },
    canPing: true,
    listen: (h) => events.listen(h),
    send(data, isBinary) {
      if (ws.readyState !== 1) return;
      const r = isBinary
        ? ws.sendBinary(typeof data === 'string' ? new TextEncoder().encode(data) : data, false)
        : ws.sendText(typeof data === 'string' ? data : decoder.decode(data), false);
      // 0 = Bun dropped it (an empty message also "writes" 0 bytes): the core then sees an
      // overflowing buffer and closes the client as a slow consumer (4408), never silently.
      if (r === 0 && (typeof data === 'string' ? data.length : data.byteLength) > 0) dropped = true;
    },
    sendShared(f) {
      // A broadcast: the text is decoded once for all members (sharedPayload), not per send.
      this.send(sharedPayload(f), f.isBinary);
    },
    close: (code, reason) => ws.readyState === 1 && ws.close(code, reason),
    terminate: () => ws.terminate(),
    ping: () => ws.readyState === 1 && ws.ping(),
    pause: () => ws.pause(),
    resume: () => ws.resume(),
  };
}

/** The `websocket` object for Bun.serve: every event goes to the connection's leg. */
export function bunWebSocketHandlers(o: { maxPayloadLength: number; backpressureLimit: number }) {
  return {
    maxPayloadLength: o.maxPayloadLength,
    backpressureLimit: o.backpressureLimit,
    closeOnBackpressureLimit: true,
    perMessageDeflate: false,
    idleTimeout: 0, // heartbeats are the core's job (Bun's default would close idle sockets after 120 s)
    sendPings: false,
    open: (ws: BunServerWebSocket) => ws.data.open(ws),
    message(ws: BunServerWebSocket, message: string | Uint8Array) {
      const d = ws.data;
      // maxPayloadLength is server-wide (the largest route's limit): smaller route limits here.
      if (exceedsLimit(message, d.maxPayload)) {
        ws.close(TOO_BIG.code, TOO_BIG.reason);
        return d.events?.close(TOO_BIG.code, TOO_BIG.reason);
      }
      d.events?.message(message, typeof message !== 'string');
    },
    close: (ws: BunServerWebSocket, code: number, reason: string) => ws.data.events?.close(code, reason),
    drain: (ws: BunServerWebSocket) => ws.data.events?.handlers?.drain(),
    pong: (ws: BunServerWebSocket) => ws.data.events?.handlers?.pong(),
  };
}

type BunClientSocket = WebSocket & { ping?(): void; pause?(): void; resume?(): void; terminate?(): void };

export function createBunAdapter(): RuntimeAdapter {
  return {
    name: 'bun',
    ...processFacts,
    remoteAddress: (req, env) => (env as BunEnv).server.requestIP(req)?.address,
    connectUpstream: (req, signal) =>
      dialWhatwg(
        req,
        signal,
        () => new WebSocket(req.url, { protocols: req.protocols, headers: req.headers } as unknown as string[]),
        (raw) => {
          const ws = raw as BunClientSocket;
          return {
            ...(typeof ws.ping === 'function' ? { ping: () => ws.ping!(), onPong: (fn: () => void) => ws.addEventListener('pong' as 'message', fn) } : {}),
            ...(typeof ws.pause === 'function' ? { pause: () => ws.pause!(), resume: () => ws.resume!() } : {}),
            ...(typeof ws.terminate === 'function' ? { terminate: () => ws.terminate!() } : {}),
          };
        },
      ),
    accept(request, env, opts, onOpen) {
      const e = env as BunEnv;
      const data: BunSocketData = {
        maxPayload: opts.maxPayload,
        protocol: opts.protocol ?? '',
        open(ws) {
          data.events = new LegEvents();
          onOpen(clientLeg(ws, data, data.events));
        },
      };
      // An empty value makes Bun send no Sec-WebSocket-Protocol at all (never an offered carrier).
      if (!e.server.upgrade(request, { data, headers: { 'Sec-WebSocket-Protocol': opts.protocol ?? '' } }))
        throw new Error('client went away during the handshake');
      return upgradedResponse();
    },
  };
}
