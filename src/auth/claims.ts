/**
 * Claim checks jose does not make by default, with the gateway's error codes:
 * exp required and numeric, nbf/iat/max age, clock tolerance, iss/aud,
 * required claims (403).
 */
import type { JWTPayload } from 'jose';
import type { ResolvedAuth } from './config.ts';
import { authError } from './errors.ts';

const isNumericDate = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function hasRequired(claims: JWTPayload, name: string, want: string | number | boolean): boolean {
  const have = claims[name];
  if (have === undefined || have === null) return false;
  if (want === true) return have !== false; // `true`: present (and not literally false)
  if (Array.isArray(have)) return have.includes(want);
  // OAuth `scope` is a space-separated string (RFC 8693 §4.2).
  if ((name === 'scope' || name === 'scp') && typeof have === 'string' && typeof want === 'string') {
    return have.split(/\s+/).includes(want);
  }
  return have === want;
}

/**
 * Validate the payload of a token whose signature has been verified.
 * @returns the expiry in ms (undefined when the token has none and the route allows that)
 */
export function checkClaims(claims: JWTPayload, auth: ResolvedAuth, nowMs: number): number | undefined {
  const now = nowMs / 1000;
  const tol = auth.clockToleranceSec;

  for (const name of ['exp', 'nbf', 'iat'] as const) {
    if (claims[name] !== undefined && !isNumericDate(claims[name])) {
      throw authError('token_claim_invalid', `"${name}" claim must be a number`);
    }
  }
  const { exp, nbf, iat } = claims;
  if (exp === undefined && !auth.allowMissingExp) throw authError('token_claim_invalid', '"exp" claim is required');
  if (exp !== undefined && exp <= now - tol) throw authError('token_expired');
  if (nbf !== undefined && nbf > now + tol) throw authError('token_not_yet_valid');
  if (iat !== undefined && iat > now + tol) throw authError('token_not_yet_valid', '"iat" claim is in the future');
  if (auth.maxTokenAgeSec !== undefined) {
    if (iat === undefined) throw authError('token_claim_invalid', '"iat" claim is required on this route');
    if (now - iat > auth.maxTokenAgeSec + tol) throw authError('token_expired', 'Token is older than the route allows');
  }

  if (auth.issuer && (typeof claims.iss !== 'string' || !auth.issuer.includes(claims.iss))) {
    throw authError('token_claim_invalid', '"iss" claim is not accepted');
  }
  if (auth.audience) {
    const aud = claims.aud;
    const auds = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a) => typeof a === 'string') : [];
    if (!auds.some((a) => auth.audience!.includes(a))) throw authError('token_claim_invalid', '"aud" claim is not accepted');
  }

  for (const [name, want] of Object.entries(auth.requiredClaims ?? {})) {
    if (!hasRequired(claims, name, want)) throw authError('token_forbidden', `Required claim "${name}" is missing or does not match`);
  }
  return exp === undefined ? undefined : exp * 1000;
}
