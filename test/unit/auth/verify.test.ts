// Token verification with a secret or a configured public key: algorithm allowlists, key
// confusion, claims and required claims. What depends on fetching a JWKS is in jwks.test.ts.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SignJWT, exportSPKI } from 'jose';
import { GatewayError } from '../../../src/errors.ts';
import { createVerifier, resolveAuth, type AuthExtras, type ResolvedAuth } from '../../../src/auth/index.ts';
import type { AuthConfig } from '../../../src/routing/define-route.ts';
import { nodeHmacVerifier } from '../../../src/runtime/node/hmac.ts';
import * as t from '../../helpers/tokens.ts';

const NOW = Date.now();
const at = (nowMs = NOW) => ({ now: () => nowMs });

function auth(route: AuthConfig & AuthExtras = {}, env: Record<string, string> = { JWT_SECRET: t.TEST_SECRET }): ResolvedAuth {
  const a = resolveAuth(route, env, 'test-route.ts');
  if (!a) throw new Error('unexpected public route');
  return a;
}

async function rejection(p: Promise<unknown>): Promise<GatewayError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e, 'expected verify() to reject').toBeInstanceOf(GatewayError);
  return e as GatewayError;
}

async function expectCode(p: Promise<unknown>, code: string): Promise<GatewayError> {
  const e = await rejection(p);
  expect(e.code).toBe(code);
  return e;
}

afterEach(() => vi.restoreAllMocks());

describe('valid tokens', () => {
  it('HS256 with a secret: claims and expiry', async () => {
    const tok = await t.hs(t.claims({ role: 'a' }, NOW));
    const r = await createVerifier(auth(), at()).verify(tok);
    expect(r.claims).toMatchObject({ sub: 'user-1', role: 'a' });
    expect(r.expiresAtMs).toBe((t.nowSec(NOW) + 3600) * 1000);
  });

  it.each(['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'])('%s with a PEM public key', async (alg) => {
    const k = await t.testKey(alg);
    const v = createVerifier(auth({ publicKey: k.pem }), at());
    await v.warm();
    expect((await v.verify(await t.signed(k, t.claims({}, NOW)))).claims.sub).toBe('user-1');
  });

  it('ES256 with a JWK public key from env', async () => {
    const k = await t.testKey('ES256');
    const v = createVerifier(auth(undefined, { JWT_PUBLIC_KEY: JSON.stringify(k.jwk) }), at());
    expect((await v.verify(await t.signed(k, t.claims({}, NOW)))).claims.sub).toBe('user-1');
  });

  it('kid path/SQL tricks do not matter with a single configured key', async () => {
    const k = await t.testKey('RS256');
    const v = createVerifier(auth({ publicKey: k.pem }), at());
    const tok = await t.signed(k, t.claims({}, NOW), { header: { kid: "../../etc/passwd' OR 1=1 --" } });
    expect((await v.verify(tok)).claims.sub).toBe('user-1');
  });
});

describe('algorithm and signature', () => {
  it.each(['none', 'None', 'NONE'])('alg %s → token_invalid', async (alg) => {
    const e = await expectCode(createVerifier(auth(), at()).verify(t.algNone(t.claims({}, NOW), alg)), 'token_invalid');
    expect(e.status).toBe(401);
    expect(e.headers['WWW-Authenticate']).toBe('Bearer realm="wsgate", error="invalid_token"');
  });

  it('HS256 signed with the RSA public key PEM → token_invalid', async () => {
    const k = await t.testKey('RS256');
    const v = createVerifier(auth({ publicKey: k.pem }), at());
    await expectCode(v.verify(await t.hsWithPublicKeyPem(k.pem, t.claims({}, NOW))), 'token_invalid');
    // also with the JWK text as the HMAC secret on a JWK-configured route
    const vj = createVerifier(auth({ publicKey: JSON.stringify(k.jwk) }), at());
    await expectCode(vj.verify(await t.hsWithPublicKeyPem(JSON.stringify(k.jwk), t.claims({}, NOW))), 'token_invalid');
  });

  it('an algorithm outside the route allowlist → token_invalid', async () => {
    const v = createVerifier(auth({ algorithms: ['HS256'] }), at());
    await expectCode(v.verify(await t.hs(t.claims({}, NOW), { alg: 'HS384' })), 'token_invalid');
    const rsa = await t.testKey('RS256');
    await expectCode(v.verify(await t.signed(rsa, t.claims({}, NOW))), 'token_invalid');
  });

  it('PS256-only route refuses RS256 from the same key', async () => {
    const k = await t.testKey('RS256');
    const v = createVerifier(auth({ publicKey: k.pem, algorithms: ['PS256'] }), at());
    await expectCode(v.verify(await t.signed(k, t.claims({}, NOW))), 'token_invalid');
  });

  it('tampered payload, tampered signature, wrong secret → token_invalid', async () => {
    const v = createVerifier(auth(), at());
    const good = await t.hs(t.claims({}, NOW));
    await expectCode(v.verify(t.tamperPayload(good, t.claims({ sub: 'admin' }, NOW))), 'token_invalid');
    await expectCode(v.verify(t.tamperSignature(good)), 'token_invalid');
    const other = new TextEncoder().encode('another-secret-another-secret-another-secret!');
    await expectCode(v.verify(await t.hs(t.claims({}, NOW), { secret: other })), 'token_invalid');
  });

  it('a key under 2048 bits is refused by warm()', async () => {
    const { publicKey } = (await crypto.subtle.generateKey(
      { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
      true,
      ['sign', 'verify'],
    )) as CryptoKeyPair;
    const v = createVerifier(auth({ publicKey: await exportSPKI(publicKey) }), at());
    await expect(v.warm()).rejects.toThrow(/1024 bits/);
  });
});

describe('time claims', () => {
  const v = () => createVerifier(auth(), at());

  it('expired → token_expired', async () => {
    await expectCode(v().verify(await t.expired(120, NOW)), 'token_expired');
  });
  it('exp missing → token_claim_invalid; allowed by allowMissingExp', async () => {
    const tok = await t.withoutExp(NOW);
    await expectCode(v().verify(tok), 'token_claim_invalid');
    const r = await createVerifier(auth({ allowMissingExp: true }), at()).verify(tok);
    expect(r.expiresAtMs).toBeUndefined();
  });
  it.each([['a string', '99999999999'], ['null', null], ['an object', {}], ['a boolean', true]])('exp %s → token_claim_invalid', async (_n, exp) => {
    await expectCode(v().verify(await t.hs({ ...t.claims({}, NOW), exp } as never)), 'token_claim_invalid');
  });
  it('nbf/iat not numbers → token_claim_invalid', async () => {
    await expectCode(v().verify(await t.hs({ ...t.claims({}, NOW), nbf: 'soon' } as never)), 'token_claim_invalid');
    await expectCode(v().verify(await t.hs({ ...t.claims({}, NOW), iat: '0' } as never)), 'token_claim_invalid');
  });
  it('nbf in the future → token_not_yet_valid', async () => {
    await expectCode(v().verify(await t.notYetValid(120, NOW)), 'token_not_yet_valid');
  });
  it('iat in the future (beyond tolerance) → token_not_yet_valid', async () => {
    await expectCode(v().verify(await t.issuedInFuture(120, NOW)), 'token_not_yet_valid');
    await expect(v().verify(await t.issuedInFuture(10, NOW))).resolves.toBeTruthy();
  });
  it('older than maxTokenAgeSec → token_expired; iat then required', async () => {
    const va = createVerifier(auth({ maxTokenAgeSec: 300, clockToleranceSec: 0 }), at());
    await expectCode(va.verify(await t.hs(t.claims({ iat: t.nowSec(NOW) - 301 }, NOW))), 'token_expired');
    await expect(va.verify(await t.hs(t.claims({ iat: t.nowSec(NOW) - 200 }, NOW)))).resolves.toBeTruthy();
    await expectCode(va.verify(await t.hs(t.claims({ iat: undefined }, NOW))), 'token_claim_invalid');
  });
  it('expired by less than the tolerance → accepted; by more → rejected', async () => {
    const tok = await t.expired(20, NOW); // default tolerance 30 s
    await expect(v().verify(tok)).resolves.toBeTruthy();
    await expectCode(createVerifier(auth(), at(NOW + 15_000)).verify(tok), 'token_expired');
    await expectCode(createVerifier(auth({ clockToleranceSec: 0 }), at()).verify(await t.expired(1, NOW)), 'token_expired');
    await expect(v().verify(await t.notYetValid(20, NOW))).resolves.toBeTruthy();
  });
});

describe('issuer and audience', () => {
  const v = () => createVerifier(auth({ issuer: ['https://idp.a', 'https://idp.b'], audience: 'wsgate' }), at());
  const tok = (c: Record<string, unknown>) => t.hs(t.claims({ iss: 'https://idp.b', aud: 'wsgate', ...c }, NOW));

  it('accepted: listed issuer, aud string or array containing ours', async () => {
    await expect(v().verify(await tok({}))).resolves.toBeTruthy();
    await expect(v().verify(await tok({ aud: ['other', 'wsgate'] }))).resolves.toBeTruthy();
  });
  it.each([
    ['wrong iss', { iss: 'https://evil' }],
    ['missing iss', { iss: undefined }],
    ['wrong aud', { aud: 'other' }],
    ['aud array without ours', { aud: ['a', 'b'] }],
    ['missing aud', { aud: undefined }],
  ])('%s → token_claim_invalid', async (_n, c) => {
    await expectCode(v().verify(await tok(c)), 'token_claim_invalid');
  });
  it('issuer/audience from env', async () => {
    const ve = createVerifier(auth(undefined, { JWT_SECRET: t.TEST_SECRET, JWT_ISSUER: 'x,y', JWT_AUDIENCE: 'api' }), at());
    await expect(ve.verify(await t.hs(t.claims({ iss: 'y', aud: 'api' }, NOW)))).resolves.toBeTruthy();
    await expectCode(ve.verify(await t.hs(t.claims({ iss: 'z', aud: 'api' }, NOW))), 'token_claim_invalid');
  });
});

describe('required claims → 403', () => {
  const v = () => createVerifier(auth({ requiredClaims: { scope: 'chat:write', tenant: 't1', admin: true, roles: 'ops' } }), at());
  const ok = { scope: 'chat:read chat:write', tenant: 't1', admin: true, roles: ['dev', 'ops'] };

  it('all present → accepted', async () => {
    await expect(v().verify(await t.hs(t.claims(ok, NOW)))).resolves.toBeTruthy();
  });
  it.each([
    ['scope lacks the value', { scope: 'chat:read' }],
    ['wrong tenant', { tenant: 't2' }],
    ['admin false', { admin: false }],
    ['admin missing', { admin: undefined }],
    ['role not in array', { roles: ['dev'] }],
  ])('%s → token_forbidden', async (_n, c) => {
    const e = await expectCode(v().verify(await t.hs(t.claims({ ...ok, ...c }, NOW))), 'token_forbidden');
    expect(e.status).toBe(403);
    expect(e.headers['WWW-Authenticate']).toBe('Bearer realm="wsgate", error="insufficient_scope"');
  });
});

describe('shape checks before any crypto', () => {
  const shapes: Array<[string, string, string]> = [
    ['empty', '', 'token_malformed'],
    ['two segments', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0', 'token_malformed'],
    ['four segments', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln.c2ln', 'token_malformed'],
    ['non-base64url characters', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0+/=.c2ln', 'token_malformed'],
    ['header not JSON', 'bm90IGpzb24.eyJzdWIiOiJ1In0.c2ln', 'token_malformed'],
    ['payload a JSON array', t.rawToken({ alg: 'HS256' }, [1, 2]), 'token_malformed'],
    ['impossible base64 length', 'eyJhbGciOiJIUzI1NiJ9.eyJzd.c2ln', 'token_malformed'],
    ['header without alg', t.rawToken({ typ: 'JWT' }, { sub: 'u' }), 'token_malformed'],
    ['unicode in a segment', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0é.c2ln', 'token_malformed'],
    ['oversized', `eyJhbGciOiJIUzI1NiJ9.${'A'.repeat(9000)}.c2ln`, 'token_too_large'],
  ];
  it.each(shapes)('%s → %s, no crypto', async (_n, token, code) => {
    const verifySpy = vi.spyOn(crypto.subtle, 'verify');
    const importSpy = vi.spyOn(crypto.subtle, 'importKey');
    const e = await expectCode(createVerifier(auth(), at()).verify(token), code);
    expect(e.headers['WWW-Authenticate']).toBe('Bearer realm="wsgate", error="invalid_request"');
    expect(verifySpy).not.toHaveBeenCalled();
    expect(importSpy).not.toHaveBeenCalled();
  });
  it('maxTokenBytes is configurable', async () => {
    const tok = await t.hs(t.claims({ pad: 'x'.repeat(200) }, NOW));
    await expectCode(createVerifier(auth({ maxTokenBytes: 128 }), at()).verify(tok), 'token_too_large');
  });
  it('the crypto spy does see a well-formed token (the check above can fail)', async () => {
    const verifySpy = vi.spyOn(crypto.subtle, 'verify');
    await createVerifier(auth(), at()).verify(await t.hs(t.claims({}, NOW)));
    expect(verifySpy).toHaveBeenCalledTimes(1);
  });
  it('non-ASCII claims are decoded as UTF-8; invalid UTF-8 still fails as malformed', async () => {
    const tok = await t.hs(t.claims({ name: 'Zoë 日本 🙂' }, NOW));
    expect((await createVerifier(auth(), at()).verify(tok)).claims.name).toBe('Zoë 日本 🙂');
    const seg = (bytes: number[]) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    const h = seg([...new TextEncoder().encode('{"alg":"HS256"}')]);
    const badUtf8 = seg([...new TextEncoder().encode('{"sub":"'), 0xc3, 0x28, ...new TextEncoder().encode('"}')]);
    await expectCode(createVerifier(auth(), at()).verify(`${h}.${badUtf8}.c2ln`), 'token_malformed');
  });
  it('b64:false / crit headers → token_invalid', async () => {
    const tok = await new SignJWT(t.claims({}, NOW)).setProtectedHeader({ alg: 'HS256', b64: true, crit: ['b64'] }).sign(t.TEST_SECRET_BYTES);
    await expectCode(createVerifier(auth(), at()).verify(tok), 'token_invalid');
  });
});

describe('a runtime-supplied synchronous HMAC (Node: node:crypto) decides exactly like jose', () => {
  const SECRET_64 = 'a-64-byte-secret-for-hs512-0123456789-abcdefghijklmnopqrstuvwxyz!';
  const secret = new TextEncoder().encode(SECRET_64);
  const a = () => auth({ algorithms: ['HS256', 'HS384', 'HS512'] }, { JWT_SECRET: SECRET_64 });
  const both = () => [createVerifier(a(), at()), createVerifier(a(), { ...at(), hmac: nodeHmacVerifier })];

  it.each(['HS256', 'HS384', 'HS512'])('%s: accepted with the same claims, without WebCrypto', async (alg) => {
    const tok = await t.hs(t.claims({ role: 'x' }, NOW), { alg, secret });
    const [jose, sync] = both();
    const verifySpy = vi.spyOn(crypto.subtle, 'verify');
    expect(await sync!.verify(tok)).toEqual({ claims: expect.objectContaining({ sub: 'user-1', role: 'x' }), expiresAtMs: (t.nowSec(NOW) + 3600) * 1000 });
    expect(verifySpy).not.toHaveBeenCalled();
    expect(await sync!.verify(tok)).toEqual(await jose!.verify(tok));
  });

  it('tampered payload or signature, truncated or extended signature, wrong secret, wrong alg → token_invalid on both', async () => {
    const good = await t.hs(t.claims({}, NOW), { secret });
    const [h, p, s] = good.split('.') as [string, string, string];
    const other = new TextEncoder().encode('another-secret-another-secret-another-secret-another-secret-0123');
    const bad = [
      t.tamperPayload(good, t.claims({ sub: 'admin' }, NOW)),
      t.tamperSignature(good),
      `${h}.${p}.${s.slice(0, -4)}`,
      `${h}.${p}.${s}AAAA`,
      await t.hs(t.claims({}, NOW), { secret: other }),
      // an HS256 header over an HS384 signature
      `${h}.${p}.${(await t.hs(t.claims({}, NOW), { alg: 'HS384', secret })).split('.')[2]}`,
    ];
    for (const v of both()) for (const tok of bad) await expectCode(v.verify(tok), 'token_invalid');
  });

  it('a valid HMAC in a non-canonical encoding (other unused bits in the last character) is refused', async () => {
    const good = await t.hs(t.claims({}, NOW), { secret });
    const [h, p, s] = good.split('.') as [string, string, string];
    const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    // 32 bytes are 43 characters; the last one carries 2 bits and 4 unused ones.
    const last = ALPHABET.indexOf(s.at(-1)!);
    const variant = `${s.slice(0, -1)}${ALPHABET[last ^ 1]}`;
    expect(Buffer.from(variant, 'base64url').equals(Buffer.from(s, 'base64url'))).toBe(true); // same bytes
    const [, sync] = both();
    await expectCode(sync!.verify(`${h}.${p}.${variant}`), 'token_invalid');
    expect(await sync!.verify(good)).toBeDefined();
  });

  it('claims are still checked after the signature (expired, forbidden)', async () => {
    const [, sync] = both();
    await expectCode(sync!.verify(await t.hs(t.claims({ exp: t.nowSec(NOW) - 120 }, NOW), { secret })), 'token_expired');
    const v = createVerifier(auth({ requiredClaims: { scope: 'chat' } }, { JWT_SECRET: SECRET_64 }), { ...at(), hmac: nodeHmacVerifier });
    await expectCode(v.verify(await t.hs(t.claims({}, NOW), { secret })), 'token_forbidden');
  });

  it('a factory that throws fails the token (401), never the process', async () => {
    const v = createVerifier(a(), { ...at(), hmac: () => { throw new Error('no such hash'); } });
    await expectCode(v.verify(await t.hs(t.claims({}, NOW), { secret })), 'token_invalid');
  });
});
