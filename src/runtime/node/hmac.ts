/**
 * HS256/384/512 signature checks with node:crypto for the verifier (auth/verify.ts,
 * HmacVerifierFactory): synchronous, a few µs per token, where WebCrypto's verify is a
 * thread-pool job costing ~50–100 µs of CPU on Node. Comparison in constant time.
 */
import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';
import type { HmacVerifierFactory } from '../../auth/verify.ts';

const HASHES: Record<string, string> = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' };

export const nodeHmacVerifier: HmacVerifierFactory = (alg, secret) => {
  const hash = HASHES[alg];
  if (!hash) throw new Error(`not an HMAC algorithm: ${alg}`);
  const key = createSecretKey(secret); // a KeyObject: not re-imported per token
  return (signingInput, signature) => {
    // Compared as canonical base64url text: Node's base64url decoder skips characters it does
    // not know, so decoding the given signature would accept altered encodings of a valid one.
    const expected = Buffer.from(createHmac(hash, key).update(signingInput).digest('base64url'));
    const given = Buffer.from(signature);
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
};
