/**
 * The Deno runtime adapter. Clients: `Deno.upgradeWebSocket(req, { idleTimeout })` with NO
 * `protocol` option, then `Sec-WebSocket-Protocol` set on the 101 to the upstream's choice:
 * Deno's own protocol check splits only on ", " and answers 500 to `a,b` (measured on Deno 2).
 * hono/deno is not used (it compares `Upgrade: websocket` case-sensitively);
 * the core's handshake checks run first, so Deno's loose checks (101 to version 12, 500 for a
 * missing key) are never reached.
 *
 * Heartbeats: Deno has no ping API. A client leg's dead-peer detection is Deno's `idleTimeout`
 * (measured on Deno 2.9: after idleTimeout/2 s without a received frame it pings; at
 * idleTimeout s without one it closes with 1001 "No response from ping frame."). It is derived
 * from the route heartbeat as ceil((intervalMs + timeoutMs) / 1 s): a silent peer is closed
 * within intervalMs + timeoutMs (rounded up to whole seconds), as on Node, and an idle one is
 * pinged every (intervalMs + timeoutMs) / 2, inside every preset's balancer idle limit. Upstream legs (WHATWG client sockets) have no ping at all:
 * a dead upstream is found by TCP/close events only (heartbeatFallback 'none').
 * Backpressure: no drain event and no pause; bufferedAmount is accurate and is polled
 * (core/whatwg-leg.ts), a client slower than its upstream is closed 4408 past maxBufferedBytes.
 */
import type { RuntimeAdapter } from '../../core/leg.ts';
import { dialWhatwg, whatwgLeg } from '../../core/whatwg-leg.ts';
import { processFacts } from '../process.ts';

declare const Deno: {
  upgradeWebSocket(req: Request, opts?: { protocol?: string; idleTimeout?: number }): { socket: WebSocket; response: Response };
};

/** What main.ts passes to app.fetch as `env`. */
export interface DenoEnv {
  remoteAddr?: { hostname: string };
}

/** Deno's idleTimeout (whole seconds) for a route heartbeat; 0 = off. */
export function idleTimeoutSec(hb: { intervalMs: number; timeoutMs: number } | false | undefined): number {
  if (!hb) return 0;
  return Math.max(1, Math.ceil((hb.intervalMs + hb.timeoutMs) / 1000));
}

export function createDenoAdapter(): RuntimeAdapter {
  return {
    name: 'deno',
    ...processFacts,
    // Deno's client only sends close codes 1000 and 3000–4999: the core maps the others.
    upstreamWhatwg: true,
    remoteAddress: (_req, env) => (env as DenoEnv | undefined)?.remoteAddr?.hostname,
    connectUpstream: (req, signal) =>
      dialWhatwg(
        req,
        signal,
        () => new WebSocket(req.url, { protocols: req.protocols, headers: req.headers } as unknown as string[]),
        () => ({ heartbeatFallback: 'none' }),
      ),
    accept(request, _env, opts, onOpen) {
      // 0 turns Deno's own 120 s default off for routes with `heartbeat: 'off'`.
      const idleTimeout = idleTimeoutSec(opts.context?.route.heartbeat);
      const { socket, response } = Deno.upgradeWebSocket(request, { idleTimeout });
      socket.binaryType = 'arraybuffer';
      const leg = whatwgLeg(socket, { maxPayload: opts.maxPayload, heartbeatFallback: 'runtime' });
      const protocol = opts.protocol ?? '';
      const client = Object.defineProperty(leg, 'protocol', { get: () => protocol });
      // Start the session on open, or on a close before open (the upstream is then closed too).
      let started = false;
      const start = () => {
        if (started) return;
        started = true;
        onOpen(client);
      };
      socket.addEventListener('open', start);
      socket.addEventListener('close', start);
      if (protocol) response.headers.set('sec-websocket-protocol', protocol);
      return response;
    },
  };
}
