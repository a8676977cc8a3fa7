/**
 * Mint tokens for auth tests: valid ones for every key type, and every kind of bad token a
 * verifier must refuse (alg none, tampered payload, key confusion, ...). Not for production use.
 */
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type CryptoKey, type JWK, type JWTPayload, type JWSHeaderParameters } from 'jose';

/** A 50-byte HMAC secret (enough for HS256 and HS384, not HS512). */
export const TEST_SECRET = 'wsgate-test-secret-0123456789-abcdefghijklmnopqrst';
export const TEST_SECRET_BYTES = new TextEncoder().encode(TEST_SECRET);

export const nowSec = (nowMs: number = Date.now()): number => Math.floor(nowMs / 1000);

/** Default claims: sub, iat now, exp in an hour. `undefined` values remove a claim. */
export function claims(extra: Record<string, unknown> = {}, nowMs?: number): JWTPayload {
  const t = nowSec(nowMs);
  const out: Record<string, unknown> = { sub: 'user-1', iat: t, exp: t + 3600, ...extra };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out as JWTPayload;
}

export interface TestKey {
  alg: string;
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** SPKI PEM of the public key. */
  pem: string;
  /** Public JWK with kid, alg and use. */
  jwk: JWK;
}

const keyCache = new Map<string, Promise<TestKey>>();

/** A key pair for `alg` (RS256, PS256, ES256, ES384, EdDSA, ...), cached per alg+kid. */
export function testKey(alg: string, kid = `${alg.toLowerCase()}-1`): Promise<TestKey> {
  const id = `${alg}/${kid}`;
  let p = keyCache.get(id);
  if (!p) {
    p = (async () => {
      const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
      const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
      return { alg, kid, privateKey, publicKey, pem: await exportSPKI(publicKey), jwk };
    })();
    keyCache.set(id, p);
  }
  return p;
}

/** A JWKS document with the given keys' public halves. */
export function jwksOf(...keys: TestKey[]): { keys: JWK[] } {
  return { keys: keys.map((k) => k.jwk) };
}

export interface SignOptions {
  /** Extra protected header fields (kid, jku, x5u, jwk, typ, ...). */
  header?: Partial<JWSHeaderParameters> & Record<string, unknown>;
}

/** HS256 (or another HS alg) with the test secret or `secret`. */
export function hs(payload: JWTPayload = claims(), opts: SignOptions & { alg?: string; secret?: Uint8Array } = {}): Promise<string> {
  const alg = opts.alg ?? 'HS256';
  return new SignJWT(payload).setProtectedHeader({ typ: 'JWT', ...opts.header, alg }).sign(opts.secret ?? TEST_SECRET_BYTES);
}

/** Signed with a test key pair; the header carries its kid unless `header.kid` overrides it. */
export function signed(key: TestKey, payload: JWTPayload = claims(), opts: SignOptions = {}): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ typ: 'JWT', kid: key.kid, ...opts.header, alg: key.alg }).sign(key.privateKey);
}

const b64url = (s: string): string =>
  btoa(String.fromCharCode(...new TextEncoder().encode(s))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

/** A compact token built by hand: any header, any payload, any signature text. */
export function rawToken(header: unknown, payload: unknown, signature = 'c2lnbmF0dXJl'): string {
  const enc = (v: unknown) => b64url(typeof v === 'string' ? v : JSON.stringify(v));
  return `${enc(header)}.${enc(payload)}.${signature}`;
}

/** `alg: none`, empty signature. */
export function algNone(payload: JWTPayload = claims(), alg = 'none'): string {
  return rawToken({ alg, typ: 'JWT' }, payload, '');
}

/** HS256 signed with the bytes of an RSA public key PEM: the classic key-confusion attack. */
export function hsWithPublicKeyPem(pem: string, payload: JWTPayload = claims()): Promise<string> {
  return hs(payload, { secret: new TextEncoder().encode(pem) });
}

/** Same token with the payload swapped for `payload`, signature kept (tampering). */
export function tamperPayload(token: string, payload: JWTPayload): string {
  const [h, , s] = token.split('.');
  return `${h}.${b64url(JSON.stringify(payload))}.${s}`;
}

/** Same token with one signature character changed. */
export function tamperSignature(token: string): string {
  const [h, p, s = ''] = token.split('.');
  const i = Math.floor(s.length / 2);
  const c = s[i] === 'A' ? 'B' : 'A';
  return `${h}.${p}.${s.slice(0, i)}${c}${s.slice(i + 1)}`;
}

/** Shorthands for time-related bad tokens, relative to `nowMs`. */
export const expired = (byS = 120, nowMs?: number) => hs(claims({ exp: nowSec(nowMs) - byS }, nowMs));
export const notYetValid = (inS = 120, nowMs?: number) => hs(claims({ nbf: nowSec(nowMs) + inS }, nowMs));
export const issuedInFuture = (inS = 120, nowMs?: number) => hs(claims({ iat: nowSec(nowMs) + inS }, nowMs));
export const withoutExp = (nowMs?: number) => hs(claims({ exp: undefined }, nowMs));
