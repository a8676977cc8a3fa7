/**
 * A "leg" is one side of a relayed connection (the client, or the upstream), seen through the
 * only interface the core uses. Each runtime adapter (src/runtime/*) wraps its native socket in
 * a Leg; the core never touches a native socket, so it runs unchanged on every runtime.
 */
import type { HmacVerifierFactory } from '../auth/verify.ts';
import { GatewayError } from '../errors.ts';
import type { ResolvedRoute } from '../routing/schema.ts';

export type Payload = string | Uint8Array;

/**
 * One message for many legs (a channel broadcast). A runtime that can frame it once (Node: the
 * WebSocket frame bytes) caches the result in `wire` and writes the same bytes to every socket.
 */
export interface SharedFrame {
  readonly data: Uint8Array;
  readonly isBinary: boolean;
  wire?: unknown;
  /** A text frame's payload as a string, decoded once for runtimes whose send takes strings. */
  text?: string;
}

const sharedDecoder = new TextDecoder();
/** The payload to hand to a string-or-bytes `send`: text decoded once for all members. */
export function sharedPayload(f: SharedFrame): Payload {
  return f.isBinary ? f.data : (f.text ??= sharedDecoder.decode(f.data));
}

export interface LegHandlers {
  /** A whole message (fragments already joined by the runtime). */
  message(data: Payload, isBinary: boolean): void;
  /** The socket is closed (code 1005 = no status, 1006 = abnormal, as received). */
  close(code: number, reason: string): void;
  /** A pong arrived (only on legs whose `canPing` is true). */
  pong(): void;
  /** The send buffer fell below the low-water mark after being above it. */
  drain(): void;
  /**
   * Frame-relaying legs (see `Leg.pair`) forward data frames to their paired leg themselves and
   * report each one here first: `bytes` of payload, `first` when it starts a message. False
   * drops the frame (the session is failing, e.g. over the rate limit).
   */
  frame?(bytes: number, first: boolean): boolean;
  /** A frame-relaying leg wrote to its paired leg: check that leg's send buffer (flow control). */
  relayed?(): void;
}

export interface Leg {
  /** Negotiated subprotocol ('' for none). */
  readonly protocol: string;
  /** Bytes queued but not yet written to the network (0 when the runtime cannot tell). */
  readonly bufferedAmount: number;
  /** Whether protocol pings and pong observation are available on this leg. */
  readonly canPing: boolean;
  /**
   * Dead-peer detection when `canPing` is false (README "Heartbeats" per runtime):
   * - 'runtime': the runtime pings and closes a silent peer itself (Deno's `idleTimeout`,
   *   close 1001); the core only watches traffic;
   * - 'app-keepalive': the core sends the route's `keepaliveMessage` (default
   *   APP_KEEPALIVE_MESSAGE) as its ping and any inbound message counts as the answer; the
   *   client must reply (workerd client legs);
   * - 'none' (default): only TCP/close events end the leg (WHATWG client sockets upstream).
   */
  readonly heartbeatFallback?: 'runtime' | 'app-keepalive' | 'none';
  /**
   * Attach handlers. Messages and a close that arrived before this call are delivered at once,
   * in order: nothing received between the handshake and the session start is lost.
   */
  listen(handlers: LegHandlers): void;
  send(data: Payload, isBinary: boolean): void;
  /** Send a broadcast frame (optional: legs without it get `send(f.data, f.isBinary)`). */
  sendShared?(f: SharedFrame): void;
  /** Send a close frame. The caller has already checked the code is sendable. */
  close(code: number, reason: string): void;
  /** Drop the connection without a close handshake. */
  terminate(): void;
  ping(): void;
  /** Stop reading from the network (TCP backpressure towards the peer). */
  pause(): void;
  resume(): void;
  /**
   * Relay frames as bytes between this (client) leg and `upstream` instead of messages through
   * the session; false when the two legs cannot (then `message` events flow as usual).
   */
  pair?(upstream: Leg): boolean;
}

/** What the gateway asks a runtime adapter to dial. */
export interface UpstreamRequest {
  url: string;
  protocols: string[];
  headers: Record<string, string>;
  timeoutMs: number;
  maxPayload: number;
}

/**
 * A failed upstream dial, with the code the handshake answers with: `upstream_unavailable`
 * (refused, unreachable: 502), `upstream_rejected` (the upstream answered without a 101: 502) or
 * `upstream_timeout` (504); `overloaded` (503, Retry-After) when this process is out of file
 * descriptors. `kind` is the code without its prefix (`exhausted` for overloaded), the metrics label.
 */
export class UpstreamDialError extends GatewayError {
  override readonly code: 'upstream_unavailable' | 'upstream_rejected' | 'upstream_timeout' | 'overloaded';
  constructor(
    /** `exhausted`: this process is out of file descriptors (EMFILE/ENFILE), not the upstream's fault. */
    readonly kind: 'unavailable' | 'rejected' | 'timeout' | 'exhausted',
    message: string,
    readonly upstreamStatus?: number,
    options?: { cause?: unknown },
  ) {
    const code = kind === 'exhausted' ? 'overloaded' : (`upstream_${kind}` as const);
    super(code, message, kind === 'exhausted' ? { 'retry-after': '5' } : {}, options);
    this.code = code;
    this.name = 'UpstreamDialError';
  }
}

/**
 * Who is being accepted, for runtimes that accept some connections elsewhere (workerd hands hub
 * routes to the channel's Durable Object). Plain adapters ignore it.
 */
export interface AcceptContext {
  id: string;
  route: ResolvedRoute;
  channel?: string;
  /** History routes: where the client resumes (`?since=&epoch=`). */
  recover?: { since: number; epoch?: string };
  userId?: string;
  expiresAtMs?: number;
  expiryGraceMs: number;
}

const upgraded = new WeakSet<Response>();

/**
 * The answer of an `accept` whose runtime wrote the 101 on its own socket (Node, Bun): it passes
 * through Hono like any Response, and the server that called the app sends nothing for it.
 */
export function upgradedResponse(): Response {
  const res = new Response(null, { status: 204 });
  upgraded.add(res);
  return res;
}

/** Whether `res` came from `upgradedResponse()`: the connection is already a WebSocket. */
export const wasUpgraded = (res: Response): boolean => upgraded.has(res);

/**
 * What a runtime provides. `accept` completes the client handshake after every check passed and
 * the upstream is connected; it returns the Response the runtime expects from the fetch handler.
 */
export interface RuntimeAdapter {
  readonly name: string;
  /** Dial the upstream; `signal` aborts the dial when the client goes away. */
  connectUpstream(req: UpstreamRequest, signal?: AbortSignal): Promise<Leg>;
  /** Whether upstream legs only send WHATWG client close codes (1000, 3000–4999). */
  readonly upstreamWhatwg?: boolean;
  /**
   * I/O objects belong to the request that created them (workerd: "Cannot perform I/O on behalf
   * of a different request"), so timers that touch a connection must be created by its own
   * request: the gateway then gives each session its own heartbeat scheduler.
   */
  readonly requestScopedIo?: boolean;
  /** Aborted when the client's connection closes before its handshake completed (Node). */
  handshakeSignal?(request: Request, env: unknown): AbortSignal | undefined;
  /** The peer address of the client connection, when the runtime knows it. */
  remoteAddress?(request: Request, env: unknown): string | undefined;
  /**
   * A synchronous HMAC check for HS* tokens (Node: node:crypto, a few µs instead of a WebCrypto
   * thread-pool job); the verifiers use jose/WebCrypto when absent.
   */
  readonly hmacVerifier?: HmacVerifierFactory;
  /** The process environment (JWT_*, WSGATE_*), used when `options.env` is not given. */
  env?(): Record<string, string | undefined>;
  /** Heap in use and resident set size for `/metrics`, where the runtime reports them. */
  memoryUsage?(): { heapUsed: number; rss: number };
  /** Where log lines go when `options.log` is a level. @default console.log */
  readonly writeLog?: (line: string) => void;
  accept(
    request: Request,
    env: unknown,
    opts: { protocol?: string; maxPayload: number; context?: AcceptContext },
    onOpen: (client: Leg) => void,
  ): Response | Promise<Response>;
}
