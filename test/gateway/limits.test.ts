/**
 * Per-route limits: message size, fragmented size, message rate and
 * connections per user.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connectClient, encodeFrame, expectRefused, rawClient, startGateway, startUpstream, stopAll, until, type UpstreamConnection } from '../helpers/gateway.ts';
import { claims, hs } from '../helpers/tokens.ts';

afterEach(stopAll);

const MAX = 64 * 1024;

function upstreamClosed(conn: UpstreamConnection): Promise<{ code: number; reason: string }> {
  return new Promise((r) => conn.ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
}

describe('message size', () => {
  it('a message over maxMessageBytes → client gets 1009, upstream is closed, nothing relayed', async () => {
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: 'off', maxMessageBytes: MAX }]);
    const c = await connectClient(gw.url('/r'));
    const conn = await up.nextConnection();
    const got: number[] = [];
    conn.ws.on('message', (d) => got.push((d as Buffer).length));
    const upClose = upstreamClosed(conn);
    c.ws.send(Buffer.alloc(MAX)); // exactly at the limit: fine
    expect((await c.next()).data.length).toBe(MAX);
    c.ws.send(Buffer.alloc(MAX + 1));
    expect((await c.closed).code).toBe(1009);
    await upClose;
    expect(got).toEqual([MAX]);
    await until(() => gw.app.gateway.registry.size === 0, 2000, 'registry empty');
  });

  it('the limit is checked from the frame header, before the payload is buffered', async () => {
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: 'off', maxMessageBytes: MAX }]);
    const c = await rawClient(gw.port, '/r');
    // A header announcing 100 MiB, followed by only a few bytes: the close must come without the rest.
    const head = Buffer.from([0x82, 0xff, 0, 0, 0, 0, 0x06, 0x40, 0, 0, 1, 2, 3, 4]);
    c.send(Buffer.concat([head, Buffer.alloc(16)]));
    expect((await c.closeFrame(2000)).code).toBe(1009);
  });

  it('an upstream message over maxMessageBytes → the client is closed (1009 or 1014), not relayed', async () => {
    const up = await startUpstream({ echo: false });
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: 'off', maxMessageBytes: MAX }]);
    const c = await connectClient(gw.url('/r'));
    const conn = await up.nextConnection();
    const upClose = upstreamClosed(conn);
    conn.ws.send(Buffer.alloc(MAX + 1));
    const closed = await c.closed;
    expect([1009, 1014]).toContain(closed.code);
    expect(c.messages.length).toBe(0);
    expect((await upClose).code).toBe(1009);
  });

  it('fragments summing past maxMessageBytes → 1009', async () => {
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: 'off', maxMessageBytes: MAX }]);
    const c = await rawClient(gw.port, '/r');
    const conn = await up.nextConnection();
    const got: number[] = [];
    conn.ws.on('message', (d) => got.push((d as Buffer).length));
    const part = Buffer.alloc(MAX / 2 - 100, 0x61);
    c.send(encodeFrame(2, part, { fin: false }));
    c.send(encodeFrame(0, part, { fin: false }));
    c.send(encodeFrame(0, Buffer.alloc(300, 0x61), { fin: true }));
    expect((await c.closeFrame(3000)).code).toBe(1009);
    expect(got).toEqual([]);
  });

  it('a flood of tiny fragments → closed with 1008/1009 (fragment cap), process unharmed', async () => {
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: 'off', maxMessageBytes: 1 << 20 }]);
    const c = await rawClient(gw.port, '/r');
    const frames: Buffer[] = [encodeFrame(2, Buffer.alloc(1), { fin: false })];
    for (let i = 0; i < 20_000; i++) frames.push(encodeFrame(0, Buffer.alloc(1), { fin: false }));
    c.send(Buffer.concat(frames));
    const code = (await c.closeFrame(5000)).code;
    expect([1008, 1009]).toContain(code);
    // Another client still works.
    const ok = await connectClient(gw.url('/r'));
    ok.ws.send('alive');
    expect((await ok.next()).text).toBe('alive');
  });
});

describe('message rate', () => {
  it('maxMessagesPerSec exceeded → close 4429; another client on the route is unaffected', async () => {
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: 'off', maxMessagesPerSec: 20 }]);
    const flooder = await connectClient(gw.url('/r'));
    const floodConn = await up.nextConnection();
    let relayed = 0;
    floodConn.ws.on('message', () => relayed++);
    const calm = await connectClient(gw.url('/r'));
    for (let i = 0; i < 200; i++) flooder.ws.send(`f${i}`);
    const closed = await flooder.closed;
    expect(closed.code).toBe(4429);
    // The burst (2x rate) passed before the close, and not much more.
    await until(() => relayed >= 40, 1000, `burst relayed (${relayed})`);
    expect(relayed).toBeLessThanOrEqual(45);
    // The calm client, within its rate, keeps working throughout.
    for (let i = 0; i < 10; i++) {
      calm.ws.send(`c${i}`);
      expect((await calm.next()).text).toBe(`c${i}`);
      await new Promise((r) => setTimeout(r, 60));
    }
    expect(calm.ws.readyState).toBe(1);
  });

  it('a client at a steady rate under the limit is never closed', async () => {
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: 'off', maxMessagesPerSec: 20 }]);
    const c = await connectClient(gw.url('/r'));
    for (let i = 0; i < 30; i++) {
      c.ws.send(`m${i}`);
      await new Promise((r) => setTimeout(r, 70)); // ~14/s
    }
    await until(() => c.messages.length === 30, 2000, 'all echoes');
    expect(c.ws.readyState).toBe(1);
  });
});

describe('connections per user', () => {
  it('maxConnectionsPerUser + 1 → 429 JSON; other users still connect; a freed slot is reusable', async () => {
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/r', upstream: up.url, heartbeat: 'off', maxConnectionsPerUser: 2 }]);
    const tokA = await hs(claims({ sub: 'alice' }));
    const a1 = await connectClient(gw.url('/r', tokA));
    await connectClient(gw.url('/r', tokA));
    const dialsBefore = up.connections.length;
    const r = await expectRefused(gw.url('/r', tokA));
    expect(r.status).toBe(429);
    expect(r.body).toMatchObject({ error: 'too_many_connections' });
    expect(r.headers['content-type']).toMatch(/application\/json/);
    expect(up.connections.length).toBe(dialsBefore); // refused before any upstream dial
    const b = await connectClient(gw.url('/r', await hs(claims({ sub: 'bob' }))));
    b.ws.send('hi');
    expect((await b.next()).text).toBe('hi');
    a1.ws.close();
    await a1.closed;
    await until(() => gw.app.gateway.registry.countUser('alice', '/r') === 1, 2000, 'slot freed');
    await connectClient(gw.url('/r', tokA));
  });
});
