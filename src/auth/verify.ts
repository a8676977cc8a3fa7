/**
 * Token verification for one route. Order of checks:
 * 1. size cap, three base64url segments, JSON header and payload — before any crypto;
 * 2. `alg` in the route's allowlist, which is tied to the key type — HS* only with a secret;
 * 3. key from the configured source only: `jku`, `x5u`, embedded `jwk` are ignored;
 * 4. signature (jose `compactVerify`), then claims (claims.ts: exp, nbf/iat, iss/aud, required claims).
 */
import type { CryptoKey, JWTPayload, JWSHeaderParameters } from 'jose';
import { ConfigError, GatewayError } from '../errors.ts';
import { checkClaims } from './claims.ts';
import type { ResolvedAuth } from './config.ts';
import { authError } from './errors.ts';
import { getJwksCache, type JwksCache } from './jwks.ts';

export interface VerifiedToken {
  claims: JWTPayload;
  /** `exp` in ms; undefined when the token has none (route with allowMissingExp). */
  expiresAtMs?: number;
}

export interface Verifier {
  readonly auth: ResolvedAuth;
  /** Verify a token; throws GatewayError (token_* with WWW-Authenticate, or jwks_unavailable). */
  verify(token: string): Promise<VerifiedToken>;
  /** Prepare keys at start-up: import the public key / fetch the JWKS. Throws when unusable. */
  warm(): Promise<void>;
  /**
   * Whether keys are usable now (readiness): false for a JWKS never fetched or past
   * stale-if-error; a false answer also starts a background fetch (at most once a second).
   */
  ready(): boolean;
}

/**
 * A synchronous HMAC check that a runtime can supply (Node: node:crypto). Given an HS*
 * algorithm and the secret, it returns `(signingInput, signature) => valid`, where `signature`
 * is the token's third segment (base64url, its alphabet already checked). WebCrypto's `verify`
 * is asynchronous: on Node every call is a thread-pool job costing ~50–100 µs of CPU, the
 * largest single item of an HS256 handshake, where createHmac costs a few µs.
 */
export type HmacVerifierFactory = (alg: string, secret: Uint8Array) => (signingInput: string, signature: string) => boolean;

export interface VerifierDeps {
  fetch?: typeof fetch;
  /** Clock in ms. @default Date.now */
  now?: () => number;
  /** Verify HS* signatures with this instead of jose/WebCrypto (same checks, synchronous). */
  hmac?: HmacVerifierFactory;
}

const SEGMENT = /^[A-Za-z0-9_-]*$/;
const MAX_KID_LENGTH = 256;
/** Stateless between calls (no streaming), so one instance serves every token. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });
const NON_ASCII = /[^\x00-\x7f]/;

function decodeSegment(seg: string): Record<string, unknown> {
  if (seg.length === 0 || seg.length % 4 === 1 || !SEGMENT.test(seg)) throw authError('token_malformed');
  try {
    const b64 = seg.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (seg.length % 4)) % 4);
    const bin = atob(b64); // one char per byte
    // ASCII bytes are their own UTF-8 decoding (the usual JWT); others go through the strict decoder.
    const value: unknown = JSON.parse(NON_ASCII.test(bin) ? UTF8.decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))) : bin);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
    return value as Record<string, unknown>;
  } catch {
    throw authError('token_malformed');
  }
}

/** Structural checks, no crypto. Returns the protected header and the (unverified) payload. */
export function parseToken(token: string, auth: ResolvedAuth): { header: JWSHeaderParameters; payload: JWTPayload } {
  if (typeof token !== 'string' || token.length === 0) throw authError('token_malformed');
  if (token.length > auth.maxTokenBytes) throw authError('token_too_large');
  const parts = token.split('.');
  if (parts.length !== 3) throw authError('token_malformed');
  const [h, p, sig] = parts as [string, string, string];
  if (!SEGMENT.test(sig) || sig.length % 4 === 1) throw authError('token_malformed');
  const header = decodeSegment(h);
  const payload = decodeSegment(p);
  const alg = header.alg;
  if (typeof alg !== 'string') throw authError('token_malformed');
  if (alg.toLowerCase() === 'none' || !auth.algorithms.includes(alg)) throw authError('token_invalid', 'Token algorithm is not allowed');
  if (sig.length === 0) throw authError('token_invalid');
  // Unencoded payloads and critical extensions are never used for JWTs here.
  if ('b64' in header || 'crit' in header) throw authError('token_invalid');
  if (header.kid !== undefined && (typeof header.kid !== 'string' || header.kid.length > MAX_KID_LENGTH)) {
    throw authError('token_invalid');
  }
  return { header: header as JWSHeaderParameters, payload: payload as JWTPayload };
}

type VerifyKey = CryptoKey | Uint8Array;

/**
 * jose is imported on first use, and only the two parts this file needs: a gateway whose routes
 * use HS* secrets on Node never loads it (the runtime's HMAC check verifies), which saves ~40 ms
 * of every cold start.
 */
let jose: Promise<typeof import('jose/jws/compact/verify') & typeof import('jose/key/import')> | undefined;
const loadJose = () => (jose ??= Promise.all([import('jose/jws/compact/verify'), import('jose/key/import')]).then(([v, k]) => ({ ...v, ...k })));

/** Imported public keys, shared by routes using the same key text (import once). */
const importedKeys = new Map<string, Promise<CryptoKey>>();

function importPublicKey(auth: ResolvedAuth, alg: string): Promise<CryptoKey> {
  const key = auth.key;
  if (key.kind !== 'publicKey') throw new Error('not a public key source');
  const cacheKey = `${alg}\n${key.text}`;
  let p = importedKeys.get(cacheKey);
  if (!p) {
    const source = key.key;
    p = loadJose().then((j) => (source.format === 'spki' ? j.importSPKI(source.pem, alg) : (j.importJWK({ ...source.jwk, alg }, alg) as Promise<CryptoKey>)));
    p.catch(() => importedKeys.delete(cacheKey));
    importedKeys.set(cacheKey, p);
  }
  return p;
}

export function createVerifier(auth: ResolvedAuth, deps: VerifierDeps = {}): Verifier {
  const now = deps.now ?? Date.now;
  let jwks: JwksCache | undefined;
  if (auth.key.kind === 'jwks') {
    const opts = { ...auth.jwks, now, ...(deps.fetch ? { fetch: deps.fetch } : {}) };
    jwks = getJwksCache(auth.key.url, auth.issuer, opts);
  }

  // An HMAC secret given to jose as bytes is imported into WebCrypto on every verification;
  // import it once per algorithm instead (the algorithm is already checked against the allowlist).
  const hmacKeys = new Map<string, Promise<VerifyKey>>();
  function hmacKey(secret: Uint8Array, alg: string): Promise<VerifyKey> {
    let p = hmacKeys.get(alg);
    if (!p) {
      const hash = `SHA-${alg.slice(2)}`;
      p = crypto.subtle.importKey('raw', secret as Uint8Array<ArrayBuffer>, { name: 'HMAC', hash }, false, ['verify']).catch(() => secret);
      hmacKeys.set(alg, p);
    }
    return p;
  }

  // Synchronous HMAC checks from the runtime, one per algorithm (see HmacVerifierFactory).
  const syncHmacs = new Map<string, (signingInput: string, signature: string) => boolean>();
  function syncHmacValid(hmac: HmacVerifierFactory, secret: Uint8Array, alg: string, token: string): boolean {
    // parseToken has checked the three segments, their alphabet and that `alg` is one of the
    // route's HS* algorithms: everything jose checks before the signature.
    const dot = token.lastIndexOf('.');
    try {
      let check = syncHmacs.get(alg);
      if (!check) syncHmacs.set(alg, (check = hmac(alg, secret)));
      return check(token.slice(0, dot), token.slice(dot + 1));
    } catch {
      return false; // an unusable key or signature fails like a bad signature
    }
  }

  async function keysFor(header: JWSHeaderParameters, token: string): Promise<VerifyKey[]> {
    const key = auth.key;
    if (key.kind === 'secret') return [await hmacKey(key.secret, header.alg!)];
    if (key.kind === 'publicKey') {
      try {
        return [await importPublicKey(auth, header.alg!)];
      } catch {
        throw authError('token_invalid');
      }
    }
    const [protectedPart, payload, signature] = token.split('.') as [string, string, string];
    return jwks!.getKeys(header, { protected: protectedPart, payload, signature });
  }

  async function joseValid(header: JWSHeaderParameters, token: string): Promise<boolean> {
    let keys: VerifyKey[];
    try {
      keys = await keysFor(header, token);
    } catch (err) {
      throw err instanceof GatewayError ? err : authError('token_invalid');
    }
    const { compactVerify } = await loadJose();
    for (const key of keys) {
      try {
        await compactVerify(token, key, { algorithms: [header.alg!] });
        return true;
      } catch {
        // try the next candidate (only several when the JWKS has kid-less keys)
      }
    }
    return false;
  }

  return {
    auth,
    async verify(token) {
      const { header, payload } = parseToken(token, auth);
      const key = auth.key;
      const valid = deps.hmac && key.kind === 'secret' ? syncHmacValid(deps.hmac, key.secret, header.alg!, token) : await joseValid(header, token);
      if (!valid) throw authError('token_invalid');
      const expiresAtMs = checkClaims(payload, auth, now());
      return expiresAtMs === undefined ? { claims: payload } : { claims: payload, expiresAtMs };
    },
    async warm() {
      if (jwks) {
        await jwks.refresh().catch((e: unknown) => {
          throw new GatewayError(
            'jwks_unavailable',
            `${auth.where}: JWKS ${auth.key.kind === 'jwks' ? auth.key.url : ''} is unavailable: ${(e as Error).message}`,
            {},
            { cause: e },
          );
        });
      } else if (auth.key.kind === 'publicKey') {
        for (const alg of auth.algorithms) {
          const k = await importPublicKey(auth, alg).catch((e: unknown) => {
            throw new ConfigError(
              { source: auth.where, field: 'auth.publicKey', expected: `a key WebCrypto imports for ${alg}`, cause: e },
              `${auth.where}: auth.publicKey cannot be imported for ${alg}: ${(e as Error).message}`,
            );
          });
          const bits = (k.algorithm as { modulusLength?: number }).modulusLength;
          if (bits !== undefined && bits < 2048)
            throw new ConfigError(
              { source: auth.where, field: 'auth.publicKey', expected: 'an RSA key of at least 2048 bits', got: bits },
              `${auth.where}: auth.publicKey: RSA key is ${bits} bits; at least 2048 are required`,
            );
        }
      }
    },
    ready() {
      return jwks ? jwks.prime() : true;
    },
  };
}
