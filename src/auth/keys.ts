/**
 * Algorithm families and start-up detection of a public key's type, so that a route's allowlist
 * can be tied to its key before any token arrives. Web APIs only.
 */

export const HMAC_ALGS = ['HS256', 'HS384', 'HS512'] as const;
export const RSA_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const;
export const EC_ALGS = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' } as const;
export const OKP_ALGS = ['EdDSA', 'Ed25519'] as const;
/** Every asymmetric algorithm: the default allowlist for a JWKS URL. */
export const ASYMMETRIC_ALGS: readonly string[] = [...RSA_ALGS, ...Object.values(EC_ALGS), ...OKP_ALGS];
export const ALL_ALGS: ReadonlySet<string> = new Set<string>([...HMAC_ALGS, ...ASYMMETRIC_ALGS]);

/** RFC 7518 §3.2: an HMAC key at least as long as the hash output. */
export const HMAC_MIN_BYTES: Record<string, number> = { HS256: 32, HS384: 48, HS512: 64 };

export type PublicKeyType = { kty: 'RSA' } | { kty: 'EC'; crv: keyof typeof EC_ALGS } | { kty: 'OKP'; crv: 'Ed25519' };

export type ParsedPublicKey = { format: 'spki'; pem: string } | { format: 'jwk'; jwk: Record<string, unknown> };

/** Algorithms a public key of this type can verify. */
export function algsForKeyType(t: PublicKeyType): string[] {
  if (t.kty === 'RSA') return [...RSA_ALGS];
  if (t.kty === 'EC') return [EC_ALGS[t.crv]];
  return [...OKP_ALGS];
}

function base64ToBytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** One DER TLV at `at`: returns tag, value start and end. */
function tlv(der: Uint8Array, at: number): { tag: number; start: number; end: number } {
  const tag = der[at];
  let len = der[at + 1];
  if (tag === undefined || len === undefined) throw new Error('truncated DER');
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 3) throw new Error('bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | (der[start + i] ?? 0);
    start += n;
  }
  if (start + len > der.length) throw new Error('truncated DER');
  return { tag, start, end: start + len };
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

const OIDS: Record<string, string> = {
  '2a864886f70d010101': 'rsa',
  '2a864886f70d01010a': 'rsa', // RSASSA-PSS
  '2a8648ce3d0201': 'ec',
  '2b6570': 'ed25519',
  '2a8648ce3d030107': 'P-256',
  '2b81040022': 'P-384',
  '2b81040023': 'P-521',
};

/** Key type of a PEM `PUBLIC KEY` (SubjectPublicKeyInfo). Throws on anything else. */
export function spkiKeyType(pem: string): PublicKeyType {
  const m = /-----BEGIN PUBLIC KEY-----([\s\S]+?)-----END PUBLIC KEY-----/.exec(pem);
  if (!m) throw new Error('expected a PEM "BEGIN PUBLIC KEY" block (SPKI) or a JWK');
  const der = base64ToBytes(m[1]!.replace(/\s+/g, ''));
  const spki = tlv(der, 0);
  const algId = tlv(der, spki.start);
  const oid = tlv(der, algId.start);
  if (spki.tag !== 0x30 || algId.tag !== 0x30 || oid.tag !== 0x06) throw new Error('not an SPKI structure');
  const kind = OIDS[hex(der.subarray(oid.start, oid.end))];
  if (kind === 'rsa') return { kty: 'RSA' };
  if (kind === 'ed25519') return { kty: 'OKP', crv: 'Ed25519' };
  if (kind === 'ec' && oid.end < algId.end) {
    const param = tlv(der, oid.end);
    const crv = OIDS[hex(der.subarray(param.start, param.end))];
    if (crv === 'P-256' || crv === 'P-384' || crv === 'P-521') return { kty: 'EC', crv };
  }
  throw new Error('unsupported public key type (use RSA, EC P-256/384/521 or Ed25519)');
}

/** Key type of a public JWK. Refuses private and symmetric keys. */
export function jwkKeyType(jwk: Record<string, unknown>): PublicKeyType {
  if ('d' in jwk || jwk.kty === 'oct') throw new Error('must be a public key (no "d", not "oct"; use secret for HMAC)');
  if (jwk.kty === 'RSA') return { kty: 'RSA' };
  if (jwk.kty === 'EC' && (jwk.crv === 'P-256' || jwk.crv === 'P-384' || jwk.crv === 'P-521')) return { kty: 'EC', crv: jwk.crv };
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return { kty: 'OKP', crv: 'Ed25519' };
  throw new Error('unsupported JWK key type (use RSA, EC P-256/384/521 or OKP Ed25519)');
}

/** Parse a configured public key: PEM SPKI (literal "\n" escapes from env files allowed) or JWK JSON. */
export function parsePublicKey(text: string): { key: ParsedPublicKey; type: PublicKeyType } {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    let jwk: unknown;
    try {
      jwk = JSON.parse(trimmed);
    } catch {
      throw new Error('looks like JSON but is not valid JSON');
    }
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw new Error('JWK must be a JSON object');
    const rec = jwk as Record<string, unknown>;
    return { key: { format: 'jwk', jwk: rec }, type: jwkKeyType(rec) };
  }
  const pem = trimmed.replace(/\\n/g, '\n');
  return { key: { format: 'spki', pem }, type: spkiKeyType(pem) };
}
