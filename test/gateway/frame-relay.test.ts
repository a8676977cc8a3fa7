/**
 * The frame-aware relay (Node default) on the wire: frames pass as bytes, so these tests script
 * the frame boundaries and TCP chunking the relay has to get right — headers split across
 * chunks, client frames re-masked with a fresh key, pings between fragments, and frames of the
 * gateway's own (heartbeat pings, channel broadcasts) only at frame / message boundaries.
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createNodeAdapter } from '../../src/runtime/node/adapter.ts';
import { closePayload, encodeFrame, rawClient, startGateway, startRawUpstream, stopAll, until, type Frame, type RawPeer } from '../helpers/gateway.ts';

afterEach(stopAll);

const TEXT = 1;
const BIN = 2;
const PING = 9;
const PONG = 10;
const frames = () => ({ runtime: createNodeAdapter({ relay: 'frames' }) });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha = (b: Buffer) => createHash('sha1').update(b).digest('hex');

async function setup(route: Record<string, unknown> = {}, path = '/r') {
  const up = await startRawUpstream('accept');
  const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: 'off', ...route } as never], frames());
  const c = await rawClient(gw.port, path);
  const u = await up.nextPeer();
  return { gw, c, u };
}

/** Write `buf` one byte per TCP write, waiting for each to be flushed. */
async function dribble(peer: RawPeer, buf: Buffer): Promise<void> {
  for (let i = 0; i < buf.length; i++) {
    await new Promise<void>((r) => peer.socket.write(buf.subarray(i, i + 1), () => r()));
    if (i % 8 === 0) await sleep(1);
  }
}

async function nFrames(peer: { frames: Frame[] }, n: number): Promise<Frame[]> {
  await until(() => peer.frames.length >= n, 5000, `${n} frames`);
  return peer.frames;
}

describe('frame relay: bytes and boundaries', () => {
  it('client frames split into 1-byte TCP writes arrive upstream intact, re-masked with a key of their own', async () => {
    const { c, u } = await setup();
    const raw: Buffer[] = [];
    u.socket.on('data', (d: Buffer) => raw.push(d));
    const payload = Buffer.from('héllo, frames 😀'.repeat(20)); // 126..65535 bytes: a 16-bit length header
    const sent = encodeFrame(TEXT, payload);
    await dribble(c, Buffer.concat([sent, encodeFrame(BIN, Buffer.from([1, 2, 3]))]));
    const got = await nFrames(u, 2);
    expect(got[0]!.opcode).toBe(TEXT);
    expect(got[0]!.payload.equals(payload)).toBe(true);
    expect(got[1]!.payload.equals(Buffer.from([1, 2, 3]))).toBe(true);
    expect(got.every((f) => f.masked)).toBe(true);
    // The gateway masks with a key of its own (RFC 6455 §5.3), not the client's.
    const relayed = Buffer.concat(raw);
    expect(relayed.subarray(0, 4).equals(sent.subarray(0, 4))).toBe(true); // same header, length
    expect(relayed.subarray(4, 8).equals(sent.subarray(4, 8))).toBe(false);
  });

  it('upstream frames split byte by byte, with a ping between two fragments: the client gets the message whole and the ping is answered on the upstream leg', async () => {
    const { c, u } = await setup();
    const first = encodeFrame(TEXT, 'frag-one/', { fin: false, mask: false });
    const ping = encodeFrame(PING, 'hb', { mask: false });
    const last = encodeFrame(0, 'frag-two', { mask: false });
    await dribble(u, Buffer.concat([first, ping, last]));
    const got = await nFrames(c, 2);
    expect(got.map((f) => [f.opcode, f.fin, f.payload.toString()])).toEqual([
      [TEXT, false, 'frag-one/'],
      [0, true, 'frag-two'],
    ]);
    const pong = await u.nextFrame(2000);
    expect([pong.opcode, pong.masked, pong.payload.toString()]).toEqual([PONG, true, 'hb']);
    expect(c.frames.some((f) => f.opcode === PING)).toBe(false); // the upstream's ping stayed on its leg
  });

  it('a heartbeat ping waits for the end of a frame that is half relayed', async () => {
    const { c, u } = await setup({ heartbeat: { intervalMs: 100, timeoutMs: 5000 } });
    const big = Buffer.alloc(40_000, 0x61);
    const frame = encodeFrame(BIN, big, { mask: false });
    u.send(frame.subarray(0, 20_000));
    await sleep(400); // several heartbeat intervals while the frame is half-way through
    expect(c.frames.length).toBe(0); // nothing complete, and nothing injected into the frame
    u.send(frame.subarray(20_000));
    await until(() => c.frames.some((f) => f.opcode === PING), 3000, 'a ping after the frame');
    const bin = c.frames.find((f) => f.opcode === BIN)!;
    expect(bin.payload.equals(big)).toBe(true);
    expect(c.frames.findIndex((f) => f.opcode === BIN)).toBe(0);
  });

  it('invalid UTF-8 from the upstream after the frame header was relayed: the frame is completed, then client 1014, upstream 1007', async () => {
    const { c, u } = await setup();
    u.send(Buffer.from([0x81, 0x04])); // a text frame header alone in its chunk
    await sleep(100);
    u.send(Buffer.from([0x61, 0xff, 0x62, 0x63]));
    const got = await nFrames(c, 2);
    expect(got.map((f) => f.opcode)).toEqual([TEXT, 8]);
    expect([...got[0]!.payload]).toEqual([0x61, 0xff, 0x62, 0x63]); // the framing stays intact
    expect(got[1]!.payload.readUInt16BE(0)).toBe(1014);
    c.send(encodeFrame(8, closePayload(1014)));
    expect((await u.closeFrame(3000)).code).toBe(1007);
  });

  it('invalid UTF-8 from the upstream in a frame whose split header completes in the same chunk: dropped whole, client 1014, upstream 1007', async () => {
    const { c, u } = await setup();
    u.send(Buffer.from([0x81]));
    await sleep(100);
    u.send(Buffer.from([0x04, 0x61, 0xff, 0x62, 0x63]));
    const got = await nFrames(c, 1);
    expect(got.map((f) => f.opcode)).toEqual([8]);
    expect(got[0]!.payload.readUInt16BE(0)).toBe(1014);
    c.send(encodeFrame(8, closePayload(1014)));
    expect((await u.closeFrame(3000)).code).toBe(1007);
  });

  it('random frame sequences in random TCP chunks, both ways: data frames arrive byte-exact and in order, pings answered on their leg', async () => {
    const { c, u } = await setup({ maxMessageBytes: 1 << 20 });
    const script = (masked: boolean) => {
      const frames: Buffer[] = [];
      const expected: string[] = [];
      let pings = 0;
      for (let m = 0; m < 120; m++) {
        const parts = randomInt(1, 4);
        const binary = randomInt(2) === 1;
        for (let p = 0; p < parts; p++) {
          const len = [0, 5, 125, 126, 300, 65535, 65536, 70000][randomInt(8)]!;
          const payload = binary ? randomBytes(len) : Buffer.from('é'.repeat(len >> 1) + 'x'.repeat(len & 1));
          const op = p === 0 ? (binary ? BIN : TEXT) : 0;
          frames.push(encodeFrame(op, payload, { fin: p === parts - 1, mask: masked }));
          expected.push(`${op}:${p === parts - 1}:${sha(payload)}`);
          if (randomInt(4) === 0) {
            frames.push(encodeFrame(PING, `p${pings++}`, { mask: masked }));
          }
        }
      }
      return { wire: Buffer.concat(frames), expected, pings };
    };
    const toUp = script(true);
    const toClient = script(false);
    const send = async (peer: RawPeer, wire: Buffer) => {
      for (let i = 0; i < wire.length; ) {
        const n = randomInt(1, 3000);
        await new Promise<void>((r) => peer.socket.write(wire.subarray(i, i + n), () => r()));
        i += n;
      }
    };
    await Promise.all([send(c, toUp.wire), send(u, toClient.wire)]);
    const dataOf = (fs: Frame[]) => fs.filter((f) => f.opcode < 8).map((f) => `${f.opcode}:${f.fin}:${sha(f.payload)}`);
    await until(() => dataOf(u.frames).length >= toUp.expected.length && dataOf(c.frames).length >= toClient.expected.length, 20000, 'all frames');
    expect(dataOf(u.frames)).toEqual(toUp.expected);
    expect(dataOf(c.frames)).toEqual(toClient.expected);
    await until(() => u.frames.filter((f) => f.opcode === PONG).length === toClient.pings && c.frames.filter((f) => f.opcode === PONG).length === toUp.pings, 5000, 'pongs');
    expect(u.frames.some((f) => f.opcode === PING) || c.frames.some((f) => f.opcode === PING)).toBe(false);
  });

  it('a channel broadcast into a relay route waits for the end of a fragmented message', async () => {
    const { gw, c, u } = await setup({ channel: 'room:{room}', path: '/r/:room' }, '/r/x');
    u.send(encodeFrame(TEXT, 'part one, ', { fin: false, mask: false }));
    await nFrames(c, 1);
    await gw.app.gateway.publish('room:x', 'broadcast');
    await sleep(100);
    expect(c.frames.length).toBe(1); // not inside the message
    u.send(encodeFrame(0, 'part two', { mask: false }));
    const got = await nFrames(c, 3);
    expect(got.map((f) => [f.opcode, f.payload.toString()])).toEqual([
      [TEXT, 'part one, '],
      [0, 'part two'],
      [TEXT, 'broadcast'],
    ]);
  });
});
