/**
 * Heartbeats through real sockets: a client or upstream that stops answering
 * pings is closed within interval + timeout (+ scheduler tick), and cleaned up; a healthy peer is
 * never closed; the data-frame keepalive arrives periodically.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { connectClient, rawClient, startGateway, startUpstream, stopAll, until, type UpstreamConnection } from '../helpers/gateway.ts';
import { claims, hs } from '../helpers/tokens.ts';

afterEach(stopAll);

const HB = { intervalMs: 200, timeoutMs: 200 };
// Ping goes out at most one tick after the interval, the verdict at most one tick after the
// timeout (tick = min(interval, timeout) / 4 = 50 ms); plus slack for this noisy machine.
const TICK = 50;
const DEADLINE = HB.intervalMs + HB.timeoutMs + 2 * TICK + 400;

function upstreamClosed(conn: UpstreamConnection): Promise<{ code: number; reason: string; at: number }> {
  return new Promise((r) => conn.ws.once('close', (code, reason) => r({ code, reason: reason.toString(), at: Date.now() })));
}

/** A ws upstream that does not answer pings (a half-open peer as the gateway sees it). */
async function deafUpstream() {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, autoPong: false });
  await once(wss, 'listening');
  const conns: WebSocket[] = [];
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    conns.push(ws);
  });
  const port = (wss.address() as { port: number }).port;
  return {
    url: `ws://127.0.0.1:${port}`,
    wss,
    conns,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  };
}

describe('client leg', () => {
  it('a ws client with autoPong:false is closed within interval + timeout; upstream closed, registry empty', async () => {
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: HB }]);
    const c = await connectClient(gw.url('/r'), undefined, { autoPong: false });
    const t0 = Date.now();
    const conn = await up.nextConnection();
    const upClose = upstreamClosed(conn);
    let pings = 0;
    c.ws.on('ping', () => pings++);
    await c.closed;
    const took = Date.now() - t0;
    expect(pings).toBeGreaterThanOrEqual(1);
    expect(took).toBeGreaterThanOrEqual(HB.intervalMs + HB.timeoutMs - 20);
    expect(took).toBeLessThan(DEADLINE);
    expect((await upClose).code).toBe(1001);
    expect(gw.app.gateway.registry.size).toBe(0);
    const m = await (await gw.http('/metrics')).text();
    expect(m).toMatch(/wsgate_heartbeat_timeouts_total\{[^}]*leg="client"[^}]*\} 1/);
  });

  it('a raw TCP client that completes the handshake and then ignores everything is closed in time', async () => {
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: HB }]);
    const c = await rawClient(gw.port, '/r');
    const t0 = Date.now();
    await c.ended;
    expect(Date.now() - t0).toBeLessThan(DEADLINE);
    expect(c.frames.some((f) => f.opcode === 9)).toBe(true); // it was pinged
    await until(() => gw.app.gateway.registry.size === 0, 500, 'registry empty');
  });

  it('a deaf client on a hub route loses its presence', async () => {
    const gw = await startGateway([{ path: '/hub/:r', channel: 'hub:{r}', heartbeat: HB }]);
    const channels = gw.app.gateway.channels!;
    await connectClient(gw.url('/hub/x', await hs(claims({ sub: 'deaf' }))), undefined, { autoPong: false });
    const alive = await connectClient(gw.url('/hub/x', await hs(claims({ sub: 'alive' }))));
    await until(async () => (await channels.presence('hub:x')).length === 2, 2000, 'both present');
    await until(async () => (await channels.presence('hub:x')).map((u) => u.user).join() === 'alive', DEADLINE + 500, 'deaf user gone');
    expect(alive.ws.readyState).toBe(1);
  });

  it('a client that answers pings stays open across many intervals, and is pinged', async () => {
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: HB }]);
    const c = await connectClient(gw.url('/r'));
    let pings = 0;
    c.ws.on('ping', () => pings++);
    await new Promise((r) => setTimeout(r, 2000));
    expect(c.ws.readyState).toBe(1);
    expect(pings).toBeGreaterThanOrEqual(4);
    c.ws.send('still here');
    expect((await c.next()).text).toBe('still here');
    expect(gw.app.gateway.registry.size).toBe(1);
  });
});

describe('upstream leg', () => {
  it('an upstream that stops answering pings → client gets 1014 within interval + timeout', async () => {
    const up = await deafUpstream();
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: HB }]);
    try {
      const c = await connectClient(gw.url('/r'));
      const t0 = Date.now();
      const closed = await c.closed;
      const took = Date.now() - t0;
      expect(closed.code).toBe(1014);
      expect(took).toBeGreaterThanOrEqual(HB.intervalMs + HB.timeoutMs - 20);
      expect(took).toBeLessThan(DEADLINE);
      expect(gw.app.gateway.registry.size).toBe(0);
      await until(() => up.wss.clients.size === 0, 1000, 'upstream socket dropped');
    } finally {
      await up.close();
    }
  });

  it('an upstream that keeps sending data but never pongs is still alive (data proves liveness)', async () => {
    const up = await deafUpstream();
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: HB }]);
    try {
      const c = await connectClient(gw.url('/r'));
      await until(() => up.conns.length === 1, 1000, 'upstream connection');
      const t = setInterval(() => up.conns[0]!.send('tick'), 50);
      await new Promise((r) => setTimeout(r, 1200));
      clearInterval(t);
      expect(c.ws.readyState).toBe(1);
      expect(c.messages.length).toBeGreaterThan(10);
    } finally {
      await up.close();
    }
  });
});

describe('data-frame keepalive', () => {
  it('keepaliveMessage arrives periodically on an idle connection', async () => {
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: { ...HB, keepaliveMessage: '{"type":"keepalive"}' } }]);
    const c = await connectClient(gw.url('/r'));
    const at: number[] = [];
    c.ws.on('message', (d) => String(d) === '{"type":"keepalive"}' && at.push(Date.now()));
    await new Promise((r) => setTimeout(r, 1500));
    expect(at.length).toBeGreaterThanOrEqual(4);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    for (const g of gaps) expect(g).toBeLessThan(HB.intervalMs + TICK + 200);
    // The upstream never sees the keepalive.
    const conn = await up.nextConnection();
    expect(conn.ws.readyState).toBe(1);
  });

  it('no keepalive while data flows to the client', async () => {
    const up = await startUpstream({ echo: false });
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: { ...HB, keepaliveMessage: 'KA' } }]);
    const c = await connectClient(gw.url('/r'));
    const conn = await up.nextConnection();
    const t = setInterval(() => conn.ws.send('data'), 40);
    await new Promise((r) => setTimeout(r, 1000));
    clearInterval(t);
    expect(c.messages.filter((m) => m.data.toString() === 'KA').length).toBeLessThanOrEqual(1);
  });
});
