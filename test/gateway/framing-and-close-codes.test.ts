/**
 * Framing violations from the client, written as raw frames, and close
 * codes relayed in both directions.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { closePayload, connectClient, encodeFrame, rawClient, startGateway, startRawUpstream, startUpstream, stopAll, type RawPeer, type UpstreamConnection } from '../helpers/gateway.ts';

afterEach(stopAll);

const TEXT = 1;
const BIN = 2;
const CLOSE = 8;
const PING = 9;
const PONG = 10;

async function setup() {
  const up = await startUpstream();
  const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: 'off' }]);
  return { up, gw };
}

function upstreamClosed(conn: UpstreamConnection): Promise<{ code: number; reason: string; at: number }> {
  return new Promise((r) => conn.ws.once('close', (code, reason) => r({ code, reason: reason.toString(), at: Date.now() })));
}

/** Send `frames` on a fresh raw client and expect a close frame with `code`; the upstream is closed too. */
async function expectViolation(frames: Buffer[], code: number) {
  const { up, gw } = await setup();
  const c = await rawClient(gw.port, '/r');
  const conn = await up.nextConnection();
  const upClose = upstreamClosed(conn);
  for (const f of frames) c.send(f);
  const got = await c.closeFrame(3000);
  expect(got.code).toBe(code);
  c.socket.destroy();
  const u = await upClose;
  expect(u.code).toBeGreaterThanOrEqual(1000);
  expect(gw.app.gateway.registry.size).toBe(0);
  return { c, u };
}

describe('client framing violations', () => {
  it('an unmasked client frame → close 1002', async () => {
    await expectViolation([encodeFrame(TEXT, 'hi', { mask: false })], 1002);
  });

  it('reserved bits set (RSV1, no extension negotiated) → close 1002', async () => {
    await expectViolation([encodeFrame(TEXT, 'hi', { rsv: 4 })], 1002);
  });

  it('RSV2/RSV3 set → close 1002', async () => {
    await expectViolation([encodeFrame(BIN, 'hi', { rsv: 2 })], 1002);
    await stopAll();
    await expectViolation([encodeFrame(BIN, 'hi', { rsv: 1 })], 1002);
  });

  it('reserved opcodes (3 and 0xB) → close 1002', async () => {
    await expectViolation([encodeFrame(3, 'x')], 1002);
    await stopAll();
    await expectViolation([encodeFrame(0xb, 'x')], 1002);
  });

  it('a control frame with a payload over 125 bytes → close 1002', async () => {
    await expectViolation([encodeFrame(PING, Buffer.alloc(126, 1))], 1002);
  });

  it('a fragmented control frame → close 1002', async () => {
    await expectViolation([encodeFrame(PING, 'abc', { fin: false })], 1002);
  });

  it('a stray continuation frame → close 1002', async () => {
    await expectViolation([encodeFrame(0, 'orphan')], 1002);
  });

  it('a new data frame while a fragmented message is open → close 1002', async () => {
    await expectViolation([encodeFrame(TEXT, 'part', { fin: false }), encodeFrame(TEXT, 'again')], 1002);
  });

  it('invalid UTF-8 in a text message → close 1007', async () => {
    await expectViolation([encodeFrame(TEXT, Buffer.from([0x68, 0xc3, 0x28, 0x69]))], 1007);
  });

  it('invalid UTF-8 across fragments → close 1007', async () => {
    // 0xF0 0x9F starts a 4-byte sequence; the continuation then breaks it.
    await expectViolation([encodeFrame(TEXT, Buffer.from([0x61, 0xf0, 0x9f]), { fin: false }), encodeFrame(0, Buffer.from([0x41, 0x42]))], 1007);
  });

  it('invalid UTF-8 in a close reason → close 1007', async () => {
    await expectViolation([encodeFrame(CLOSE, Buffer.concat([closePayload(1000), Buffer.from([0xff, 0xfe])]))], 1007);
  });

  it('invalid close codes (1005, 999, 1004, 1006, 2000, 5000) → close 1002', async () => {
    for (const code of [1005, 999, 1004, 1006, 2000, 5000]) {
      await expectViolation([encodeFrame(CLOSE, closePayload(code, 'x'))], 1002);
      await stopAll();
    }
  });

  it('a close frame with a 1-byte payload → close 1002', async () => {
    await expectViolation([encodeFrame(CLOSE, Buffer.from([3]))], 1002);
  });

  it('a valid close code (4001 with a reason) is relayed to the upstream', async () => {
    const { up, gw } = await setup();
    const c = await rawClient(gw.port, '/r');
    const conn = await up.nextConnection();
    const upClose = upstreamClosed(conn);
    c.send(encodeFrame(CLOSE, closePayload(4001, 'custom reason')));
    const u = await upClose;
    expect(u).toMatchObject({ code: 4001, reason: 'custom reason' });
    // The gateway finishes the close handshake with the client.
    const echoed = await c.closeFrame(3000);
    expect(echoed.code).toBe(4001);
  });

  it('a client ping gets a pong with the same payload', async () => {
    const { gw } = await setup();
    const c = await rawClient(gw.port, '/r');
    const payload = Buffer.from('ping-payload-\u00e9-123');
    c.send(encodeFrame(PING, payload));
    const f = await c.nextFrame(2000);
    expect(f.opcode).toBe(PONG);
    expect(f.masked).toBe(false);
    expect(f.payload.equals(payload)).toBe(true);
    // And with the ws client: the pong event carries the payload.
    const ws = await connectClient(gw.url('/r'));
    const got = new Promise<Buffer>((r) => ws.ws.once('pong', (d) => r(d)));
    ws.ws.ping(Buffer.from([0, 1, 2, 255]));
    expect([...(await got)]).toEqual([0, 1, 2, 255]);
  });

  it('a well-formed fragmented text message is relayed as one message', async () => {
    const { up, gw } = await setup();
    const c = await rawClient(gw.port, '/r');
    const conn = await up.nextConnection();
    const got = new Promise<[string, boolean]>((r) => conn.ws.once('message', (d, b) => r([String(d), b])));
    c.send(encodeFrame(TEXT, 'hel', { fin: false }));
    c.send(encodeFrame(PING, 'mid')); // control frames may be interleaved
    c.send(encodeFrame(0, 'lo €', { fin: true }));
    expect(await got).toEqual(['hello €', false]);
    const echo = await c.nextFrame(); // the pong first, then the echo
    const echo2 = echo.opcode === PONG ? await c.nextFrame() : echo;
    expect(echo2.opcode).toBe(TEXT);
    expect(echo2.payload.toString()).toBe('hello €');
  });
});

describe('close codes upstream → client', () => {
  for (const [code, reason] of [
    [1000, 'normal bye'],
    [1001, 'going away'],
    [4001, 'app specific'],
    [4999, 'last app code'],
    [1012, 'service restart'], // relayed so the client knows to reconnect
    [1011, 'internal'],
    [3000, 'registered'],
  ] as const) {
    it(`upstream closes ${code} '${reason}' → client gets ${code} and the reason`, async () => {
      const { up, gw } = await setup();
      const c = await connectClient(gw.url('/r'));
      const conn = await up.nextConnection();
      conn.ws.close(code, reason);
      expect(await c.closed).toEqual({ code, reason });
      expect(gw.app.gateway.registry.size).toBe(0);
    });
  }

  it('upstream sends a close frame without a code (1005) → client gets 1000', async () => {
    const { up, gw } = await setup();
    const c = await connectClient(gw.url('/r'));
    const conn = await up.nextConnection();
    conn.ws.close();
    expect((await c.closed).code).toBe(1000);
  });

  it('upstream TCP drop mid-session → client gets 1014 in under a second', async () => {
    const { up, gw } = await setup();
    const c = await connectClient(gw.url('/r'));
    const conn = await up.nextConnection();
    c.ws.send('before');
    await c.next();
    const t0 = Date.now();
    conn.ws.terminate();
    const closed = await c.closed;
    expect(closed.code).toBe(1014);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(gw.app.gateway.registry.size).toBe(0);
  });

  it('upstream sends invalid UTF-8 text → upstream closed with 1007, client gets 1014', async () => {
    let peer!: RawPeer;
    const up = await startRawUpstream('accept', (p) => (peer = p));
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: 'off' }]);
    const c = await connectClient(gw.url('/r'));
    await up.nextPeer();
    peer.send(encodeFrame(TEXT, 'fine', { mask: false }));
    expect((await c.next()).text).toBe('fine');
    peer.send(encodeFrame(TEXT, Buffer.from([0xc0, 0xaf]), { mask: false }));
    const closed = await c.closed;
    expect(closed.code).toBe(1014);
    const toUpstream = await peer.closeFrame(3000);
    expect(toUpstream.code).toBe(1007);
  });

  it('upstream sends a masked frame (server frames must not be masked) → client gets 1014, upstream 1002', async () => {
    let peer!: RawPeer;
    const up = await startRawUpstream('accept', (p) => (peer = p));
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: 'off' }]);
    const c = await connectClient(gw.url('/r'));
    await up.nextPeer();
    peer.send(encodeFrame(TEXT, 'masked', { mask: true }));
    expect((await c.closed).code).toBe(1014);
    expect((await peer.closeFrame(3000)).code).toBe(1002);
  });

  it('upstream sends an invalid close code (1005 on the wire) → client gets 1014', async () => {
    let peer!: RawPeer;
    const up = await startRawUpstream('accept', (p) => (peer = p));
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: 'off' }]);
    const c = await connectClient(gw.url('/r'));
    await up.nextPeer();
    peer.send(encodeFrame(CLOSE, closePayload(1005, 'bad'), { mask: false }));
    expect((await c.closed).code).toBe(1014);
  });
});

describe('close codes client → upstream', () => {
  it("client closes 4000 'bye' → upstream gets 4000 'bye'", async () => {
    const { up, gw } = await setup();
    const c = await connectClient(gw.url('/r'));
    const conn = await up.nextConnection();
    const upClose = upstreamClosed(conn);
    c.ws.close(4000, 'bye');
    expect(await upClose).toMatchObject({ code: 4000, reason: 'bye' });
    expect((await c.closed).code).toBe(4000);
    expect(gw.app.gateway.registry.size).toBe(0);
  });

  it('client closes 1000 → upstream gets 1000; client closes with no code → upstream gets 1000', async () => {
    const { up, gw } = await setup();
    const c1 = await connectClient(gw.url('/r'));
    const conn1 = await up.nextConnection();
    const up1 = upstreamClosed(conn1);
    c1.ws.close(1000, 'done');
    expect(await up1).toMatchObject({ code: 1000, reason: 'done' });
    const c2 = await rawClient(gw.port, '/r');
    const conn2 = await up.nextConnection();
    const up2 = upstreamClosed(conn2);
    c2.send(encodeFrame(CLOSE));
    expect((await up2).code).toBe(1000);
  });

  it('client TCP drop → upstream gets 1001 within a second', async () => {
    const { up, gw } = await setup();
    const c = await connectClient(gw.url('/r'));
    const conn = await up.nextConnection();
    const upClose = upstreamClosed(conn);
    const t0 = Date.now();
    c.ws.terminate();
    const u = await upClose;
    expect(u.code).toBe(1001);
    expect(u.at - t0).toBeLessThan(1000);
    expect(gw.app.gateway.registry.size).toBe(0);
  });
});
