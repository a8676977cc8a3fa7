// JWKS behaviour against a real HTTP server on 127.0.0.1: only the configured URL, shared cold fetches, rotation, failures, freshness.
// Time is an injected clock (no sleeps) except for the fetch timeout, which is real.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors.ts';
import { clearJwksRegistry, createVerifier, getJwksCache, jwksStats, resolveAuth, type AuthExtras, type Verifier } from '../../../src/auth/index.ts';
import type { AuthConfig } from '../../../src/routing/define-route.ts';
import * as t from '../../helpers/tokens.ts';
import { startJwksServer, type JwksServer } from '../../helpers/jwks-server.ts';

const START = Date.now();
let clock = START;
const now = () => clock;
const TUNING = { cooldownMs: 30_000, maxAgeMs: 60_000, staleIfErrorMs: 120_000, timeoutMs: 2_000 };

let servers: JwksServer[] = [];
async function server(body: unknown): Promise<JwksServer> {
  const s = await startJwksServer(body);
  servers.push(s);
  return s;
}

function verifier(url: string, route: AuthConfig & AuthExtras = {}): Verifier {
  const a = resolveAuth({ jwksUrl: url, ...route, jwks: { ...TUNING, ...route.jwks } }, {}, 'jwks-route.ts');
  if (!a) throw new Error('public');
  return createVerifier(a, { now });
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(GatewayError);
  return (e as GatewayError).code;
}

beforeEach(() => {
  clock = START;
  clearJwksRegistry();
});
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

describe('cold start', () => {
  it('200 concurrent handshakes on two routes → one JWKS fetch, all accepted', async () => {
    const k = await t.testKey('RS256');
    const s = await server(t.jwksOf(k));
    s.delayMs = 50;
    const a = verifier(s.url);
    const b = verifier(s.url); // another route, same URL and issuer: same cache
    const tok = await t.signed(k);
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).verify(tok)));
    expect(results.every((r) => r.claims.sub === 'user-1')).toBe(true);
    expect(s.fetches).toBe(1);
  });

  it('caches are per URL + issuer, never shared across issuers', async () => {
    const k = await t.testKey('ES256');
    const s = await server(t.jwksOf(k));
    await verifier(s.url, { issuer: 'a' }).verify(await t.signed(k, t.claims({ iss: 'a' })));
    await verifier(s.url, { issuer: 'b' }).verify(await t.signed(k, t.claims({ iss: 'b' })));
    expect(s.fetches).toBe(2);
  });
});

describe('unknown kids and header tricks', () => {
  it('random unknown kids → token_invalid each, refetch at most once per cooldown', async () => {
    const k = await t.testKey('RS256');
    const s = await server(t.jwksOf(k));
    const v = verifier(s.url);
    await v.warm();
    expect(s.fetches).toBe(1);
    const attacker = await t.testKey('RS256', 'attacker');
    for (let i = 0; i < 50; i++) {
      const tok = await t.signed(attacker, t.claims(), { header: { kid: `kid-${Math.random()}` } });
      expect(await codeOf(v.verify(tok))).toBe('token_invalid');
    }
    expect(s.fetches).toBe(1); // still inside the cooldown after the warm-up fetch
    clock += TUNING.cooldownMs;
    for (let i = 0; i < 20; i++) {
      expect(await codeOf(v.verify(await t.signed(attacker, t.claims(), { header: { kid: `x${i}` } })))).toBe('token_invalid');
    }
    expect(s.fetches).toBe(2); // one refetch for the whole burst
  });

  it('kid path/SQL tricks → token_invalid, only the configured URL is fetched', async () => {
    const k = await t.testKey('RS256');
    const s = await server(t.jwksOf(k));
    const v = verifier(s.url);
    for (const kid of ['../../../etc/passwd', "' OR '1'='1", '%2e%2e/jwks', `${k.kid}\u0000`, 'http://127.0.0.1/x']) {
      expect(await codeOf(v.verify(await t.signed(k, t.claims(), { header: { kid } })))).toBe('token_invalid');
    }
    expect([...s.hits.keys()]).toEqual(['/.well-known/jwks.json']);
  });

  it('jku / x5u / embedded jwk pointing elsewhere are never fetched or trusted', async () => {
    const k = await t.testKey('RS256');
    const s = await server(t.jwksOf(k));
    const attacker = await t.testKey('RS256', 'attacker');
    const evil = await server(t.jwksOf(attacker));
    const v = verifier(s.url);
    for (const kid of [attacker.kid, k.kid]) {
      const header = { kid, jku: `${evil.base}/jwks.json`, x5u: `${evil.base}/cert.pem`, jwk: attacker.jwk };
      expect(await codeOf(v.verify(await t.signed(attacker, t.claims(), { header })))).toBe('token_invalid');
    }
    // and with a configured public key instead of a JWKS
    const pk = resolveAuth({ publicKey: k.pem }, {}, 'pk.ts');
    const vp = createVerifier(pk as Exclude<typeof pk, false>, { now });
    const header = { jku: `${evil.base}/jwks.json`, x5u: `${evil.base}/c`, jwk: attacker.jwk };
    expect(await codeOf(vp.verify(await t.signed(attacker, t.claims(), { header })))).toBe('token_invalid');
    expect(evil.total).toBe(0);
    // a legit token carrying the same headers still verifies against the configured keys only
    expect((await v.verify(await t.signed(k, t.claims(), { header: { jku: `${evil.base}/x` } }))).claims.sub).toBe('user-1');
    expect(evil.total).toBe(0);
  });
});

describe('key rotation', () => {
  it('a new kid is accepted once a refetch (cooldown-limited) sees it; a removed key stops after maxAge', async () => {
    const k1 = await t.testKey('ES256', 'k1');
    const k2 = await t.testKey('ES256', 'k2');
    const s = await server(t.jwksOf(k1));
    const v = verifier(s.url);
    await v.warm();
    s.body = t.jwksOf(k1, k2); // IdP publishes the next key
    clock += 5_000;
    // Documented: within the cooldown after the last fetch a brand-new kid is refused.
    expect(await codeOf(v.verify(await t.signed(k2)))).toBe('token_invalid');
    clock += TUNING.cooldownMs;
    expect((await v.verify(await t.signed(k2))).claims.sub).toBe('user-1');
    expect(s.fetches).toBe(2);
    s.body = t.jwksOf(k2); // old key retired
    expect((await v.verify(await t.signed(k1))).claims.sub).toBe('user-1'); // still cached
    clock += TUNING.maxAgeMs + 1;
    await v.verify(await t.signed(k2)); // triggers the background refresh
    await getJwksCache(s.url, undefined).idle();
    expect(s.fetches).toBe(3);
    expect(await codeOf(v.verify(await t.signed(k1)))).toBe('token_invalid');
  });
});

describe('cold-start failures fail closed', () => {
  it.each(['status503', 'redirect', 'badjson', 'notjwks'] as const)('%s → jwks_unavailable (503), not ready', async (mode) => {
    const k = await t.testKey('RS256');
    const s = await server(t.jwksOf(k));
    s.mode = mode;
    const v = verifier(s.url);
    const e = await v.verify(await t.signed(k)).catch((err: GatewayError) => err);
    expect(e).toBeInstanceOf(GatewayError);
    expect(e).toMatchObject({ code: 'jwks_unavailable', status: 503 });
    expect(v.ready()).toBe(false);
    await expect(v.warm()).rejects.toThrow(/jwks-route\.ts: JWKS .* is unavailable/);
    expect(s.hits.get('/elsewhere.json')).toBeUndefined(); // redirects are not followed
    s.mode = 'ok'; // recovery is picked up on the next handshake
    expect((await v.verify(await t.signed(k))).claims.sub).toBe('user-1');
    expect(v.ready()).toBe(true);
  });

  it('slower than timeoutMs → jwks_unavailable within the timeout', async () => {
    const k = await t.testKey('RS256');
    const s = await server(t.jwksOf(k));
    s.mode = 'slow';
    const v = verifier(s.url, { jwks: { timeoutMs: 300 } });
    const tok = await t.signed(k);
    const t0 = performance.now();
    const codes = await Promise.all([v.verify(tok), v.verify(tok)].map(codeOf));
    const took = performance.now() - t0;
    expect(codes).toEqual(['jwks_unavailable', 'jwks_unavailable']);
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(2_000);
    expect(s.fetches).toBe(1);
  });

  it('ready() on a cold cache starts a background fetch (probes make a fresh gateway ready)', async () => {
    const k = await t.testKey('RS256');
    const s = await server(t.jwksOf(k));
    const v = verifier(s.url);
    expect(v.ready()).toBe(false);
    expect(v.ready()).toBe(false); // coalesced: still one fetch
    await getJwksCache(s.url, undefined).idle();
    expect(s.fetches).toBe(1);
    expect(v.ready()).toBe(true);
  });
});

describe('JWKS down after a warm cache', () => {
  it('stale keys serve for staleIfErrorMs after maxAge, then fail closed; stats show it', async () => {
    const k = await t.testKey('EdDSA');
    const s = await server(t.jwksOf(k));
    const v = verifier(s.url);
    const tok = () => t.signed(k, t.claims({}, clock));
    await v.verify(await tok());
    const stat = () => jwksStats().find((x) => x.url === s.url)!;
    expect(stat()).toMatchObject({ lastSuccessMs: START, fetches: 1, failures: 0, usable: true });

    s.mode = 'status503';
    const cache = getJwksCache(s.url, undefined);
    clock += TUNING.maxAgeMs + 1;
    expect((await v.verify(await tok())).claims.sub).toBe('user-1'); // stale, refresh failing in background
    await cache.idle();
    expect(stat()).toMatchObject({ fetches: 2, failures: 1, lastSuccessMs: START });
    // retried at most once per cooldown while stale
    for (let i = 0; i < 10; i++) await v.verify(await tok());
    await cache.idle();
    expect(stat().fetches).toBe(2);
    clock += TUNING.cooldownMs;
    await v.verify(await tok());
    await cache.idle();
    expect(stat()).toMatchObject({ fetches: 3, failures: 2 });
    expect(v.ready()).toBe(true);

    clock = START + TUNING.maxAgeMs + TUNING.staleIfErrorMs + 1; // window over
    expect(await codeOf(v.verify(await tok()))).toBe('jwks_unavailable');
    expect(v.ready()).toBe(false);
    expect(stat()).toMatchObject({ usable: false, lastSuccessMs: START });

    s.mode = 'ok';
    expect((await v.verify(await tok())).claims.sub).toBe('user-1');
    expect(stat()).toMatchObject({ usable: true, lastSuccessMs: clock });
  });
});
