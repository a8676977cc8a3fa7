/**
 * The shape of a route file. `defineRoute` only adds types: a plain object as the default export
 * of a route file works the same.
 *
 * @example
 * // routes/chat.ts
 * import { defineRoute } from 'wsgate';
 * export default defineRoute({
 *   path: '/chat/:room',
 *   upstream: 'ws://chat-service:9000/rooms/:room',
 *   heartbeat: 'aws-alb',
 * });
 */

export type HeartbeatPreset = 'aws-alb' | 'alibaba-clb' | 'alibaba-alb' | 'nginx' | 'default' | 'off';

export interface HeartbeatConfig {
  /** Protocol ping interval on both legs. @default 25000 */
  intervalMs?: number;
  /** A peer whose pong has not arrived this long after a ping is closed. @default 10000 */
  timeoutMs?: number;
  /**
   * Also send a data frame to the client every interval, for balancers that count only data
   * frames as activity. The string is sent as a text message. @default undefined (off)
   */
  keepaliveMessage?: string;
}

export interface AuthConfig {
  /** HMAC secret (HS256/384/512). @default env JWT_SECRET */
  secret?: string;
  /** PEM (SPKI) or JWK (JSON) public key. @default env JWT_PUBLIC_KEY */
  publicKey?: string;
  /** JWKS URL. @default env JWT_JWKS_URL */
  jwksUrl?: string;
  /** Required `iss`. @default env JWT_ISSUER */
  issuer?: string | string[];
  /** Required `aud` (one of). @default env JWT_AUDIENCE */
  audience?: string | string[];
  /** Allowed algorithms; must match the key type. @default all algorithms of the key type */
  algorithms?: string[];
  /** Clock tolerance for exp/nbf/iat, seconds. @default 30 */
  clockToleranceSec?: number;
  /** Reject tokens older than this (by `iat`), seconds. @default undefined (no limit) */
  maxTokenAgeSec?: number;
  /** Accept tokens without `exp`. @default false */
  allowMissingExp?: boolean;
  /**
   * Claims that must be present; with a value, the claim must equal it (or contain it when the
   * claim is an array, e.g. scopes). A failure is 403.
   */
  requiredClaims?: Record<string, string | number | boolean | true>;
  /** Where the token may come from. @default ['query', 'header', 'protocol'] */
  tokenFrom?: Array<'query' | 'header' | 'protocol'>;
  /** Query parameter name. @default 'token' */
  queryParam?: string;
  /** Close a live connection this long after `exp`, seconds. @default 0 */
  expiryGraceSec?: number;
  /** Largest token accepted, bytes, checked before any parsing. @default 8192 */
  maxTokenBytes?: number;
  /** JWKS cache tuning: refetch cooldown for unknown kids (30 s), max age (10 min), stale-if-error window (1 h), fetch timeout (5 s). */
  jwks?: { cooldownMs?: number; maxAgeMs?: number; staleIfErrorMs?: number; timeoutMs?: number };
}

export interface RouteConfig {
  /** Hono path syntax, e.g. `/chat/:room`. */
  path: string;
  /**
   * `ws://` / `wss://` URL template; `:param` segments are filled from the path params.
   * A list means several targets: picked by `balance`, with failover when a connect fails.
   * Omit it (with a `channel`) for a hub route with no backend.
   */
  upstream?: string | string[];
  /** How to pick among several upstreams. @default 'round-robin' */
  balance?: 'round-robin' | 'sticky';
  /** Per-target upstream handshake timeout. @default 5000 */
  connectTimeoutMs?: number;
  /** `false` makes the route public; an object overrides the gateway-wide settings. @default {} */
  auth?: false | AuthConfig;
  /**
   * Allowed `Origin` values (exact, or `*.example.com` for subdomains). Requests without an
   * Origin header (native clients) are allowed unless `allowMissingOrigin` is false.
   * @default undefined (any origin)
   */
  origins?: string[];
  /** @default true */
  allowMissingOrigin?: boolean;
  /** A preset name or explicit timings. @default 'default' (25 s / 10 s) */
  heartbeat?: HeartbeatPreset | HeartbeatConfig;
  /** Largest message accepted from either side. @default 1048576 (1 MiB) */
  maxMessageBytes?: number;
  /** Per-connection send buffer cap before the connection is closed with 4408. @default 4 * maxMessageBytes, at least 8 MiB */
  maxBufferedBytes?: number;
  /**
   * A peer over the high-water mark whose send buffer makes no progress for this long is given
   * up (nginx `send_timeout`): a client with 4408, an upstream with 1014 to the client. `false`
   * turns it off (then only `maxBufferedBytes` and heartbeats bound a reader that stopped).
   * @default 60000
   */
  sendTimeoutMs?: number | false;
  /** Close connections older than this with 4410 (reconnect). @default undefined (no limit) */
  maxConnectionAgeMs?: number;
  /** Verified claims sent upstream as headers: `{ sub: 'X-User-Id' }`. @default { sub: 'X-User-Id' } */
  claimHeaders?: Record<string, string>;
  /** Forward the client's Authorization header / token upstream. @default false */
  forwardToken?: boolean;
  /**
   * Which of the client's query parameters are appended to the upstream URL: `'all'`, `'none'`
   * or a list of names. Whatever this says, the token parameter is never forwarded, and a
   * parameter the upstream template fixes (`?role=viewer`) is never repeated or overridden.
   * @default 'all'
   */
  forwardQuery?: 'all' | 'none' | string[];
  /** Channel template over params and claims, e.g. `room:{room}` or `user:{claims.sub}`. */
  channel?: string;
  /** Track presence in the channel. @default true when `channel` is set */
  presence?: boolean;
  /** Deliver join/leave events to clients. @default true on hub routes, false on relay routes */
  presenceEvents?: boolean;
  /** On hub routes, echo a client's own messages back to it. @default false */
  echo?: boolean;
  /**
   * Keep the channel's last `size` messages for `ttlSec` after its last publish: messages carry
   * an `offset` and `epoch`, and a client that reconnects with `?since=<offset>&epoch=<epoch>`
   * gets what it missed, then live messages. @default undefined (no history)
   */
  history?: { size: number; ttlSec: number };
  /** Max messages per second from one client (token bucket, burst = 2x). @default undefined */
  maxMessagesPerSec?: number;
  /** Max concurrent connections per token subject on this route. @default undefined */
  maxConnectionsPerUser?: number;
}

/** Adds types to a route object; returns it unchanged. */
export function defineRoute<const T extends RouteConfig>(route: T): T {
  return route;
}
