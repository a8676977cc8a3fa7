/**
 * Auth failures as GatewayErrors carrying the RFC 6750 `WWW-Authenticate` challenge.
 * Messages never contain the token or claim values.
 */
import { ERROR_TABLE, GatewayError, type ErrorCode } from '../errors.ts';

export const REALM = 'wsgate';

const REQUEST_ERRORS: ReadonlySet<ErrorCode> = new Set(['token_malformed', 'token_too_large', 'token_ambiguous']);

/** The `WWW-Authenticate` (or `Retry-After`) headers an auth error carries. */
export function authHeaders(code: ErrorCode): Record<string, string> {
  // RFC 6750 §3.1: a request without credentials gets a challenge with no error code.
  if (code === 'token_missing') return { 'WWW-Authenticate': `Bearer realm="${REALM}"` };
  if (REQUEST_ERRORS.has(code)) return { 'WWW-Authenticate': `Bearer realm="${REALM}", error="invalid_request"` };
  if (code === 'jwks_unavailable') return { 'Retry-After': '5' };
  const status: number = ERROR_TABLE[code].status;
  if (status === 401) return { 'WWW-Authenticate': `Bearer realm="${REALM}", error="invalid_token"` };
  if (status === 403) return { 'WWW-Authenticate': `Bearer realm="${REALM}", error="insufficient_scope"` };
  return {};
}

export function authError(code: ErrorCode, message?: string): GatewayError {
  return new GatewayError(code, message, authHeaders(code));
}
