/**
 * Heartbeats keep idle connections alive behind idle timers: "An idle connection stays open for three times
 * the load balancer's idle limit under the matching preset". A TCP proxy with an idle timer (like
 * an LB) sits on both legs: client → proxy → gateway → proxy → upstream. With the real presets
 * the gateway's pings keep both proxies from cutting; the control shows the proxy does cut an idle
 * connection when heartbeats are off.
 *
 * The long cases run concurrently, so this file stops everything in afterAll (afterEach would
 * tear down the long tests when the short control finishes).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { connectClient, startGateway, startUpstream, stopAll } from '../helpers/gateway.ts';
import { startIdleProxy, type IdleProxy } from '../helpers/idle-proxy.ts';
import type { HeartbeatPreset } from '../../src/index.ts';

const proxies: IdleProxy[] = [];
afterAll(async () => {
  for (const p of proxies.splice(0)) await p.close();
  await stopAll();
});

async function chain(heartbeat: HeartbeatPreset, idleMs: number) {
  const up = await startUpstream();
  const upProxy = await startIdleProxy({ targetPort: up.port, idleMs });
  proxies.push(upProxy);
  const gw = await startGateway([{ path: '/r', upstream: `ws://127.0.0.1:${upProxy.port}`, auth: false, heartbeat }]);
  const clientProxy = await startIdleProxy({ targetPort: gw.port, idleMs });
  proxies.push(clientProxy);
  const c = await connectClient(`ws://127.0.0.1:${clientProxy.port}/r`);
  return { up, gw, c, upProxy, clientProxy };
}

async function survivesIdle(preset: HeartbeatPreset, lbIdleMs: number) {
  const { up, c, upProxy, clientProxy } = await chain(preset, lbIdleMs);
  c.ws.send('before');
  expect((await c.next()).text).toBe('before');
  let closed: { code: number } | undefined;
  void c.closed.then((x) => (closed = x));
  const bytesBefore = clientProxy.bytes.down;
  await new Promise((r) => setTimeout(r, 3 * lbIdleMs)); // no data message either way
  expect(closed, `closed with ${closed?.code}`).toBeUndefined();
  expect(clientProxy.cuts).toBe(0);
  expect(upProxy.cuts).toBe(0);
  expect(clientProxy.bytes.down).toBeGreaterThan(bytesBefore); // pings did cross the client-side proxy
  expect(c.ws.readyState).toBe(1);
  expect(up.connections.length).toBe(1); // the same upstream connection, never re-dialled
  c.ws.send('after');
  expect((await c.next(5000)).text).toBe('after');
}

describe('idle connections behind load-balancer idle timers', () => {
  it.concurrent("'alibaba-clb' preset survives 45 s idle behind 15 s idle proxies on both legs", () => survivesIdle('alibaba-clb', 15_000), 75_000);

  it.concurrent("'aws-alb' preset survives 180 s idle behind 60 s idle proxies on both legs", () => survivesIdle('aws-alb', 60_000), 220_000);

  it.concurrent('control: with heartbeat off, a 1 s idle proxy does cut the idle connection', async () => {
    const { c, upProxy, clientProxy } = await chain('off', 1000);
    c.ws.send('hello');
    expect((await c.next()).text).toBe('hello');
    const t0 = Date.now();
    const closed = await c.closed;
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(3000);
    expect(clientProxy.cuts + upProxy.cuts).toBeGreaterThanOrEqual(1);
    expect([1006, 1014]).toContain(closed.code);
  }, 10_000);
});
