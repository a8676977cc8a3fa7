/**
 * The relay path end to end: text/binary type, order and bytes
 * preserved both ways, 0-byte and 16 MiB messages, messages sent right after `open` on either
 * side, and subprotocol negotiation (the client sees the upstream's choice).
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { connectClient, rawRequest, startGateway, startUpstream, stopAll, until, upgradeHead } from '../helpers/gateway.ts';

afterEach(stopAll);

type Msg = { data: Buffer; isBinary: boolean };

/** SHA-256 over a sequence of messages: type, length and bytes of each, in order. */
function seqHash(msgs: Msg[]): string {
  const h = createHash('sha256');
  for (const m of msgs) {
    const head = Buffer.alloc(5);
    head[0] = m.isBinary ? 2 : 1;
    head.writeUInt32BE(m.data.length, 1);
    h.update(head).update(m.data);
  }
  return h.digest('hex');
}

/** Random messages: mixed text (valid UTF-8, multibyte included) and binary, 0..64 KB. */
function randomMessages(n: number): Msg[] {
  const out: Msg[] = [];
  const alphabet = ['a', 'Z', '0', ' ', 'é', 'ß', '€', '中', '😀', '\n', '\u0000'];
  for (let i = 0; i < n; i++) {
    const size = i % 10 === 0 ? 0 : randomInt(0, 64 * 1024);
    if (i % 2 === 0) out.push({ data: randomBytes(size), isBinary: true });
    else {
      const parts: string[] = [];
      let bytes = 0;
      while (bytes < size) {
        const p = alphabet[randomInt(alphabet.length)]!.repeat(randomInt(1, 64));
        parts.push(p);
        bytes += Buffer.byteLength(p);
      }
      out.push({ data: Buffer.from(parts.join('')), isBinary: false });
    }
  }
  return out;
}

describe('relay: bytes, types and order', () => {
  it('many random text/binary messages arrive unchanged and in order, both ways', async () => {
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: 'off' }]);
    const atUpstream: Msg[] = [];
    const c = await connectClient(gw.url('/r'));
    const conn = await up.nextConnection();
    conn.ws.on('message', (d, isBinary) => atUpstream.push({ data: d as Buffer, isBinary }));
    const sent = randomMessages(400);
    for (const m of sent) c.ws.send(m.data, { binary: m.isBinary });
    await until(() => c.messages.length >= sent.length, 20_000, `all echoes (${c.messages.length}/${sent.length}, upstream got ${atUpstream.length})`);
    expect(atUpstream.length).toBe(sent.length);
    expect(seqHash(atUpstream)).toBe(seqHash(sent)); // client -> upstream
    expect(seqHash(c.messages)).toBe(seqHash(sent)); // upstream -> client
    expect(c.messages.map((m) => m.isBinary)).toEqual(sent.map((m) => m.isBinary));
  }, 30_000);

  it('0-byte text and binary messages keep their type, both ways', async () => {
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: 'off' }]);
    const c = await connectClient(gw.url('/r'));
    const conn = await up.nextConnection();
    const atUpstream: Msg[] = [];
    conn.ws.on('message', (d, isBinary) => atUpstream.push({ data: d as Buffer, isBinary }));
    c.ws.send('', { binary: false });
    c.ws.send(Buffer.alloc(0), { binary: true });
    const a = await c.next();
    const b = await c.next();
    expect(atUpstream.map((m) => [m.data.length, m.isBinary])).toEqual([
      [0, false],
      [0, true],
    ]);
    expect([a.data.length, a.isBinary]).toEqual([0, false]);
    expect([b.data.length, b.isBinary]).toEqual([0, true]);
  });

  it('a 16 MiB binary message passes both ways unchanged (maxMessageBytes 32 MiB)', async () => {
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: 'off', maxMessageBytes: 32 << 20 }]);
    const c = await connectClient(gw.url('/r'));
    const conn = await up.nextConnection();
    const big = randomBytes(16 << 20);
    const want = createHash('sha256').update(big).digest('hex');
    const atUpstream = new Promise<Msg>((r) => conn.ws.once('message', (d, isBinary) => r({ data: d as Buffer, isBinary })));
    c.ws.send(big, { binary: true });
    const u = await atUpstream;
    expect(u.isBinary).toBe(true);
    expect(u.data.length).toBe(16 << 20);
    expect(createHash('sha256').update(u.data).digest('hex')).toBe(want);
    const back = await c.next(20_000); // the echo: upstream -> client
    expect(back.isBinary).toBe(true);
    expect(back.data.length).toBe(16 << 20);
    expect(createHash('sha256').update(back.data).digest('hex')).toBe(want);
  }, 30_000);

  it('100 messages sent synchronously in the client open handler all arrive upstream, in order', async () => {
    const up = await startUpstream({ echo: false });
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: 'off' }]);
    const got: string[] = [];
    up.wss.on('connection', (ws) => ws.on('message', (d) => got.push(String(d))));
    const ws = new WebSocket(gw.url('/r'), { perMessageDeflate: false });
    ws.on('error', () => {});
    ws.on('open', () => {
      for (let i = 0; i < 100; i++) ws.send(`m${i}`);
    });
    try {
      await until(() => got.length >= 100, 5000, '100 messages upstream');
      expect(got).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`));
    } finally {
      ws.terminate();
    }
  });

  it('messages the upstream sends immediately on connection reach the client', async () => {
    const up = await startUpstream({
      echo: false,
      onConnection: ({ ws }) => {
        for (let i = 0; i < 20; i++) ws.send(`hello-${i}`);
        ws.send(Buffer.from([1, 2, 3]), { binary: true });
      },
    });
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: 'off' }]);
    const c = await connectClient(gw.url('/r'));
    await until(() => c.messages.length >= 21, 5000, 'greetings');
    expect(c.messages.slice(0, 20).map((m) => [m.data.toString(), m.isBinary])).toEqual(Array.from({ length: 20 }, (_, i) => [`hello-${i}`, false]));
    expect(c.messages[20]!.isBinary).toBe(true);
    expect([...c.messages[20]!.data]).toEqual([1, 2, 3]);
  });
});

describe('relay: subprotocols', () => {
  it("client offers 'a, b', upstream picks 'b' → the client sees 'b'", async () => {
    const offered: string[][] = [];
    const up = await startUpstream({ handleProtocols: (p) => (offered.push([...p]), p.has('b') ? 'b' : false) });
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: 'off' }]);
    const c = await connectClient(gw.url('/r'), ['a', 'b']);
    expect(c.ws.protocol).toBe('b');
    expect(offered).toEqual([['a', 'b']]);
    c.ws.send('x');
    expect((await c.next()).text).toBe('x');
  });

  it('upstream picks no subprotocol → the client is accepted and sees none', async () => {
    // Regression: ws as an upstream client refuses a 101 without a subprotocol when some were
    // offered; RFC 6455 §4.1 allows it, so the gateway negotiates itself. The client is raw
    // because a ws client would refuse such a 101 too.
    const up = await startUpstream({ handleProtocols: () => false });
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: 'off' }]);
    const res = await rawRequest(gw.port, upgradeHead('/r', { 'Sec-WebSocket-Protocol': 'a, b' }), 1500);
    expect(res.split('\r\n')[0]).toMatch(/^HTTP\/1\.1 101/);
    expect(res).not.toMatch(/sec-websocket-protocol/i);
  });
});
