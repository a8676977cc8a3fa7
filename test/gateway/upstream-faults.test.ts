/**
 * Upstream faults before and after the upgrade, target selection
 * (failover, round-robin, sticky) and a leak check over thousands of connect/disconnect cycles.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { closedPort, connectClient, expectRefused, startGateway, startRawUpstream, startUpstream, stopAll, trackingClock, until } from '../helpers/gateway.ts';
import { claims, hs } from '../helpers/tokens.ts';

afterEach(stopAll);

describe('upstream refuses or stalls the handshake', () => {
  it('upstream port closed → 502 JSON upstream_unavailable, before any 101', async () => {
    const port = await closedPort();
    const gw = await startGateway([{ path: '/r', upstream: `ws://127.0.0.1:${port}`, auth: false }]);
    const t0 = Date.now();
    const r = await expectRefused(gw.url('/r'));
    expect(r.status).toBe(502);
    expect(r.body).toMatchObject({ error: 'upstream_unavailable' });
    expect(typeof r.body.message).toBe('string');
    expect(r.headers['content-type']).toMatch(/application\/json/);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(gw.app.gateway.registry.size).toBe(0);
  });

  it('upstream accepts TCP but never answers → 504 JSON after connectTimeoutMs, never a hang', async () => {
    const up = await startRawUpstream('silent');
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, connectTimeoutMs: 500 }]);
    const t0 = Date.now();
    const r = await expectRefused(gw.url('/r'));
    const took = Date.now() - t0;
    expect(r.status).toBe(504);
    expect(r.body).toMatchObject({ error: 'upstream_timeout' });
    expect(took).toBeGreaterThanOrEqual(450);
    expect(took).toBeLessThan(2500);
    // The stalled upstream socket is released, not left dangling.
    await until(() => up.sockets.every((s) => s.destroyed), 2000, 'upstream socket closed');
  });

  for (const status of [401, 403, 503]) {
    it(`upstream answers HTTP ${status} with a body → 502 JSON, upstream body not leaked`, async () => {
      const secret = `UPSTREAM-SECRET-BODY-${status}`;
      const up = await startRawUpstream({ status, body: `{"error":"${secret}","stack":"at internal.js"}` });
      const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false }]);
      const r = await expectRefused(gw.url('/r'));
      expect(r.status).toBe(502);
      expect(r.body.error).toBe('upstream_rejected');
      expect(JSON.stringify(r.body)).not.toContain('UPSTREAM-SECRET');
      expect(JSON.stringify(r.headers)).not.toContain('UPSTREAM-SECRET');
    });
  }
});

describe('target selection and failover', () => {
  it('upstream [dead, live] → every connection reaches the live one', async () => {
    const dead = `ws://127.0.0.1:${await closedPort()}`;
    const live = await startUpstream();
    const gw = await startGateway([{ path: '/r', upstream: [dead, live.url], auth: false, heartbeat: 'off' }]);
    for (let i = 0; i < 4; i++) {
      const c = await connectClient(gw.url('/r'));
      c.ws.send(`x${i}`);
      expect((await c.next()).text).toBe(`x${i}`);
      c.ws.close();
    }
    expect(live.connections.length).toBe(4);
  });

  it('upstream [stalled, live] → failover after the connect timeout', async () => {
    const stalled = await startRawUpstream('silent');
    const live = await startUpstream();
    const gw = await startGateway([{ path: '/r', upstream: [stalled.url, live.url], auth: false, heartbeat: 'off', connectTimeoutMs: 300 }]);
    const c = await connectClient(gw.url('/r'));
    c.ws.send('ok');
    expect((await c.next()).text).toBe('ok');
  });

  it('round-robin over two live upstreams alternates', async () => {
    const a = await startUpstream();
    const b = await startUpstream();
    const gw = await startGateway([{ path: '/r', upstream: [a.url, b.url], auth: false, heartbeat: 'off' }]);
    const order: string[] = [];
    a.wss.on('connection', () => order.push('a'));
    b.wss.on('connection', () => order.push('b'));
    for (let i = 0; i < 6; i++) await connectClient(gw.url('/r'));
    expect(order.length).toBe(6);
    for (let i = 1; i < order.length; i++) expect(order[i]).not.toBe(order[i - 1]);
    expect(order.filter((x) => x === 'a').length).toBe(3);
  });

  it("balance 'sticky' maps one subject to the same upstream every time", async () => {
    const a = await startUpstream();
    const b = await startUpstream();
    const gw = await startGateway([{ path: '/r', upstream: [a.url, b.url], balance: 'sticky', heartbeat: 'off' }]);
    const seen = new Map<string, Set<string>>();
    const record = (name: string) => (c: { headers: Record<string, unknown> }) => {
      const sub = String(c.headers['x-user-id']);
      if (!seen.has(sub)) seen.set(sub, new Set());
      seen.get(sub)!.add(name);
    };
    a.wss.on('connection', (_ws, req) => record('a')({ headers: req.headers }));
    b.wss.on('connection', (_ws, req) => record('b')({ headers: req.headers }));
    const subs = Array.from({ length: 8 }, (_, i) => `user-${i}`);
    for (let round = 0; round < 3; round++)
      for (const sub of subs) {
        const c = await connectClient(gw.url('/r', await hs(claims({ sub }))));
        c.ws.close();
      }
    await until(() => [...seen.values()].length === subs.length, 2000, 'all subjects seen');
    for (const [sub, ups] of seen) expect(ups.size, `${sub} went to ${[...ups]}`).toBe(1);
    // and the subjects are spread over both targets (8 subjects: both used)
    const used = new Set([...seen.values()].flatMap((s) => [...s]));
    expect(used.size).toBe(2);
  });
});

describe('no leaks after many connect/disconnect cycles', () => {
  it('2,000 cycles (normal closes, client resets, upstream closes) → registry, upstream sockets, heartbeat timers and gauge back to zero', async () => {
    const clock = trackingClock();
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: { intervalMs: 1000, timeoutMs: 1000 } }], { clock });
    const url = gw.url('/r');
    let opened = 0;
    const one = (i: number) =>
      new Promise<void>((resolve) => {
        const ws = new WebSocket(url, { perMessageDeflate: false });
        ws.on('error', () => {});
        ws.on('close', () => resolve());
        ws.on('open', () => {
          opened++;
          const mode = i % 4;
          if (mode === 0) ws.close(1000, 'bye');
          else if (mode === 1) ws.terminate();
          else if (mode === 2) {
            ws.send('x');
            ws.once('message', () => ws.terminate());
          } else {
            ws.send('close-me');
          }
        });
      });
    up.wss.on('connection', (ws) => ws.on('message', (d) => String(d) === 'close-me' && ws.close(4000, 'upstream bye')));
    const total = 2000;
    const batch = 50;
    for (let i = 0; i < total; i += batch) await Promise.all(Array.from({ length: batch }, (_, j) => one(i + j)));
    expect(opened).toBe(total);
    await until(() => gw.app.gateway.registry.size === 0, 5000, `registry empty (${gw.app.gateway.registry.size})`);
    await until(() => up.wss.clients.size === 0, 5000, `upstream sockets closed (${up.wss.clients.size})`);
    const reg = gw.app.gateway.registry;
    expect(reg.indexSizes()).toEqual({ ids: 0, users: 0, channels: 0, routes: 0 });
    await until(() => clock.liveIntervals.size === 0, 3000, `heartbeat intervals released (${clock.liveIntervals.size})`);
    await until(() => clock.liveTimeouts.size === 0, 5000, `session timers released (${clock.liveTimeouts.size})`);
    const metrics = await (await gw.http('/metrics')).text();
    const gauge = metrics.split('\n').find((l) => l.startsWith('wsgate_connections_open{'));
    expect(gauge === undefined || / 0$/.test(gauge), gauge).toBe(true);
  }, 120_000);
});
