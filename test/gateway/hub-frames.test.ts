/**
 * Hub connections on Node read frames themselves (the gateway is the WebSocket endpoint, no `ws`
 * server object per connection): raw frames from a client — fragments with a ping between them,
 * binary, text split across TCP writes, invalid UTF-8, an unmasked frame, an oversized message,
 * the close handshake — and what the hub answers, byte for byte.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { closePayload, encodeFrame, OP, rawClient, startGateway, stopAll, type RawPeer } from '../helpers/gateway.ts';

afterEach(stopAll);

const { TEXT, BIN, CLOSE, PING, PONG } = OP;

async function hub(extra: Record<string, unknown> = {}) {
  return startGateway([{ path: '/h', channel: 'raw', auth: false, heartbeat: 'off', presenceEvents: false, echo: true, maxMessageBytes: 1024, ...extra }]);
}
/** The next data frame's envelope (skipping control frames). */
async function nextMessage(c: RawPeer): Promise<Record<string, unknown>> {
  for (;;) {
    const f = await c.nextFrame(3000);
    if (f.opcode === TEXT) return JSON.parse(f.payload.toString()) as Record<string, unknown>;
  }
}

describe('hub connections read their own frames (Node)', () => {
  it('a text message in three fragments with a ping between them arrives whole; the ping gets its pong first', async () => {
    const gw = await hub();
    const c = await rawClient(gw.port, '/h');
    c.send(encodeFrame(TEXT, 'hé', { fin: false }));
    c.send(encodeFrame(PING, 'p1'));
    c.send(encodeFrame(0, 'llo ', { fin: false }));
    const last = encodeFrame(0, 'wörld');
    c.send(last.subarray(0, 3)); // a header split across TCP writes
    await new Promise((r) => setTimeout(r, 20));
    c.send(last.subarray(3));
    const pong = await c.nextFrame(3000);
    expect([pong.opcode, pong.payload.toString(), pong.masked]).toEqual([PONG, 'p1', false]);
    expect(await nextMessage(c)).toMatchObject({ type: 'message', channel: 'raw', data: 'héllo wörld' });
    c.send(encodeFrame(BIN, Buffer.from([0, 255, 7])));
    const bin = await c.nextFrame(3000);
    expect([bin.opcode, [...bin.payload]]).toEqual([BIN, [0, 255, 7]]);
    c.send(encodeFrame(CLOSE, closePayload(1000, 'bye')));
    expect(await c.closeFrame(3000)).toEqual({ code: 1000, reason: 'bye' });
    await c.ended;
    expect(gw.app.gateway.registry.size).toBe(0);
  });

  it('invalid UTF-8 in a text message (split inside a code point across fragments) → 1007', async () => {
    const gw = await hub();
    const c = await rawClient(gw.port, '/h');
    c.send(encodeFrame(TEXT, Buffer.from([0x68, 0xc3]), { fin: false }));
    c.send(encodeFrame(0, Buffer.from([0x28])));
    expect((await c.closeFrame(3000)).code).toBe(1007);
  });

  it('an unmasked frame → 1002; a message over maxMessageBytes (across fragments) → 1009 before it is buffered', async () => {
    const gw = await hub();
    const a = await rawClient(gw.port, '/h');
    a.send(encodeFrame(TEXT, 'hi', { mask: false }));
    expect((await a.closeFrame(3000)).code).toBe(1002);
    const b = await rawClient(gw.port, '/h');
    b.send(encodeFrame(TEXT, 'x'.repeat(600), { fin: false }));
    b.send(encodeFrame(0, 'x'.repeat(600)));
    expect((await b.closeFrame(3000)).code).toBe(1009);
  });

  it('a broadcast reaches every member as the same frame, and a member that goes away mid-message is dropped', async () => {
    const gw = await hub();
    const [a, b] = await Promise.all([rawClient(gw.port, '/h'), rawClient(gw.port, '/h')]);
    for (let i = 0; i < 50 && gw.app.gateway.registry.size !== 2; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await gw.app.gateway.publish('raw', 'to all')).toBe(2); // recipients (presence)
    const [fa, fb] = await Promise.all([a.nextFrame(3000), b.nextFrame(3000)]);
    expect(fa.payload.equals(fb.payload)).toBe(true);
    expect(JSON.parse(fa.payload.toString())).toMatchObject({ type: 'message', channel: 'raw', from: null, data: 'to all' });
    b.send(encodeFrame(TEXT, 'half', { fin: false }));
    b.socket.destroy();
    await b.ended;
    for (let i = 0; i < 50 && gw.app.gateway.registry.size !== 1; i++) await new Promise((r) => setTimeout(r, 20));
    expect(gw.app.gateway.registry.size).toBe(1);
  });
});
