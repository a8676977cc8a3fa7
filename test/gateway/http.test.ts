/**
 * The HTTP side of the gateway (metric labels never carry a user id or token):
 * /healthz, /readyz, /metrics in Prometheus text, unknown path 404 JSON.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connectClient, expectRefused, freePort, rawUpgrade, startGateway, startUpstream, stopAll, until, upgradeHead } from '../helpers/gateway.ts';
import { createLogger } from '../../src/log.ts';
import { startJwksServer } from '../helpers/jwks-server.ts';
import { claims, expired, hs, jwksOf, nowSec, signed, testKey } from '../helpers/tokens.ts';

afterEach(stopAll);

/** The value of one series in a Prometheus text exposition, or undefined. */
function series(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${labels[k]}"`)
    .join(',');
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    if ((m[2] ?? '') === want) return Number(m[3]);
  }
  return undefined;
}

describe('probes', () => {
  it('/healthz 200 JSON; /readyz 200 ready with the connection count', async () => {
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/svc', upstream: up.url }]);
    const h = await gw.http('/healthz');
    expect(h.status).toBe(200);
    expect(await h.json()).toEqual({ status: 'ok' });
    await connectClient(gw.url('/svc', await hs()));
    const r = await gw.http('/readyz');
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ status: 'ready', reasons: [], connections: 1 });
  });

  it('/readyz 503 while draining; /healthz stays 200', async () => {
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/svc', upstream: up.url }]);
    expect((await gw.http('/readyz')).status).toBe(200);
    const drained = gw.app.gateway.drain({ windowMs: 100, deadlineMs: 500 });
    const r = await gw.http('/readyz');
    expect(r.status).toBe(503);
    expect(await r.json()).toMatchObject({ status: 'not_ready', reasons: ['draining'] });
    expect((await gw.http('/healthz')).status).toBe(200);
    await drained;
    expect((await gw.http('/readyz')).status).toBe(503);
  });

  it('unknown paths → 404 JSON for GET and POST, also / and a sub-path of a route', async () => {
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/svc', upstream: up.url }]);
    for (const [path, init] of [['/nope', undefined], ['/svc/deeper', undefined], ['/nope', { method: 'POST', body: 'x' }], ['/', undefined]] as const) {
      const r = await gw.http(path, init);
      expect(r.status, path).toBe(404);
      expect(r.headers.get('content-type')).toMatch(/application\/json/);
      expect(await r.json()).toMatchObject({ error: 'not_found', message: expect.any(String) });
    }
  });
});

describe('/metrics', () => {
  it('Prometheus text with connections, handshakes by outcome, messages/bytes, upstream failures, heartbeat timeouts', async () => {
    const up = await startUpstream();
    const down = await freePort();
    const gw = await startGateway([
      { path: '/svc', upstream: up.url },
      { path: '/down', upstream: `ws://127.0.0.1:${down}` },
      { path: '/hb', upstream: up.url, heartbeat: { intervalMs: 100, timeoutMs: 100 } },
    ]);
    const token = await hs(claims({ sub: 'metrics-user' }));

    const c = await connectClient(gw.url('/svc', token));
    c.ws.send('hello'); // 5 bytes
    c.ws.send(Buffer.alloc(10), { binary: true });
    await c.next();
    await c.next();
    await expectRefused(gw.url('/svc'));
    await expectRefused(gw.url('/svc', 'bad.token.x'));
    expect((await expectRefused(gw.url('/down', token))).status).toBe(502);
    // A raw client that never answers pings: a heartbeat timeout on the client leg.
    const raw = await rawUpgrade(gw.port, upgradeHead(`/hb?token=${token}`));
    expect(raw.status).toBe(101);

    let text = '';
    await until(async () => {
      text = await (await gw.http('/metrics')).text();
      return (series(text, 'wsgate_heartbeat_timeouts_total', { route: '/hb', leg: 'client' }) ?? 0) >= 1;
    }, 4000, 'a heartbeat timeout in /metrics');
    const res = await gw.http('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    text = await res.text();

    expect(text).toContain('# TYPE wsgate_connections_open gauge');
    expect(series(text, 'wsgate_connections_open', { route: '/svc' })).toBe(1);
    expect(text).toContain('# TYPE wsgate_handshakes_total counter');
    expect(series(text, 'wsgate_handshakes_total', { route: '/svc', outcome: 'accepted' })).toBe(1);
    expect(series(text, 'wsgate_handshakes_total', { route: '/svc', outcome: 'token_missing' })).toBe(1);
    expect(series(text, 'wsgate_handshakes_total', { route: '/svc', outcome: 'token_malformed' })).toBe(1);
    expect(series(text, 'wsgate_handshakes_total', { route: '/down', outcome: 'upstream_unavailable' })).toBe(1);
    expect(series(text, 'wsgate_messages_total', { route: '/svc', direction: 'in' })).toBe(2);
    expect(series(text, 'wsgate_messages_total', { route: '/svc', direction: 'out' })).toBe(2);
    expect(series(text, 'wsgate_bytes_total', { route: '/svc', direction: 'in' })).toBe(15);
    expect(series(text, 'wsgate_bytes_total', { route: '/svc', direction: 'out' })).toBe(15);
    expect(series(text, 'wsgate_upstream_connect_failures_total', { route: '/down', kind: 'unavailable' })).toBe(1);
    expect(series(text, 'wsgate_heartbeat_timeouts_total', { route: '/hb', leg: 'client' })).toBe(1);
    expect(text).toMatch(/^wsgate_closes_total\{.*cause="heartbeat".*\} 1$/m);
    // No user id or token in any label: they would leak identities and explode cardinality.
    expect(text).not.toContain('metrics-user');
    expect(text).not.toContain(token.split('.')[2]!);

    // Every sample line is well-formed.
    for (const line of text.trim().split('\n')) {
      expect(line).toMatch(/^(# (HELP|TYPE) \S+ .+|[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.e+]+)$/);
    }

    c.ws.close(1000);
    await until(async () => series(await (await gw.http('/metrics')).text(), 'wsgate_connections_open', { route: '/svc' }) === 0, 3000, 'gauge back to 0');
    expect(gw.app.gateway.registry.size).toBe(0);
  });

  it('wsgate_draining flips to 1 during drain', async () => {
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/svc', upstream: up.url }]);
    expect(series(await (await gw.http('/metrics')).text(), 'wsgate_draining')).toBe(0);
    await gw.app.gateway.drain({ windowMs: 10, deadlineMs: 100 });
    expect(series(await (await gw.http('/metrics')).text(), 'wsgate_draining')).toBe(1);
  });
});

describe('K observability', () => {
  it('every close is counted by code and cause (client, upstream, auth expiry, drain)', async () => {
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/svc', upstream: up.url, auth: { clockToleranceSec: 0 } }]);
    const token = await hs();
    const a = await connectClient(gw.url('/svc', token));
    a.ws.close(4000, 'client bye');
    await a.closed;
    const b = await connectClient(gw.url('/svc', token));
    await up.nextConnection(); // a's upstream leg
    const bUp = await up.nextConnection();
    bUp.ws.close(4001, 'upstream bye');
    expect((await b.closed).code).toBe(4001);
    const c = await connectClient(gw.url('/svc', await hs(claims({ exp: nowSec() + 1 }))));
    expect((await c.closed).code).toBe(4401);
    const d = await connectClient(gw.url('/svc', token));
    await gw.app.gateway.drain({ windowMs: 10, deadlineMs: 500 });
    expect((await d.closed).code).toBe(1001);
    const text = await (await gw.http('/metrics')).text();
    expect(series(text, 'wsgate_closes_total', { route: '/svc', code: '4000', cause: 'client' })).toBe(1);
    expect(series(text, 'wsgate_closes_total', { route: '/svc', code: '4001', cause: 'upstream' })).toBe(1);
    expect(series(text, 'wsgate_closes_total', { route: '/svc', code: '4401', cause: 'auth' })).toBe(1);
    expect(series(text, 'wsgate_closes_total', { route: '/svc', code: '1001', cause: 'drain' })).toBe(1);
  });

  // Regression: handshake_rejected lines carry the client IP.
  it('every rejected handshake is logged with route, client IP (trusted-proxy aware), Origin and reason, never the token', async () => {
    const lines: string[] = [];
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/svc', upstream: up.url, origins: ['https://app.test'] }], {
      log: createLogger('debug', (l) => lines.push(l)),
      trustedProxies: ['127.0.0.1'],
    });
    const bad = await expired(600);
    await expectRefused(gw.url('/svc', bad), undefined, { origin: 'https://app.test' });
    await expectRefused(gw.url('/svc', bad), undefined, { origin: 'https://evil.test', headers: { 'X-Forwarded-For': '203.0.113.9' } });
    const rejected = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.event === 'handshake_rejected');
    expect(rejected).toHaveLength(2);
    expect(rejected[0]).toMatchObject({ route: '/svc', code: 'token_expired', origin: 'https://app.test' });
    expect(rejected[1]).toMatchObject({ route: '/svc', code: 'origin_not_allowed', origin: 'https://evil.test' });
    expect(lines.join('\n')).not.toContain(bad.split('.')[2]!);
    expect(rejected[0]).toHaveProperty('ip', '127.0.0.1');
    expect(rejected[1]).toHaveProperty('ip', '203.0.113.9');
  });

  it('JWKS freshness is exposed as a gauge once the keys were fetched', async () => {
    const key = await testKey('ES256', 'k3-gauge');
    const jwks = await startJwksServer(jwksOf(key));
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/j', upstream: up.url, auth: { jwksUrl: jwks.url } }]);
    try {
      await connectClient(gw.url('/j', await signed(key, claims({ exp: nowSec() + 600 }))));
      const text = await (await gw.http('/metrics')).text();
      const age = series(text, 'wsgate_jwks_last_success_age_seconds', { url: jwks.url });
      expect(age).toBeDefined();
      expect(age!).toBeGreaterThanOrEqual(0);
      expect(age!).toBeLessThan(5);
    } finally {
      await jwks.close();
    }
  });
});
