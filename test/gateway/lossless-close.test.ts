/**
 * Lossless closing on the frame-aware relay (Node default): a close from one side goes to the
 * other side at once, but the closing side's handshake completes only after the other side's
 * close arrived, and what the other side sends in between is relayed. Real sockets on loopback:
 * raw clients and raw upstreams script the exact frame order.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CLOSE_TIMEOUT_MS } from '../../src/core/session.ts';
import { createNodeAdapter } from '../../src/runtime/node/adapter.ts';
import { closePayload, encodeFrame, rawClient, startGateway, startRawUpstream, startUpstream, stopAll, until, type Frame } from '../helpers/gateway.ts';

afterEach(stopAll);

/** The frame-aware relay explicitly (the message-level ws legs cannot hold a close). */
const frames_ = () => ({ runtime: createNodeAdapter({ relay: 'frames' }) });

const TEXT = 1;
const CLOSE = 8;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const describeFrames = (fs: Frame[]) => fs.map((f) => (f.opcode === CLOSE ? `close:${f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005}` : `${f.opcode}:${f.payload.toString()}`));

async function rawSetup() {
  const up = await startRawUpstream('accept');
  const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: 'off' }], frames_());
  const c = await rawClient(gw.port, '/r');
  const u = await up.nextPeer();
  return { gw, c, u };
}

/** Wait until `peer` has received `n` frames. */
async function frames(peer: { frames: Frame[] }, n: number, timeoutMs = 5000): Promise<Frame[]> {
  await until(() => peer.frames.length >= n, timeoutMs, `${n} frames`);
  return peer.frames;
}

describe('lossless close, client first', () => {
  it('a client that sends a message and then a close receives the upstream answer before the close completes', async () => {
    const { gw, c, u } = await rawSetup();
    // One write: the message and the close arrive together, as in the Autobahn cases.
    c.send(Buffer.concat([encodeFrame(TEXT, 'question'), encodeFrame(CLOSE, closePayload(1000, 'done'))]));
    const got = await frames(u, 2);
    expect(describeFrames(got)).toEqual(['1:question', 'close:1000']);
    // The upstream takes its time to answer; the client must still be waiting, without a close.
    await sleep(300);
    expect(c.frames.length).toBe(0);
    u.send(encodeFrame(TEXT, 'answer', { mask: false }));
    u.send(encodeFrame(TEXT, 'one more', { mask: false }));
    const upClosedAt = Date.now();
    u.send(encodeFrame(CLOSE, closePayload(1000, 'done'), { mask: false }));
    await frames(c, 3);
    expect(describeFrames(c.frames)).toEqual(['1:answer', '1:one more', 'close:1000']);
    expect(Date.now()).toBeGreaterThanOrEqual(upClosedAt);
    await c.ended; // the gateway ends the client's TCP connection after the handshake
    await until(() => gw.app.gateway.registry.size === 0, 2000, 'registry empty');
  });

  it('the upstream close code is what the client gets back (4000 in, upstream answers 4001)', async () => {
    const { c, u } = await rawSetup();
    c.send(encodeFrame(CLOSE, closePayload(4000, 'bye')));
    const got = await frames(u, 1);
    expect(describeFrames(got)).toEqual(['close:4000']);
    u.send(encodeFrame(CLOSE, closePayload(4001, 'ok'), { mask: false }));
    expect(await c.closeFrame(3000)).toEqual({ code: 4001, reason: 'ok' });
  });

  it('an upstream that never answers the close: the client still gets its close within the close timeout', async () => {
    const { c, u } = await rawSetup();
    const t0 = Date.now();
    c.send(encodeFrame(CLOSE, closePayload(1000)));
    await frames(u, 1);
    const closed = await c.closeFrame(CLOSE_TIMEOUT_MS + 3000);
    expect(closed.code).toBe(1014); // the upstream was given up: "upstream lost"
    expect(Date.now() - t0).toBeGreaterThanOrEqual(CLOSE_TIMEOUT_MS - 100);
    await c.ended;
  });

  it('a text message fragmented inside a code point, then a close: the echo arrives before the close (ws echo upstream)', async () => {
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: 'off' }], frames_());
    const c = await rawClient(gw.port, '/r');
    const euro = Buffer.from('a€b'); // 61 e2 82 ac 62
    c.send(Buffer.concat([encodeFrame(TEXT, euro.subarray(0, 2), { fin: false }), encodeFrame(0, euro.subarray(2)), encodeFrame(CLOSE, closePayload(1000))]));
    await frames(c, 2);
    expect(describeFrames(c.frames)).toEqual(['1:a€b', 'close:1000']);
  });

  it('a valid message followed by a bad frame: the echo of the message arrives, then close 1002 (ws echo upstream)', async () => {
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: 'off' }], frames_());
    const c = await rawClient(gw.port, '/r');
    c.send(Buffer.concat([encodeFrame(TEXT, 'valid'), encodeFrame(TEXT, 'bad', { rsv: 4 })]));
    await frames(c, 2);
    expect(describeFrames(c.frames)).toEqual(['1:valid', 'close:1002']);
    await c.ended;
    await until(() => gw.app.gateway.registry.size === 0, CLOSE_TIMEOUT_MS + 2000, 'registry empty');
  });
});

describe('lossless close, upstream first', () => {
  it('messages the client sends after the upstream close and before its own close reach the upstream, then the close', async () => {
    const { c, u } = await rawSetup();
    u.send(Buffer.concat([encodeFrame(TEXT, 'last words', { mask: false }), encodeFrame(CLOSE, closePayload(1001, 'restart'), { mask: false })]));
    await frames(c, 2);
    expect(describeFrames(c.frames)).toEqual(['1:last words', 'close:1001']);
    await sleep(200);
    expect(u.frames.length).toBe(0); // the gateway has not answered the upstream by itself
    c.send(encodeFrame(TEXT, 'reply in flight'));
    c.send(encodeFrame(CLOSE, closePayload(1001, 'restart')));
    await frames(u, 2);
    expect(describeFrames(u.frames)).toEqual(['1:reply in flight', 'close:1001']);
    expect(u.frames.every((f) => f.masked)).toBe(true);
    await u.ended;
  });
});
