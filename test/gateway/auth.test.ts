/**
 * Authentication through the real gateway. The verifier's unit
 * tests live in test/unit/auth/; here every case is a real handshake on loopback, and "no dial" is
 * checked by counting TCP connections at the upstream.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import { connectClient, countDials, expectRefused, rawUpgrade, startGateway, startUpstream, stopAll, until, upgradeHead } from '../helpers/gateway.ts';
import {
  algNone,
  claims,
  expired,
  hs,
  hsWithPublicKeyPem,
  issuedInFuture,
  notYetValid,
  nowSec,
  rawToken,
  signed,
  tamperPayload,
  tamperSignature,
  testKey,
  withoutExp,
} from '../helpers/tokens.ts';

afterEach(stopAll);

async function setup(route: Record<string, unknown> = {}, gwOpts: Record<string, unknown> = {}) {
  const up = await startUpstream();
  const dials = countDials(up);
  const gw = await startGateway([{ path: '/svc', upstream: up.url, ...route }], gwOpts);
  return { up, dials, gw };
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('no token', () => {
  it('→ 401 JSON with WWW-Authenticate before 101, no dial', async () => {
    const { gw, dials } = await setup();
    const r = await expectRefused(gw.url('/svc'));
    expect(r.status).toBe(401);
    expect(r.body).toEqual({ error: 'token_missing', message: expect.any(String) });
    expect(r.headers['www-authenticate']).toMatch(/^Bearer realm="wsgate"/);
    expect(r.headers['content-type']).toMatch(/application\/json/);
    await pause(50);
    expect(dials()).toBe(0);
  });

  it('an empty token, an empty Bearer, another auth scheme → 401, no dial', async () => {
    const { gw, dials } = await setup();
    expect((await expectRefused(`${gw.url('/svc')}?token=`)).status).toBe(401);
    expect((await expectRefused(gw.url('/svc'), undefined, { headers: { Authorization: 'Bearer ' } })).status).toBe(401);
    expect((await expectRefused(gw.url('/svc'), undefined, { headers: { Authorization: 'Basic dXNlcjpwYXNz' } })).status).toBe(401);
    expect(dials()).toBe(0);
  });

  it('a route with auth: false needs no token', async () => {
    const { gw, dials } = await setup({ auth: false });
    const c = await connectClient(gw.url('/svc'));
    c.ws.send('open');
    expect((await c.next()).text).toBe('open');
    expect(dials()).toBe(1);
  });
});

describe('bad tokens → 401/403, never a dial', () => {
  const cases: Array<[string, () => Promise<string> | string, number, string]> = [
    ['alg none', () => algNone(), 401, 'token_invalid'],
    ['alg NONE', () => algNone(claims(), 'NONE'), 401, 'token_invalid'],
    ['tampered payload', async () => tamperPayload(await hs(), claims({ sub: 'admin' })), 401, 'token_invalid'],
    ['tampered signature', async () => tamperSignature(await hs()), 401, 'token_invalid'],
    ['wrong secret', () => hs(claims(), { secret: new TextEncoder().encode('another-secret-another-secret-another-secret') }), 401, 'token_invalid'],
    ['HS384 when secret allows it but signature is bogus', () => rawToken({ alg: 'HS384' }, claims()), 401, 'token_invalid'],
    ['two segments', () => 'abc.def', 401, 'token_malformed'],
    ['garbage', () => 'not-a-jwt', 401, 'token_malformed'],
    ['expired', () => expired(), 401, 'token_expired'],
    ['missing exp', () => withoutExp(), 401, 'token_claim_invalid'],
    ['exp not a number', () => hs(claims({ exp: 'tomorrow' })), 401, 'token_claim_invalid'],
    ['nbf in the future', () => notYetValid(), 401, 'token_not_yet_valid'],
    ['iat in the future', () => issuedInFuture(), 401, 'token_not_yet_valid'],
  ];

  it.each(cases)('%s → %i %s, WWW-Authenticate, no dial', async (_n, make, status, code) => {
    const { gw, dials } = await setup();
    const token = await make();
    const r = await expectRefused(gw.url('/svc', token));
    expect(r.status).toBe(status);
    expect(r.body.error).toBe(code);
    expect(r.headers['www-authenticate']).toMatch(/^Bearer realm="wsgate", error="invalid_(token|request)"/);
    expect(JSON.stringify(r.body)).not.toContain(token);
    await pause(30);
    expect(dials()).toBe(0);
  });

  it('HS256 signed with the route RSA public key PEM → 401 (key confusion); the real RS256 token works', async () => {
    const key = await testKey('RS256', 'b2-confusion');
    const { gw, dials } = await setup({ auth: { publicKey: key.pem } });
    const r = await expectRefused(gw.url('/svc', await hsWithPublicKeyPem(key.pem)));
    expect(r.status).toBe(401);
    expect(r.body.error).toBe('token_invalid');
    // Also with a trailing-newline-free PEM, which some libraries use as the HMAC key.
    const r2 = await expectRefused(gw.url('/svc', await hsWithPublicKeyPem(key.pem.trim())));
    expect(r2.status).toBe(401);
    expect((await expectRefused(gw.url('/svc', algNone()))).status).toBe(401);
    expect(dials()).toBe(0);
    const c = await connectClient(gw.url('/svc', await signed(key)));
    c.ws.send('rsa');
    expect((await c.next()).text).toBe('rsa');
    expect(dials()).toBe(1);
  });

  it('an algorithm outside the route allowlist → 401', async () => {
    const { gw, dials } = await setup({ auth: { algorithms: ['HS384'] } });
    const r = await expectRefused(gw.url('/svc', await hs()));
    expect(r.status).toBe(401);
    expect(dials()).toBe(0);
    await connectClient(gw.url('/svc', await hs(claims(), { alg: 'HS384' })));
    expect(dials()).toBe(1);
  });

  it('missing exp is accepted only where the route allows it', async () => {
    const { gw, dials } = await setup({ auth: { allowMissingExp: true } });
    await connectClient(gw.url('/svc', await withoutExp()));
    expect(dials()).toBe(1);
  });

  it('expired by less than the clock tolerance → accepted; by more → 401', async () => {
    const { gw } = await setup({ auth: { clockToleranceSec: 30 } });
    await connectClient(gw.url('/svc', await expired(5)));
    expect((await expectRefused(gw.url('/svc', await expired(60)))).status).toBe(401);
  });

  it('wrong iss, wrong aud, aud array without ours → 401; right ones → 101', async () => {
    const { gw, dials } = await setup({ auth: { issuer: 'https://issuer.test', audience: 'wsgate' } });
    const bad = [
      claims({ iss: 'https://evil.test', aud: 'wsgate' }),
      claims({ aud: 'wsgate' }),
      claims({ iss: 'https://issuer.test', aud: 'other' }),
      claims({ iss: 'https://issuer.test', aud: ['a', 'b'] }),
      claims({ iss: 'https://issuer.test' }),
    ];
    for (const c of bad) {
      const r = await expectRefused(gw.url('/svc', await hs(c)));
      expect(r.status, JSON.stringify(c)).toBe(401);
      expect(r.body.error).toBe('token_claim_invalid');
    }
    expect(dials()).toBe(0);
    await connectClient(gw.url('/svc', await hs(claims({ iss: 'https://issuer.test', aud: ['x', 'wsgate'] }))));
    expect(dials()).toBe(1);
  });

  it('via env: JWT_ISSUER / JWT_AUDIENCE apply gateway-wide', async () => {
    const { gw, dials } = await setup({}, { env: { JWT_ISSUER: 'iss-env', JWT_AUDIENCE: 'aud-env' } });
    expect((await expectRefused(gw.url('/svc', await hs(claims({ iss: 'iss-env', aud: 'nope' }))))).status).toBe(401);
    await connectClient(gw.url('/svc', await hs(claims({ iss: 'iss-env', aud: 'aud-env' }))));
    expect(dials()).toBe(1);
  });

  it('requiredClaims not met → 403 with insufficient_scope; met → 101', async () => {
    const { gw, dials } = await setup({ auth: { requiredClaims: { role: 'admin', scope: 'chat:write' } } });
    for (const c of [claims({ role: 'user', scope: 'chat:write' }), claims({ role: 'admin' }), claims({ role: 'admin', scope: 'chat:read' })]) {
      const r = await expectRefused(gw.url('/svc', await hs(c)));
      expect(r.status).toBe(403);
      expect(r.body.error).toBe('token_forbidden');
      expect(r.headers['www-authenticate']).toContain('insufficient_scope');
    }
    expect(dials()).toBe(0);
    await connectClient(gw.url('/svc', await hs(claims({ role: 'admin', scope: 'chat:read chat:write' }))));
    expect(dials()).toBe(1);
  });
});

describe('token carriers', () => {
  it('Authorization: Bearer works (any case of "bearer")', async () => {
    const { gw, up } = await setup();
    const token = await hs(claims({ sub: 'hdr-user' }));
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const c = await connectClient(gw.url('/svc'), undefined, { headers: { Authorization: `${scheme} ${token}` } });
      c.ws.send(scheme);
      expect((await c.next()).text).toBe(scheme);
    }
    const seen = up.connections[0]!;
    expect(seen.headers['x-user-id']).toBe('hdr-user');
    expect(seen.headers.authorization).toBeUndefined();
  });

  it('tokenFrom restricts the carriers', async () => {
    const { gw } = await setup({ auth: { tokenFrom: ['header'] } });
    const token = await hs();
    expect((await expectRefused(gw.url('/svc', token))).status).toBe(401);
    await connectClient(gw.url('/svc'), undefined, { headers: { Authorization: `Bearer ${token}` } });
  });

  it('token in query and Authorization → 400 token_ambiguous, no dial (also two query tokens, or two carriers)', async () => {
    const { gw, dials } = await setup();
    const token = await hs();
    const r = await expectRefused(gw.url('/svc', token), undefined, { headers: { Authorization: `Bearer ${token}` } });
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('token_ambiguous');
    expect((await expectRefused(`${gw.url('/svc', token)}&token=${token}`)).status).toBe(400);
    expect((await expectRefused(gw.url('/svc', token), ['chat', `bearer.${token}`])).status).toBe(400);
    const raw = await rawUpgrade(gw.port, upgradeHead('/svc', { Authorization: `Bearer ${token}`, 'Sec-WebSocket-Protocol': `bearer.${token}` }));
    expect(raw.status).toBe(400);
    expect(dials()).toBe(0);
  });
});

describe('no token in any log line (or metric)', () => {
  it('accepted, relayed, rejected and closed handshakes log JSON lines with no token substring', async () => {
    const lines: string[] = [];
    const { gw } = await setup({}, { log: createLogger('debug', (l) => lines.push(l)) });
    const good = await hs(claims({ sub: 'log-user' }));
    const tokens = [good, await expired(), await notYetValid(), tamperSignature(good), await hs(claims({ exp: undefined })), algNone()];
    const c = await connectClient(gw.url('/svc', good));
    c.ws.send('payload-secret-123');
    await c.next();
    const c2 = await connectClient(gw.url('/svc'), undefined, { headers: { Authorization: `Bearer ${good}` } });
    const c3 = await connectClient(gw.url('/svc'), ['x', `bearer.${good}`]).catch(() => undefined);
    for (const t of tokens.slice(1)) await expectRefused(gw.url('/svc', t));
    for (const t of tokens.slice(1)) await expectRefused(gw.url('/svc'), undefined, { headers: { Authorization: `Bearer ${t}` } });
    await expectRefused(gw.url('/svc', good), undefined, { headers: { Authorization: `Bearer ${good}` } });
    c.ws.close(1000);
    c2.ws.close(1000);
    c3?.ws.close(1000);
    await until(() => gw.app.gateway.registry.size === 0, 3000, 'registry empty');
    const metrics = await (await gw.http('/metrics')).text();

    expect(lines.length).toBeGreaterThan(5);
    for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
    expect(lines.some((l) => l.includes('"handshake_rejected"'))).toBe(true);
    expect(lines.some((l) => l.includes('"open"'))).toBe(true);
    const all = lines.join('\n') + metrics;
    for (const t of tokens) {
      const [h, p, s] = t.split('.');
      expect(all).not.toContain(t);
      if (s) expect(all).not.toContain(s);
      expect(all).not.toContain(`${h}.${p}`);
      expect(all).not.toContain(p!);
    }
    expect(all).not.toContain('payload-secret-123');
  });
});

describe('what reaches the upstream', () => {
  it('no token param (other params kept, in order), no Authorization, identity and forwarding headers', async () => {
    const { gw, up } = await setup();
    const token = await hs(claims({ sub: 'alice' }));
    // Authorization with another scheme (Basic) plus a query token is not ambiguous, and is not forwarded.
    await connectClient(`${gw.url('/svc')}?a=1&token=${token}&b=two%20words&a=3&d=x%2Fy`, undefined, { headers: { Authorization: 'Basic Zm9vOmJhcg==' } });
    const seen = await up.nextConnection();
    const q = new URL(seen.url, 'http://x').searchParams;
    expect([...q]).toEqual([['a', '1'], ['b', 'two words'], ['a', '3'], ['d', 'x/y']]);
    expect(seen.url).not.toContain('token');
    expect(seen.url.startsWith('/?')).toBe(true);
    expect(seen.headers.authorization).toBeUndefined();
    expect(JSON.stringify(seen.headers)).not.toContain(token.split('.')[2]!);
    expect(seen.headers['x-user-id']).toBe('alice');
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-host']).toBe(`127.0.0.1:${gw.port}`);
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  // Regression: the client's query must keep its exact spelling upstream (no form re-encoding).
  it('the remaining query reaches the upstream with its exact spelling (no form re-encoding)', async () => {
    const { gw, up } = await setup();
    const token = await hs();
    await connectClient(`${gw.url('/svc')}?a=1&token=${token}&b=two%20words&a=3&c&e=%7Etilde`);
    const seen = await up.nextConnection();
    expect(seen.url).toBe('/?a=1&b=two%20words&a=3&c&e=%7Etilde');
  });

  it('a Bearer header is not forwarded by default; the token query param with a custom name is stripped', async () => {
    const { gw, up } = await setup({ auth: { queryParam: 'access_token' } });
    const token = await hs();
    await connectClient(gw.url('/svc'), undefined, { headers: { Authorization: `Bearer ${token}` } });
    await connectClient(`${gw.url('/svc')}?access_token=${token}&token=keep-me`);
    const [h, q] = [await up.nextConnection(), await up.nextConnection()];
    expect(h.headers.authorization).toBeUndefined();
    expect(q.url).toBe('/?token=keep-me');
  });

  it('forwardToken: true sends Authorization: Bearer <token> upstream (and still strips the query param)', async () => {
    const { gw, up } = await setup({ forwardToken: true });
    const token = await hs();
    await connectClient(`${gw.url('/svc', token)}&z=9`);
    const seen = await up.nextConnection();
    expect(seen.headers.authorization).toBe(`Bearer ${token}`);
    expect(seen.url).toBe('/?z=9');
  });

  it('claimHeaders map chosen verified claims; a client cannot spoof them', async () => {
    const { gw, up } = await setup({ claimHeaders: { sub: 'X-User-Id', tenant: 'X-Tenant', roles: 'X-Roles' } });
    const token = await hs(claims({ sub: 'bob', tenant: 't1', roles: ['a', 'b'] }));
    await connectClient(gw.url('/svc', token), undefined, { headers: { 'X-User-Id': 'mallory', 'X-Tenant': 'evil', 'X-Request-Id': 'spoofed' } });
    const seen = await up.nextConnection();
    expect(seen.headers['x-user-id']).toBe('bob');
    expect(seen.headers['x-tenant']).toBe('t1');
    expect(seen.headers['x-roles']).toBe('["a","b"]');
    expect(seen.headers['x-request-id']).not.toBe('spoofed');
  });
});

describe('token expiry on a live connection', () => {
  it('closed with 4401 at exp + clockTolerance, and at exp + clockTolerance + expiryGraceSec on a route with a grace', async () => {
    const up = await startUpstream();
    const gw = await startGateway([
      { path: '/svc', upstream: up.url, auth: { clockToleranceSec: 0 } },
      { path: '/tol', upstream: up.url, auth: { clockToleranceSec: 1 } },
      { path: '/grace', upstream: up.url, auth: { clockToleranceSec: 0, expiryGraceSec: 1 } },
    ]);
    const exp = nowSec() + 2;
    const token = await hs(claims({ exp }));
    const a = await connectClient(gw.url('/svc', token));
    const t = await connectClient(gw.url('/tol', token));
    const b = await connectClient(gw.url('/grace', token));
    const at = (c: typeof a) => c.closed.then((x) => ({ ...x, at: Date.now() }));
    const [tA, tT, tB] = [at(a), at(t), at(b)];
    // Still relaying before exp.
    a.ws.send('before');
    expect((await a.next()).text).toBe('before');
    const [ca, ct, cb] = await Promise.all([tA, tT, tB]);
    for (const c of [ca, ct, cb]) expect(c.code).toBe(4401);
    expect(ca.at).toBeGreaterThanOrEqual(exp * 1000 - 50);
    expect(ca.at).toBeLessThan(exp * 1000 + 1200);
    expect(ct.at).toBeGreaterThanOrEqual(exp * 1000 + 1000 - 50);
    expect(ct.at).toBeLessThan(exp * 1000 + 2200);
    expect(cb.at).toBeGreaterThanOrEqual(exp * 1000 + 1000 - 50);
    expect(cb.at).toBeLessThan(exp * 1000 + 2200);
    await until(() => gw.app.gateway.registry.size === 0 && up.wss.clients.size === 0, 4000, 'cleanup after expiry');
  });

  it('a token accepted inside the clock tolerance (expired 5 s ago, tolerance 30 s) stays open, and closes with 4401 when the tolerance runs out', async () => {
    const up = await startUpstream();
    const gw = await startGateway([
      { path: '/svc', upstream: up.url },
      { path: '/short', upstream: up.url, auth: { clockToleranceSec: 7 } },
    ]);
    const c = await connectClient(gw.url('/svc', await expired(5)));
    const exp = nowSec() - 5;
    const s = await connectClient(gw.url('/short', await hs(claims({ exp }))));
    const sClosed = s.closed.then((x) => ({ ...x, at: Date.now() }));
    // The old rule (close at exp + grace) closed both at once.
    await new Promise((r) => setTimeout(r, 1000));
    expect(c.ws.readyState).toBe(1);
    c.ws.send('still here');
    expect((await c.next()).text).toBe('still here');
    // exp + 7 s tolerance: about 2 s after connecting.
    const closed = await sClosed;
    expect(closed.code).toBe(4401);
    expect(closed.at).toBeGreaterThanOrEqual((exp + 7) * 1000 - 50);
    expect(closed.at).toBeLessThan((exp + 7) * 1000 + 2000);
  });
});

