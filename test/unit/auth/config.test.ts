// Start-up validation of auth settings: algorithms tied to the key type, and HMAC secret length
// (jose does not enforce it).
import { describe, expect, it } from 'vitest';
import { resolveAuth } from '../../../src/auth/index.ts';
import { TEST_SECRET, testKey } from '../../helpers/tokens.ts';

const W = 'routes/chat.ts';

describe('resolveAuth', () => {
  it('public route → false', () => {
    expect(resolveAuth(false, { JWT_SECRET: TEST_SECRET }, W)).toBe(false);
  });

  it('defaults from env, with comma-separated issuer/audience', () => {
    const a = resolveAuth(undefined, { JWT_SECRET: TEST_SECRET, JWT_ISSUER: 'https://a, https://b', JWT_AUDIENCE: 'x' }, W);
    expect(a).toMatchObject({
      clockToleranceSec: 30,
      tokenFrom: ['query', 'header', 'protocol'],
      queryParam: 'token',
      maxTokenBytes: 8192,
      expiryGraceSec: 0,
      allowMissingExp: false,
      issuer: ['https://a', 'https://b'],
      audience: ['x'],
      algorithms: ['HS256', 'HS384'], // a 50-byte secret is too short for HS512
    });
    expect(a && a.key.kind).toBe('secret');
  });

  it('route key replaces the env key as a whole; route issuer wins', async () => {
    const rsa = await testKey('RS256');
    const a = resolveAuth({ publicKey: rsa.pem, issuer: 'me' }, { JWT_SECRET: TEST_SECRET, JWT_ISSUER: 'env' }, W);
    expect(a && a.key.kind).toBe('publicKey');
    expect(a && a.issuer).toEqual(['me']);
    expect(a && a.algorithms).toEqual(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']);
  });

  it('derives algorithms from the key type (PEM and JWK)', async () => {
    const ec = await testKey('ES256');
    const ed = await testKey('EdDSA');
    expect(resolveAuth({ publicKey: ec.pem }, {}, W)).toMatchObject({ algorithms: ['ES256'] });
    expect(resolveAuth({ publicKey: JSON.stringify(ec.jwk) }, {}, W)).toMatchObject({ algorithms: ['ES256'] });
    expect(resolveAuth({ publicKey: ed.pem }, {}, W)).toMatchObject({ algorithms: ['EdDSA', 'Ed25519'] });
    // env files often carry PEMs with literal \n
    expect(resolveAuth(undefined, { JWT_PUBLIC_KEY: ec.pem.replace(/\n/g, '\\n') }, W)).toMatchObject({ algorithms: ['ES256'] });
  });

  it('JWKS URL defaults to every asymmetric algorithm, never HS*', () => {
    const a = resolveAuth({ jwksUrl: 'https://idp.example/jwks.json' }, {}, W);
    expect(a && a.algorithms.some((x) => x.startsWith('HS'))).toBe(false);
    expect(a && a.algorithms).toContain('RS256');
  });

  const bad: Array<[string, Parameters<typeof resolveAuth>[0], Record<string, string>, RegExp]> = [
    ['no key source', {}, {}, /routes\/chat\.ts: auth\.secret: no key configured/],
    ['short HMAC secret', { secret: 'abc' }, {}, /auth\.secret: HMAC secret is 3 bytes/],
    ['short env secret', undefined, { JWT_SECRET: 'x'.repeat(31) }, /JWT_SECRET.*31 bytes/],
    ['two key sources', { secret: TEST_SECRET, jwksUrl: 'https://idp/jwks' }, {}, /only one key source/],
    ['alg none', { secret: TEST_SECRET, algorithms: ['none'] }, {}, /algorithms: "none"/],
    ['unknown alg', { secret: TEST_SECRET, algorithms: ['HS257'] }, {}, /unknown algorithm "HS257"/],
    ['RS256 with a secret', { secret: TEST_SECRET, algorithms: ['RS256'] }, {}, /algorithms: RS256 does not match the secret/],
    ['HS512 with a 50-byte secret', { secret: TEST_SECRET, algorithms: ['HS512'] }, {}, /too short for HS512/],
    ['HS256 with JWKS', { jwksUrl: 'https://idp/jwks', algorithms: ['HS256'] }, {}, /HS256 does not match the jwks/],
    ['plain http JWKS', { jwksUrl: 'http://idp.example/jwks' }, {}, /jwksUrl: must be https/],
    ['garbage public key', { publicKey: 'not a key' }, {}, /auth\.publicKey: expected a PEM/],
    ['private JWK', { publicKey: '{"kty":"EC","crv":"P-256","x":"a","y":"b","d":"c"}' }, {}, /must be a public key/],
    ['bad tokenFrom', { secret: TEST_SECRET, tokenFrom: ['cookie' as 'query'] }, {}, /tokenFrom: unknown source "cookie"/],
    ['negative tolerance', { secret: TEST_SECRET, clockToleranceSec: -1 }, {}, /clockToleranceSec/],
  ];
  it.each(bad)('throws at start-up: %s', (_n, route, env, msg) => {
    expect(() => resolveAuth(route, env, W)).toThrow(msg);
  });

  it('ES384 is refused for a P-256 key', async () => {
    const ec = await testKey('ES256');
    expect(() => resolveAuth({ publicKey: ec.pem, algorithms: ['ES384'] }, {}, W)).toThrow(/ES384 does not match/);
  });

  it('http JWKS on loopback is allowed (tests, sidecars)', () => {
    expect(resolveAuth({ jwksUrl: 'http://127.0.0.1:9999/jwks' }, {}, W)).toMatchObject({ key: { kind: 'jwks' } });
  });
});
