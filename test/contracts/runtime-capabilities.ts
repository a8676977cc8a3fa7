/**
 * What each runtime really can and cannot do, in ONE place. The runtime contract reads its
 * expectations from here (never `if (name === 'deno')` in a test), prints the row it runs with,
 * and the README's "Runtimes" table mirrors it. Change a row only with a measurement (run the
 * runtime's contract file, test/runtimes/<name>.test.ts, and read the row it prints).
 */

export type RuntimeKey = 'node20' | 'node24' | 'bun' | 'deno' | 'workerd';

export interface RuntimeCapabilities {
  /** How a dead or silent client is detected. */
  clientHeartbeat: 'protocol-ping' | 'runtime-idle-timeout' | 'app-keepalive';
  /**
   * Whether the gateway can send protocol pings on the upstream leg (else: TCP/close events only).
   * Without them the gateway also cannot keep an idle upstream leg open through an idle-timeout
   * proxy between it and the upstream (the upstream must ping or send traffic); the contract's
   * long-idle check puts its 60 s / 15 s proxies on the client leg only.
   */
  upstreamPing: boolean;
  /**
   * Upper bound (ms) from the last client activity to the gateway closing a client that stopped
   * answering, on the contract's heartbeat route (intervalMs 500, timeoutMs 500).
   * protocol-ping: interval + timeout + a tick; Deno's idleTimeout = ceil(interval + timeout)
   * in whole seconds (1 s here): a ping after 0.5 s idle, close 1001 at 1 s without a pong.
   */
  deadPeerBoundMs: number;
  /** Close code the client gets when the upstream's TCP connection drops. */
  upstreamDropCode: number;
  /** An unmasked client frame (RFC 6455 §5.1): closed with 1002, or accepted by the runtime. */
  unmaskedClientFrame: 'close-1002' | 'accepted';
  /**
   * Whether the gateway sees the client's own Sec-WebSocket-Key. On workerd the
   * front end (wrangler dev's proxy, Cloudflare's edge in production) completes the handshake and
   * hands the Worker a regenerated key, so a short key is upgraded and a missing one gets the
   * front end's plain-text 400.
   */
  validatesClientKey: boolean;
  /** Whether response headers such as `Upgrade: websocket` on a 426 reach the client (workerd strips `Upgrade`). */
  upgradeHeaderOn426: boolean;
  /**
   * A client that stops reading while the upstream floods: 'pause' = the
   * upstream leg is paused (TCP backpressure reaches the upstream) and everything is delivered
   * in order once the client reads again; 'close-4408' = the upstream leg cannot be paused
   * (WHATWG client sockets have no pause), so the client is closed with 4408 past maxBufferedBytes.
   */
  slowClient: 'pause' | 'close-4408';
  /** Whether an over-limit message is refused before it is buffered (else: after, still 1009). */
  perRouteMessageLimit: 'native' | 'in-leg';
  /**
   * Whether a client that sends a message and then a close gets the upstream's answer before the
   * close completes (the gateway holds its close reply until the upstream's close came through).
   * Only a relay that owns the framing can: Bun's, Deno's and workerd's servers answer a close at once.
   */
  losslessClose: boolean;
  notes: string;
}

/** Node 20 and 24 behave the same: the frame-aware relay on relay routes, ws on hub routes. */
const NODE: RuntimeCapabilities = {
  losslessClose: true,
  clientHeartbeat: 'protocol-ping',
  upstreamPing: true,
  deadPeerBoundMs: 2500,
  upstreamDropCode: 1014,
  unmaskedClientFrame: 'close-1002',
  slowClient: 'pause',
  perRouteMessageLimit: 'native',
  validatesClientKey: true,
  upgradeHeaderOn426: true,
  notes: 'relay routes: the frame-aware relay (frames forwarded as bytes over net/tls sockets); hub routes: ws',
};

export const RUNTIME_CAPABILITIES: Record<RuntimeKey, RuntimeCapabilities> = {
  node20: NODE,
  node24: NODE,
  bun: {
    losslessClose: false,
    clientHeartbeat: 'protocol-ping',
    upstreamPing: true,
    deadPeerBoundMs: 2500,
    upstreamDropCode: 1014,
    unmaskedClientFrame: 'close-1002',
    slowClient: 'pause',
    perRouteMessageLimit: 'in-leg',
    validatesClientKey: true,
    upgradeHeaderOn426: true,
    notes:
      "Bun.serve; maxPayloadLength is server-wide (the largest route's limit), smaller route limits are enforced in the leg (after the frame is read). Upstream: Bun's WebSocket (ping, pong event, pause); its bufferedAmount is always 0, so an upstream that stops reading is not bounded by maxBufferedBytes",
  },
  deno: {
    losslessClose: false,
    clientHeartbeat: 'runtime-idle-timeout',
    upstreamPing: false,
    deadPeerBoundMs: 2500,
    upstreamDropCode: 1014,
    unmaskedClientFrame: 'accepted',
    slowClient: 'close-4408',
    perRouteMessageLimit: 'in-leg',
    validatesClientKey: true,
    upgradeHeaderOn426: true,
    notes:
      "Deno.serve + upgradeWebSocket({ idleTimeout }); no ping API, no drain event (bufferedAmount is polled); TCP drop reported as code 0. Client leg kept alive through LB idle limits by Deno's idleTimeout pings (ceil(interval + timeout) s, ping at half). Upstream leg (WHATWG client, no ping): the gateway cannot keep it alive behind an idle-timeout proxy, nor detect a half-open upstream",
  },
  workerd: {
    losslessClose: false,
    clientHeartbeat: 'app-keepalive',
    upstreamPing: false,
    deadPeerBoundMs: 4000,
    upstreamDropCode: 1014,
    unmaskedClientFrame: 'accepted',
    slowClient: 'close-4408',
    perRouteMessageLimit: 'in-leg',
    validatesClientKey: false,
    upgradeHeaderOn426: false,
    notes:
      'WebSocketPair under wrangler dev; no ping API: the client must answer {"type":"ping"} app keepalives; no pause/resume (a slow client is closed 4408 at maxBufferedBytes); the front end completes the handshake (regenerated key) and relays unmasked client frames (measured under wrangler dev: the frame is echoed); Upgrade is stripped from 426 responses. Client leg kept alive through LB idle limits only if the client answers the keepalive (any message). Upstream leg (fetch() WebSocket, no ping): the gateway cannot keep it alive behind an idle-timeout proxy, nor detect a half-open upstream',
  },
};

/** The row as one printed block (the contract prints it so a run shows what it expected). */
export function describeCapabilities(name: RuntimeKey): string {
  const c = RUNTIME_CAPABILITIES[name];
  return [
    `[runtime contract] ${name}: expectations from test/contracts/runtime-capabilities.ts`,
    `  client heartbeat: ${c.clientHeartbeat} (dead peer closed within ${c.deadPeerBoundMs} ms on a 500/500 ms heartbeat)`,
    `  upstream ping: ${c.upstreamPing ? 'yes' : 'no (dead upstreams detected by TCP/close events only; an idle upstream leg behind an idle-timeout proxy is not kept alive by the gateway)'}`,
    `  upstream TCP drop -> client close ${c.upstreamDropCode}; unmasked client frame: ${c.unmaskedClientFrame}`,
    `  sees the client's Sec-WebSocket-Key: ${c.validatesClientKey ? 'yes' : 'no (front end)'}; Upgrade header on 426: ${c.upgradeHeaderOn426 ? 'yes' : 'stripped'}`,
    `  slow client under an upstream flood: ${c.slowClient}; per-route message limit: ${c.perRouteMessageLimit}; lossless close: ${c.losslessClose ? 'yes' : 'no'}`,
    `  ${c.notes}`,
  ].join('\n');
}
