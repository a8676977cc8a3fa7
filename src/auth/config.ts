/**
 * Merge the gateway-wide JWT settings (env) with a route's `auth` and validate the result at
 * start-up: a bad configuration throws a plain Error naming the route file and the field, before
 * any client connects.
 */
import { ConfigError } from '../errors.ts';
import type { AuthConfig } from '../routing/define-route.ts';
import { ALL_ALGS, ASYMMETRIC_ALGS, HMAC_ALGS, HMAC_MIN_BYTES, algsForKeyType, parsePublicKey, type ParsedPublicKey } from './keys.ts';
import type { TokenSource } from './token.ts';

/** JWKS cache tuning (all optional; see jwks.ts for defaults). */
export interface JwksTuning {
  cooldownMs?: number;
  maxAgeMs?: number;
  staleIfErrorMs?: number;
  timeoutMs?: number;
}

/** Fields accepted on top of AuthConfig (not yet in define-route.ts). */
export interface AuthExtras {
  /** Largest token accepted, in bytes, checked before any parsing. @default 8192 */
  maxTokenBytes?: number;
  /** JWKS cache tuning. */
  jwks?: JwksTuning;
}

export type KeySource =
  | { kind: 'secret'; secret: Uint8Array }
  | { kind: 'publicKey'; key: ParsedPublicKey; text: string }
  | { kind: 'jwks'; url: string };

export interface ResolvedAuth {
  /** The route file (or other place) this came from, for messages. */
  where: string;
  key: KeySource;
  algorithms: string[];
  issuer?: string[];
  audience?: string[];
  clockToleranceSec: number;
  maxTokenAgeSec?: number;
  allowMissingExp: boolean;
  requiredClaims?: Record<string, string | number | boolean | true>;
  tokenFrom: TokenSource[];
  queryParam: string;
  maxTokenBytes: number;
  expiryGraceSec: number;
  jwks: JwksTuning;
}

export type AuthEnv = Record<string, string | undefined>;

const SOURCES: readonly TokenSource[] = ['query', 'header', 'protocol'];

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v;
}

function list(v: string | string[] | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  const items = (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter(Boolean);
  return items.length ? items : undefined;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * The effective auth settings of a route, or `false` for a public route.
 * @param route the route's `auth` (`false`: public; `undefined`: gateway defaults)
 * @param env   JWT_SECRET, JWT_PUBLIC_KEY, JWT_JWKS_URL, JWT_ISSUER, JWT_AUDIENCE
 * @param where the route file, named in every error
 */
export function resolveAuth(route: (AuthConfig & AuthExtras) | false | undefined, env: AuthEnv, where: string): ResolvedAuth | false {
  if (route === false) return false;
  const r: AuthConfig & AuthExtras = route ?? {};
  const fail = (field: string, why: string, cause?: unknown): never => {
    throw new ConfigError({ source: where, field: `auth.${field}`, expected: why, cause }, `${where}: auth.${field}: ${why}`);
  };

  // Key source: the route's own key settings replace the gateway-wide ones as a whole.
  const routeKeys = { secret: nonEmpty(r.secret), publicKey: nonEmpty(r.publicKey), jwksUrl: nonEmpty(r.jwksUrl) };
  const envKeys = { secret: nonEmpty(env.JWT_SECRET), publicKey: nonEmpty(env.JWT_PUBLIC_KEY), jwksUrl: nonEmpty(env.JWT_JWKS_URL) };
  const useRoute = Object.values(routeKeys).some((v) => v !== undefined);
  const keys = useRoute ? routeKeys : envKeys;
  const names = useRoute ? { secret: 'secret', publicKey: 'publicKey', jwksUrl: 'jwksUrl' } : { secret: 'secret (JWT_SECRET)', publicKey: 'publicKey (JWT_PUBLIC_KEY)', jwksUrl: 'jwksUrl (JWT_JWKS_URL)' };
  const given = (Object.keys(keys) as Array<keyof typeof keys>).filter((k) => keys[k] !== undefined);
  if (given.length === 0) {
    fail('secret', 'no key configured: set secret, publicKey or jwksUrl (or JWT_SECRET, JWT_PUBLIC_KEY, JWT_JWKS_URL), or make the route public with auth: false');
  }
  if (given.length > 1) fail(names[given[0]!], `only one key source may be set, got ${given.map((k) => names[k]).join(' and ')}`);

  let key: KeySource;
  let allowedForKey: string[];
  if (keys.secret !== undefined) {
    const secret = new TextEncoder().encode(keys.secret);
    if (secret.length < 32) fail(names.secret, `HMAC secret is ${secret.length} bytes; at least 32 are required`);
    key = { kind: 'secret', secret };
    allowedForKey = HMAC_ALGS.filter((a) => secret.length >= HMAC_MIN_BYTES[a]!);
  } else if (keys.publicKey !== undefined) {
    let parsed: ReturnType<typeof parsePublicKey> | undefined;
    try {
      parsed = parsePublicKey(keys.publicKey);
    } catch (e) {
      fail(names.publicKey, (e as Error).message, e);
    }
    key = { kind: 'publicKey', key: parsed!.key, text: keys.publicKey };
    allowedForKey = algsForKeyType(parsed!.type);
  } else {
    let url: URL | undefined;
    try {
      url = new URL(keys.jwksUrl!);
    } catch {
      fail(names.jwksUrl, 'not a valid URL');
    }
    if (url!.protocol !== 'https:' && !(url!.protocol === 'http:' && isLoopback(url!.hostname))) {
      fail(names.jwksUrl, 'must be https (plain http only for a loopback host)');
    }
    key = { kind: 'jwks', url: url!.href };
    allowedForKey = [...ASYMMETRIC_ALGS];
  }

  let algorithms = allowedForKey;
  if (r.algorithms !== undefined) {
    if (!Array.isArray(r.algorithms) || r.algorithms.length === 0) fail('algorithms', 'must be a non-empty list');
    for (const alg of r.algorithms) {
      if (typeof alg !== 'string' || alg.toLowerCase() === 'none') fail('algorithms', '"none" is never allowed');
      if (!ALL_ALGS.has(alg)) fail('algorithms', `unknown algorithm "${alg}"`);
      if (!allowedForKey.includes(alg)) {
        const hint = alg in HMAC_MIN_BYTES && key.kind === 'secret' ? `the secret is too short for ${alg}` : `${alg} does not match the ${key.kind} key`;
        fail('algorithms', `${hint} (allowed: ${allowedForKey.join(', ')})`);
      }
    }
    algorithms = [...new Set(r.algorithms)];
  }

  const num = (field: string, v: number | undefined, dflt: number | undefined, min: number): number | undefined => {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) fail(field, `must be a number >= ${min}`);
    return v;
  };

  const tokenFrom = r.tokenFrom ?? [...SOURCES];
  if (!Array.isArray(tokenFrom) || tokenFrom.length === 0) fail('tokenFrom', 'must be a non-empty list');
  for (const s of tokenFrom) if (!SOURCES.includes(s)) fail('tokenFrom', `unknown source "${String(s)}" (use query, header, protocol)`);
  const queryParam = r.queryParam ?? 'token';
  if (typeof queryParam !== 'string' || queryParam === '') fail('queryParam', 'must be a non-empty string');

  if (r.requiredClaims !== undefined && (typeof r.requiredClaims !== 'object' || r.requiredClaims === null)) {
    fail('requiredClaims', 'must be an object');
  }

  const issuer = list(r.issuer ?? nonEmpty(env.JWT_ISSUER));
  const audience = list(r.audience ?? nonEmpty(env.JWT_AUDIENCE));
  const resolved: ResolvedAuth = {
    where,
    key,
    algorithms,
    clockToleranceSec: num('clockToleranceSec', r.clockToleranceSec, 30, 0)!,
    allowMissingExp: r.allowMissingExp === true,
    tokenFrom: [...new Set(tokenFrom)],
    queryParam,
    maxTokenBytes: num('maxTokenBytes', r.maxTokenBytes, 8192, 16)!,
    expiryGraceSec: num('expiryGraceSec', r.expiryGraceSec, 0, 0)!,
    jwks: { ...r.jwks },
  };
  const maxAge = num('maxTokenAgeSec', r.maxTokenAgeSec, undefined, 1);
  if (maxAge !== undefined) resolved.maxTokenAgeSec = maxAge;
  if (issuer) resolved.issuer = issuer;
  if (audience) resolved.audience = audience;
  if (r.requiredClaims) resolved.requiredClaims = { ...r.requiredClaims };
  return resolved;
}
