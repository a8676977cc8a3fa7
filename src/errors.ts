/**
 * Every failure the gateway reports carries a stable `code`. One table maps each code to the HTTP
 * status it gets before the upgrade and the WebSocket close code it gets after it, so callers
 * branch on `code`, never on message text.
 *
 * Close-code ranges follow Centrifugo's habit: 4000–4499 mean "you may reconnect",
 * 4500–4999 mean "do not reconnect without changing something". The gateway's own codes sit in
 * 4400–4499 and 4900–4999 so that they rarely collide with codes an upstream service uses
 * (those are relayed unchanged).
 */

export interface ErrorSpec {
  /** HTTP status before the upgrade. */
  status: number;
  /** Close code after the upgrade (undefined: never happens after the upgrade). */
  close?: number;
  /** Short default message. */
  message: string;
}

export const ERROR_TABLE = {
  // Handshake shape
  bad_handshake: { status: 400, message: 'Malformed WebSocket handshake' },
  unsupported_version: { status: 426, message: 'Only Sec-WebSocket-Version 13 is supported' },
  upgrade_required: { status: 426, message: 'This path serves WebSockets: connect with a WebSocket client' },
  method_not_allowed: { status: 405, message: 'WebSocket handshakes must use GET' },
  uri_too_long: { status: 414, message: 'Request URI too long' },
  headers_too_large: { status: 431, message: 'Request headers too large' },
  not_found: { status: 404, message: 'No route matches this path' },
  origin_not_allowed: { status: 403, message: 'Origin not allowed' },
  // Auth
  token_missing: { status: 401, message: 'A token is required' },
  token_ambiguous: { status: 400, message: 'Token given in more than one place' },
  token_malformed: { status: 401, message: 'Token is malformed' },
  token_too_large: { status: 401, message: 'Token is too large' },
  token_invalid: { status: 401, message: 'Token signature or algorithm is not valid' },
  token_expired: { status: 401, close: 4401, message: 'Token has expired' },
  token_not_yet_valid: { status: 401, message: 'Token is not valid yet' },
  token_claim_invalid: { status: 401, message: 'Token claim check failed' },
  token_forbidden: { status: 403, message: 'Token is valid but not allowed on this route' },
  claim_unsendable: { status: 400, message: 'A claim cannot be sent to the upstream as a header' },
  jwks_unavailable: { status: 503, message: 'Signing keys are unavailable' },
  // Capacity and shutdown
  too_many_connections: { status: 429, close: 4429, message: 'Too many connections' },
  rate_limited: { status: 429, close: 4429, message: 'Message rate limit exceeded' },
  overloaded: { status: 503, message: 'Gateway is at capacity' },
  draining: { status: 503, close: 1001, message: 'Gateway is shutting down' },
  // Upstream
  upstream_unavailable: { status: 502, close: 1014, message: 'Upstream refused or is unreachable' },
  upstream_rejected: { status: 502, message: 'Upstream rejected the handshake' },
  upstream_timeout: { status: 504, close: 1014, message: 'Upstream did not answer in time' },
  upstream_gone: { status: 502, close: 1014, message: 'Upstream connection was lost' },
  // After the upgrade only
  message_too_big: { status: 413, close: 1009, message: 'Message exceeds the route limit' },
  slow_consumer: { status: 503, close: 4408, message: 'Client is not reading fast enough' },
  heartbeat_timeout: { status: 408, close: 4409, message: 'No pong within the heartbeat timeout' },
  max_age: { status: 503, close: 4410, message: 'Connection reached its maximum age' },
  kicked: { status: 403, close: 4903, message: 'Connection closed by an administrator' },
  store_unavailable: { status: 503, message: 'The channel store is unavailable' },
  admin_unauthorized: { status: 401, message: 'Admin credential required' },
  body_too_large: { status: 413, message: 'Request body too large' },
  bad_request: { status: 400, message: 'Bad request' },
  internal: { status: 500, close: 1011, message: 'Internal gateway error' },
  // Start-up: a route file, auth setting, option or store URL that is not valid (ConfigError).
  config_invalid: { status: 500, message: 'Invalid gateway configuration' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_TABLE;

/**
 * An error with a stable `code` (see ERROR_TABLE). Branch on `code`, never on `message`; the
 * error that led to it, if any, is kept as `cause`.
 *
 * @example
 * if (err instanceof GatewayError && err.code === 'upstream_timeout') retryLater();
 */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra response headers (e.g. WWW-Authenticate, Retry-After). */
  readonly headers: Record<string, string>;
  constructor(code: ErrorCode, message?: string, headers: Record<string, string> = {}, options?: { cause?: unknown }) {
    super(message ?? ERROR_TABLE[code].message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.status = ERROR_TABLE[code].status;
    this.headers = headers;
  }
}

/** The close code an error maps to after the upgrade (1011 when it has none). */
export function closeCodeOf(code: ErrorCode): number {
  const spec: ErrorSpec = ERROR_TABLE[code];
  return spec.close ?? 1011;
}

/** Build the JSON response for an error before the upgrade. */
export function errorResponse(err: GatewayError, extraHeaders: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ error: err.code, message: err.message }), {
    status: err.status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...err.headers, ...extraHeaders },
  });
}

/** Anything thrown becomes a GatewayError; unknown errors become `internal`, with the original as `cause`. */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  return new GatewayError('internal', undefined, {}, { cause: err });
}

export interface ConfigProblem {
  /** Where the setting came from: a route file, `options`, `--routes DIR`, a store URL... */
  source: string;
  /** The field path inside it, e.g. `heartbeat.intervalMs` or `auth.jwksUrl`. */
  field: string;
  /** What a valid value looks like (or why the given one is refused). */
  expected: string;
  /** The value given, shown shortened in the message. */
  got?: unknown;
  /** The error that revealed the problem (a failed import, an unreadable folder). */
  cause?: unknown;
}

/**
 * A start-up failure (code `config_invalid`): `wsgate start`, `wsgate routes` and `createGateway`
 * refuse a bad route file, auth setting, option or store URL before serving anything, naming the
 * source, the field and what was expected.
 */
export class ConfigError extends GatewayError {
  readonly source: string;
  readonly field: string;
  readonly expected: string;
  /** @param message the full text, when `source: field: expected …, got …` does not read well */
  constructor(problem: ConfigProblem, message?: string) {
    const got = problem.got === undefined ? '' : `, got ${JSON.stringify(problem.got)?.slice(0, 80)}`;
    super('config_invalid', message ?? `${problem.source}: ${problem.field}: expected ${problem.expected}${got}`, {}, { cause: problem.cause });
    this.name = 'ConfigError';
    this.source = problem.source;
    this.field = problem.field;
    this.expected = problem.expected;
  }
}
