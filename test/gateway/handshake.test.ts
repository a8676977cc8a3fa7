/**
 * Handshake shape, routing and origin through a real gateway on loopback: malformed handshakes,
 * path tricks, origins, URL and header limits, handshakes per IP. Slowloris and TCP resets are in
 * resets.test.ts.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { startJwksServer } from '../helpers/jwks-server.ts';
import {
  connectClient,
  countDials,
  expectRefused,
  rawUpgrade,
  startGateway,
  startSilentServer,
  startUpstream,
  stopAll,
  until,
  upgradeHead,
} from '../helpers/gateway.ts';
import { claims, hs, jwksOf, signed, testKey } from '../helpers/tokens.ts';

afterEach(stopAll);

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const acceptFor = (key: string) => createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');

async function echoSetup(routeExtra: Record<string, unknown> = {}, gwOpts: Record<string, unknown> = {}) {
  const up = await startUpstream();
  const dials = countDials(up);
  const gw = await startGateway([{ path: '/echo', upstream: up.url, ...routeExtra }], gwOpts);
  return { up, dials, gw, token: await hs() };
}

describe('valid handshakes', () => {
  it('101 with the RFC 6455 Sec-WebSocket-Accept, upstream dialled exactly once', async () => {
    const { up, dials, gw, token } = await echoSetup();
    const res = await rawUpgrade(gw.port, upgradeHead(`/echo?token=${token}`));
    expect(res.status).toBe(101);
    expect(res.headers['sec-websocket-accept']).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    expect(res.headers['sec-websocket-accept']).toBe(acceptFor(KEY));
    expect(res.headers.upgrade?.toLowerCase()).toBe('websocket');
    await until(() => up.connections.length === 1, 2000, 'upstream connection');
    await new Promise((r) => setTimeout(r, 100));
    expect(dials()).toBe(1);
    expect(up.connections).toHaveLength(1);
    expect(gw.app.gateway.registry.size).toBe(1);
  });

  it('another random key gets its own accept value; a ws client works end to end', async () => {
    const { dials, gw, token } = await echoSetup();
    const key = Buffer.from('0123456789abcdef').toString('base64');
    const res = await rawUpgrade(gw.port, upgradeHead(`/echo?token=${token}`, { 'Sec-WebSocket-Key': key }));
    expect(res.status).toBe(101);
    expect(res.headers['sec-websocket-accept']).toBe(acceptFor(key));
    const c = await connectClient(gw.url('/echo', token));
    c.ws.send('ping-1');
    expect((await c.next()).text).toBe('ping-1');
    expect(dials()).toBe(2);
  });

  it.each(['WebSocket', 'WEBSOCKET', 'websocket'])('Upgrade: %s is accepted (case-insensitive)', async (value) => {
    const { dials, gw, token } = await echoSetup();
    const res = await rawUpgrade(gw.port, upgradeHead(`/echo?token=${token}`, { Upgrade: value, Connection: 'keep-alive, Upgrade' }));
    expect(res.status).toBe(101);
    expect(res.headers['sec-websocket-accept']).toBe(acceptFor(KEY));
    expect(dials()).toBe(1);
  });
});

describe('malformed, wrong version, wrong method, unknown route: no dial', () => {
  it.each([
    ['missing key', { 'Sec-WebSocket-Key': undefined }],
    ['key not base64', { 'Sec-WebSocket-Key': 'not a key!!' }],
    ['key of 15 bytes', { 'Sec-WebSocket-Key': Buffer.alloc(15, 1).toString('base64') }],
    ['key of 17 bytes', { 'Sec-WebSocket-Key': Buffer.alloc(17, 1).toString('base64') }],
    ['empty key', { 'Sec-WebSocket-Key': '' }],
  ])('%s → 400 JSON, no upstream dial', async (_name, extra) => {
    const { dials, gw, token } = await echoSetup();
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(extra)) if (v !== undefined) headers[k] = v;
    let head = upgradeHead(`/echo?token=${token}`, headers);
    if (extra['Sec-WebSocket-Key'] === undefined) head = head.replace(/Sec-WebSocket-Key: [^\r]*\r\n/, '');
    const res = await rawUpgrade(gw.port, head);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(JSON.parse(res.body)).toMatchObject({ error: 'bad_handshake' });
    await new Promise((r) => setTimeout(r, 50));
    expect(dials()).toBe(0);
    expect(gw.app.gateway.registry.size).toBe(0);
  });

  it.each(['12', '8', '14', ''])('Sec-WebSocket-Version %j → 426 with Sec-WebSocket-Version: 13, never 101', async (v) => {
    const { dials, gw, token } = await echoSetup();
    const res = await rawUpgrade(gw.port, upgradeHead(`/echo?token=${token}`, { 'Sec-WebSocket-Version': v }));
    expect(res.status).toBe(426);
    expect(res.headers['sec-websocket-version']).toBe('13');
    expect(JSON.parse(res.body)).toMatchObject({ error: 'unsupported_version' });
    expect(dials()).toBe(0);
  });

  it('POST and PUT with upgrade headers → 405 JSON with Allow: GET, no auth, no dial', async () => {
    const { dials, gw } = await echoSetup();
    for (const method of ['POST', 'PUT', 'DELETE']) {
      // A bad token: if auth ran, this would be 401.
      const res = await rawUpgrade(gw.port, upgradeHead('/echo?token=garbage').replace(/^GET/, method));
      expect(res.status).toBe(405);
      expect(res.headers.allow).toBe('GET');
      expect(JSON.parse(res.body)).toMatchObject({ error: 'method_not_allowed' });
    }
    expect(dials()).toBe(0);
  });

  it('HEAD with upgrade headers → 4xx, no dial', async () => {
    const { dials, gw } = await echoSetup();
    const res = await rawUpgrade(gw.port, upgradeHead('/echo?token=garbage').replace(/^GET/, 'HEAD'));
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(dials()).toBe(0);
  });

  it('plain GET on a route path → 426 JSON with a hint and Upgrade header, no auth work, no dial', async () => {
    const { dials, gw } = await echoSetup();
    const res = await gw.http('/echo?token=garbage');
    expect(res.status).toBe(426);
    expect(res.headers.get('upgrade')).toBe('websocket');
    const body = (await res.json()) as { error: string; message: string };
    expect(body.error).toBe('upgrade_required');
    expect(body.message).toMatch(/ws:\/\/.*\/echo\?token=/);
    expect(body.message).not.toContain('garbage');
    const post = await gw.http('/echo', { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(dials()).toBe(0);
  });

  it('unknown route → 404 JSON before auth (bad token, no dial), also for plain GET', async () => {
    const { dials, gw } = await echoSetup();
    const res = await rawUpgrade(gw.port, upgradeHead('/nope?token=garbage'));
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body)).toMatchObject({ error: 'not_found' });
    const r = await expectRefused(gw.url('/echo/extra', 'garbage'));
    expect(r.status).toBe(404);
    const plain = await gw.http('/nope');
    expect(plain.status).toBe(404);
    expect(await plain.json()).toMatchObject({ error: 'not_found' });
    expect(dials()).toBe(0);
  });
});

describe('path tricks never escape the upstream template', () => {
  const tricks = [
    '/room/%2e%2e',
    '/room/%2E%2E',
    '/room/..%2Fadmin',
    '/room/..%2f..%2fadmin',
    '/room/%2e%2e%2fadmin',
    '//evil.com/x',
    '//evil.com/room/x',
    '/room/@evil.com',
    '/room/user@evil.com:80',
    '/room/x%0d%0aHost:%20evil.com',
    '/room/x%0aX-Injected:%201',
    '/room/%00',
    '/room/x%23frag',
    '/room/x%3Fq=1',
    '/room/http:%2F%2Fevil.com',
    '/room/%E0%A4%A',
  ];

  it.each(tricks)('%s → refused before any dial, or relayed to exactly /rooms/<one segment> on the template host', async (path) => {
    const up = await startUpstream();
    const dials = countDials(up);
    const evil = await startUpstream();
    const evilDials = countDials(evil);
    const gw = await startGateway([{ path: '/room/:id', upstream: `${up.url}/rooms/:id` }]);
    const token = await hs();
    const res = await rawUpgrade(gw.port, upgradeHead(`${path}?token=${token}`, { Host: `127.0.0.1:${evil.port}` }));
    await new Promise((r) => setTimeout(r, 50));
    expect(evilDials()).toBe(0);
    if (res.status === 101) {
      await until(() => up.connections.length === 1, 2000, 'upstream connection');
      const seen = up.connections[0]!;
      expect(seen.url).toMatch(/^\/rooms\/[^/?#]+$/);
      const seg = decodeURIComponent(seen.url.slice('/rooms/'.length));
      expect(seg).not.toMatch(/^\.\.?$/);
      expect(seg).not.toMatch(/[\r\n\0]/);
      expect(seen.headers.host).toBe(`127.0.0.1:${up.port}`);
      expect(seen.headers['x-injected']).toBeUndefined();
      expect(dials()).toBe(1);
    } else {
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(dials()).toBe(0);
    }
  });

  it('dot-segment and CR/LF params are refused outright (400/404: dot segments are resolved by the URL parser first), never dialled', async () => {
    const up = await startUpstream();
    const dials = countDials(up);
    const gw = await startGateway([{ path: '/room/:id', upstream: `${up.url}/rooms/:id` }]);
    const token = await hs();
    for (const p of ['/room/%2e%2e', '/room/.', '/room/%2e', '/room/x%0d%0ay']) {
      const res = await rawUpgrade(gw.port, upgradeHead(`${p}?token=${token}`));
      expect([400, 404], p).toContain(res.status);
    }
    expect(dials()).toBe(0);
  });

  it('a normal param and query pass unchanged: /rooms/<param>?<query without token>', async () => {
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/room/:id', upstream: `${up.url}/rooms/:id` }]);
    const token = await hs();
    await connectClient(gw.url(`/room/lobby%20one?x=1&y=a%2Fb`, token));
    const seen = await up.nextConnection();
    expect(seen.url).toBe('/rooms/lobby%20one?x=1&y=a%2Fb');
  });

  it('an absolute-form request target never selects the host', async () => {
    const up = await startUpstream();
    const evil = await startUpstream();
    const evilDials = countDials(evil);
    const gw = await startGateway([{ path: '/room/:id', upstream: `${up.url}/rooms/:id` }]);
    const token = await hs();
    const res = await rawUpgrade(gw.port, upgradeHead(`http://127.0.0.1:${evil.port}/room/a?token=${token}`));
    await new Promise((r) => setTimeout(r, 50));
    expect(evilDials()).toBe(0);
    if (res.status === 101) expect((await up.nextConnection()).url).toBe('/rooms/a');
    else expect(res.status).toBeLessThan(500);
  });
});

describe('origin', () => {
  const origins = ['https://app.test', 'https://*.example.com'];

  it.each([
    ['not listed', 'https://attacker.test'],
    ['null', 'null'],
    ['look-alike suffix', 'https://evilexample.com'],
    ['suffix without subdomain label', 'https://.example.com'],
    ['listed host on another scheme', 'http://app.test'],
    ['listed host with a port', 'https://app.test:8443'],
    ['subdomain pattern with a path trick', 'https://a.example.com.evil.test'],
    // Not origins at all: parsed, these are evil.io with a query, a fragment, a path or userinfo.
    ['query trick', 'https://evil.io?.example.com'],
    ['fragment trick', 'https://evil.io#.example.com'],
    ['backslash trick', 'https://evil.io\\.example.com'],
    ['slash trick', 'https://evil.io/.example.com'],
    ['userinfo trick', 'https://a.example.com@evil.io'],
    ['userinfo trick on an exact entry', 'https://app.test@evil.io'],
    ['pattern host on another port', 'https://a.example.com:8443'],
  ])('%s (%s) → 403 before JWT verification (bad token, no dial)', async (_n, origin) => {
    const { dials, gw } = await echoSetup({ origins });
    const r = await expectRefused(gw.url('/echo', 'not-a-jwt'), undefined, { origin });
    expect(r.status).toBe(403);
    expect(r.body.error).toBe('origin_not_allowed');
    const r2 = await expectRefused(gw.url('/echo'), undefined, { origin });
    expect(r2.status).toBe(403);
    expect(dials()).toBe(0);
  });

  it.each(['https://app.test', 'https://a.example.com', 'https://deep.sub.example.com', 'HTTPS://APP.TEST', 'https://app.test:443'])(
    'allowed origin %s with a valid token → 101',
    async (origin) => {
      const { gw, token, dials } = await echoSetup({ origins });
      const c = await connectClient(gw.url('/echo', token), undefined, { origin });
      c.ws.send('hi');
      expect((await c.next()).text).toBe('hi');
      expect(dials()).toBe(1);
    },
  );

  it('allowed origin with a bad token → 401 (origin passes, then auth)', async () => {
    const { gw } = await echoSetup({ origins });
    const r = await expectRefused(gw.url('/echo', 'not-a-jwt'), undefined, { origin: 'https://app.test' });
    expect(r.status).toBe(401);
  });

  it('missing Origin is allowed by default (native clients)', async () => {
    const { gw, token } = await echoSetup({ origins });
    const res = await rawUpgrade(gw.port, upgradeHead(`/echo?token=${token}`));
    expect(res.status).toBe(101);
  });

  it('missing Origin → 403 with allowMissingOrigin: false, before auth', async () => {
    const { gw, token, dials } = await echoSetup({ origins, allowMissingOrigin: false });
    const res = await rawUpgrade(gw.port, upgradeHead(`/echo?token=${token}`));
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body)).toMatchObject({ error: 'origin_not_allowed' });
    const bad = await rawUpgrade(gw.port, upgradeHead('/echo?token=garbage'));
    expect(bad.status).toBe(403);
    const ok = await rawUpgrade(gw.port, upgradeHead(`/echo?token=${token}`, { Origin: 'https://app.test' }));
    expect(ok.status).toBe(101);
    expect(dials()).toBe(1);
  });
});

describe('subprotocol token carrier', () => {
  it('bearer.<jwt> is accepted, never echoed, never forwarded; the 101 carries the upstream choice', async () => {
    const offeredUpstream: string[][] = [];
    const up = await startUpstream({
      handleProtocols: (p) => {
        offeredUpstream.push([...p]);
        return p.has('chat.v2') ? 'chat.v2' : false;
      },
    });
    const gw = await startGateway([{ path: '/echo', upstream: up.url }]);
    const token = await hs();
    const c = await connectClient(gw.url('/echo'), ['chat.v1', `bearer.${token}`, 'chat.v2']);
    expect(c.ws.protocol).toBe('chat.v2');
    const seen = await up.nextConnection();
    expect(offeredUpstream[0]).toEqual(['chat.v1', 'chat.v2']);
    expect(String(seen.headers['sec-websocket-protocol'])).not.toContain(token);
    expect(JSON.stringify(seen.headers)).not.toContain(token.split('.')[2]!);
    expect(seen.url).toBe('/');
    c.ws.send('x');
    expect((await c.next()).text).toBe('x');
  });

  it('only a carrier offered: 101 without any Sec-WebSocket-Protocol (raw)', async () => {
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/echo', upstream: up.url }]);
    const token = await hs();
    const res = await rawUpgrade(gw.port, upgradeHead('/echo', { 'Sec-WebSocket-Protocol': `bearer.${token}` }));
    expect(res.status).toBe(101);
    expect(res.headers['sec-websocket-protocol']).toBeUndefined();
    expect(res.raw).not.toContain(token);
    const seen = await up.nextConnection();
    expect(seen.headers['sec-websocket-protocol']).toBeUndefined();
  });

  it('upstream picks a protocol: exactly that one in the 101, never the carrier', async () => {
    const up = await startUpstream({ handleProtocols: () => 'mqtt' });
    const gw = await startGateway([{ path: '/echo', upstream: up.url }]);
    const token = await hs();
    const res = await rawUpgrade(gw.port, upgradeHead('/echo', { 'Sec-WebSocket-Protocol': `bearer.${token}, mqtt` }));
    expect(res.status).toBe(101);
    expect(res.headers['sec-websocket-protocol']).toBe('mqtt');
    expect(res.raw).not.toContain(token);
  });

  it('a bad carrier token → 401, body and headers do not contain it', async () => {
    const { gw, dials } = await echoSetup();
    const bad = (await hs(claims({ exp: 1 })));
    const res = await rawUpgrade(gw.port, upgradeHead('/echo', { 'Sec-WebSocket-Protocol': `chat, bearer.${bad}` }));
    expect(res.status).toBe(401);
    expect(res.raw).not.toContain(bad.split('.')[2]!);
    expect(dials()).toBe(0);
  });
});

describe('oversized requests', () => {
  it('URL over 8192 bytes → 414 JSON, no token parsing (a bad token is not 401), no dial', async () => {
    const { gw, dials, token } = await echoSetup();
    const long = 'a'.repeat(8300);
    const res = await rawUpgrade(gw.port, upgradeHead(`/echo?pad=${long}&token=garbage`));
    expect(res.status).toBe(414);
    expect(JSON.parse(res.body)).toMatchObject({ error: 'uri_too_long' });
    const res2 = await rawUpgrade(gw.port, upgradeHead(`/echo?pad=${long}&token=${token}`));
    expect(res2.status).toBe(414);
    expect(dials()).toBe(0);
  });

  it('URL just under the limit is fine', async () => {
    const { gw, token } = await echoSetup();
    const pad = 'a'.repeat(8192 - 400 - token.length);
    const res = await rawUpgrade(gw.port, upgradeHead(`/echo?pad=${pad}&token=${token}`));
    expect(res.status).toBe(101);
  });

  it('maxUrlBytes option lowers the limit', async () => {
    const { gw, token } = await echoSetup({}, { maxUrlBytes: 1024 });
    const res = await rawUpgrade(gw.port, upgradeHead(`/echo?pad=${'b'.repeat(1100)}&token=${token}`));
    expect(res.status).toBe(414);
  });

  it('headers over 16 KB → 431, no dial', async () => {
    const { gw, dials, token } = await echoSetup();
    const res = await rawUpgrade(gw.port, upgradeHead(`/echo?token=${token}`, { 'X-Big': 'x'.repeat(17 * 1024) }));
    expect(res.status).toBe(431);
    const many: Record<string, string> = {};
    for (let i = 0; i < 200; i++) many[`X-H${i}`] = 'y'.repeat(100);
    const res2 = await rawUpgrade(gw.port, upgradeHead(`/echo?token=${token}`, many));
    expect(res2.status).toBe(431);
    expect(dials()).toBe(0);
  });
});

describe('per-IP handshake cap', () => {
  it('half-open upgrades from one IP past maxHandshakesPerIp → 429; other IPs still connect; after they finish a new one succeeds', async () => {
    const hung = await startSilentServer();
    const up = await startUpstream();
    const gw = await startGateway(
      [
        { path: '/hung', upstream: hung.url, connectTimeoutMs: 1500 },
        { path: '/echo', upstream: up.url },
      ],
      { maxHandshakesPerIp: 3 },
    );
    const token = await hs();
    const started = Date.now();
    const inflight = [1, 2, 3].map(() => rawUpgrade(gw.port, upgradeHead(`/hung?token=${token}`), 5000));
    await until(() => hung.accepted() === 3, 3000, 'three dials to the hung upstream');
    const refused = await rawUpgrade(gw.port, upgradeHead(`/echo?token=${token}`));
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.body)).toMatchObject({ error: 'too_many_connections' });
    // Another source address (127.0.0.2 is loopback too on Linux) is not affected.
    const other = await rawUpgrade(gw.port, upgradeHead(`/echo?token=${token}`), 3000, '127.0.0.2');
    expect(other.status).toBe(101);
    // The hung ones end with 504 after connectTimeoutMs, then this IP may connect again.
    const ended = await Promise.all(inflight);
    for (const r of ended) expect(r.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(4000);
    const again = await rawUpgrade(gw.port, upgradeHead(`/echo?token=${token}`));
    expect(again.status).toBe(101);
  });

  it('the cap follows X-Forwarded-For only from a trusted proxy', async () => {
    const hung = await startSilentServer();
    const up = await startUpstream();
    const gw = await startGateway(
      [
        { path: '/hung', upstream: hung.url, connectTimeoutMs: 1500 },
        { path: '/echo', upstream: up.url },
      ],
      { maxHandshakesPerIp: 2, trustedProxies: ['127.0.0.1'] },
    );
    const token = await hs();
    const inflight = [1, 2].map(() => rawUpgrade(gw.port, upgradeHead(`/hung?token=${token}`, { 'X-Forwarded-For': '10.0.0.1' }), 5000));
    await until(() => hung.accepted() === 2, 3000, 'two dials');
    expect((await rawUpgrade(gw.port, upgradeHead(`/echo?token=${token}`, { 'X-Forwarded-For': '10.0.0.1' }))).status).toBe(429);
    expect((await rawUpgrade(gw.port, upgradeHead(`/echo?token=${token}`, { 'X-Forwarded-For': '10.0.0.2' }))).status).toBe(101);
    const seen = up.connections.at(-1)!;
    // The chain: the client, then the trusted proxy it came through.
    expect(seen.headers['x-forwarded-for']).toBe('10.0.0.2, 127.0.0.1');
    await Promise.all(inflight);
  });
});

describe('no auth work before the cheap checks', () => {
  it('405, 426, 400, 404, 403 and 414 answers never fetch the JWKS or dial the upstream', async () => {
    const key = await testKey('ES256', 'no-auth-work');
    const jwks = await startJwksServer(jwksOf(key));
    const up = await startUpstream();
    const dials = countDials(up);
    const gw = await startGateway([{ path: '/j', upstream: up.url, origins: ['https://app.test'], auth: { jwksUrl: jwks.url } }]);
    try {
      const token = await signed(key);
      const cases: Array<[string, number]> = [
        [upgradeHead(`/j?token=${token}`).replace(/^GET/, 'POST'), 405],
        [`GET /j?token=${token} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 426],
        [upgradeHead(`/j?token=${token}`, { 'Sec-WebSocket-Key': 'short' }), 400],
        [upgradeHead(`/j?token=${token}`, { 'Sec-WebSocket-Version': '12' }), 426],
        [upgradeHead(`/nope?token=${token}`), 404],
        [upgradeHead(`/j?token=${token}`, { Origin: 'https://evil.test' }), 403],
        [upgradeHead(`/j?pad=${'p'.repeat(9000)}&token=${token}`), 414],
      ];
      for (const [req, status] of cases) expect((await rawUpgrade(gw.port, req)).status, req.slice(0, 40)).toBe(status);
      expect(jwks.total).toBe(0);
      expect(dials()).toBe(0);
      // The same token with a good request does fetch the keys and connects.
      expect((await rawUpgrade(gw.port, upgradeHead(`/j?token=${token}`, { Origin: 'https://app.test' }))).status).toBe(101);
      expect(jwks.fetches).toBe(1);
    } finally {
      await jwks.close();
    }
  });
});

describe('slow JWKS', () => {
  it('JWKS slower than its timeout → 503 within the timeout (+ slack), no dial', async () => {
    const key = await testKey('RS256', 'a15-slow');
    const jwks = await startJwksServer(jwksOf(key));
    jwks.delayMs = 4000;
    const up = await startUpstream();
    const dials = countDials(up);
    const gw = await startGateway([{ path: '/j', upstream: up.url, auth: { jwksUrl: jwks.url, jwks: { timeoutMs: 800 } } }]);
    try {
      const t0 = Date.now();
      const r = await expectRefused(gw.url('/j', await signed(key)));
      const took = Date.now() - t0;
      expect([503, 401]).toContain(r.status);
      expect(r.status).toBe(503);
      expect(r.body.error).toBe('jwks_unavailable');
      expect(took).toBeLessThan(800 + 700);
      expect(dials()).toBe(0);
    } finally {
      jwks.delayMs = 0;
      await jwks.close();
    }
  });
});
