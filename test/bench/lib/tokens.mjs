// Keys and JWTs for the handshake scenarios: HS256 with the gateway's JWT_SECRET, RS256, ES256 and
// EdDSA with keys generated per run (public halves go into route files as PEM SPKI).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';

export const JWT_SECRET = randomBytes(32).toString('hex');
export const ADMIN_SECRET = randomBytes(24).toString('hex');

const pairs = {
  RS256: () => generateKeyPairSync('rsa', { modulusLength: 2048 }),
  ES256: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  EdDSA: () => generateKeyPairSync('ed25519'),
};
const keys = {};
export function keyFor(alg) {
  if (alg === 'HS256') return { sign: new TextEncoder().encode(JWT_SECRET), publicPem: null };
  if (!keys[alg]) {
    const { privateKey, publicKey } = pairs[alg]();
    keys[alg] = { sign: privateKey, publicPem: publicKey.export({ type: 'spki', format: 'pem' }) };
  }
  return keys[alg];
}

/** n distinct tokens (different `sub`) so no verification cache can hide the cost. */
export async function tokens(alg, n = 50, ttlSec = 3600) {
  const { sign } = keyFor(alg);
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push(await new SignJWT({ sub: `bench-${alg}-${i}` }).setProtectedHeader({ alg })
      .setIssuedAt().setExpirationTime(`${ttlSec}s`).sign(sign));
  }
  return out;
}

/** A token signed with the wrong key: the gateway must reject it (401). */
export async function invalidTokens(n = 50) {
  const wrong = new TextEncoder().encode(randomBytes(32).toString('hex'));
  const out = [];
  for (let i = 0; i < n; i++) out.push(await new SignJWT({ sub: `bad-${i}` }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(wrong));
  return out;
}

export const withToken = (url, token) => `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
