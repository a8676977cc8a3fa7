/**
 * Flow control and slow consumers: a reader that stops reading makes
 * the gateway pause the other side (TCP backpressure reaches the sender) instead of buffering
 * without bound, nothing is dropped when it resumes, and traffic that cannot be paused
 * (broadcasts) closes a slow client with 4408 once its buffer passes maxBufferedBytes.
 *
 * Everything runs in this process, so memory is measured in-process after a forced GC: what is
 * measured is live memory (heap + external buffers) minus the test sender's own send queue
 * (capped explicitly, and read from its bufferedAmount).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import type { Session } from '../../src/core/session.ts';
import { connectClient, startGateway, startUpstream, stopAll, until, type TestClient, type TestGateway } from '../helpers/gateway.ts';

afterEach(stopAll);

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const MiB = 1 << 20;

function liveBytes(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

function rawSocket(ws: WebSocket): { pause(): void; resume(): void } {
  return (ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
}

function onlySession(gw: TestGateway): Session {
  const s = gw.app.gateway.registry.all();
  expect(s.length).toBe(1);
  return s[0]!;
}

/** A 64 KB message carrying a sequence number in its first 4 bytes. */
function seqMessage(seq: number, size = 64 * 1024): Buffer {
  const b = Buffer.allocUnsafe(size);
  b.fill(seq & 0xff);
  b.writeUInt32BE(seq, 0);
  return b;
}

/** Send as fast as the sender's own buffer allows (capped at `cap`) until stopped. */
function flood(ws: WebSocket, cap: number) {
  const st = { sent: 0, maxBuffered: 0, running: true };
  const step = () => {
    if (!st.running || ws.readyState !== 1) return;
    let n = 0;
    while (ws.bufferedAmount < cap && n++ < 64) ws.send(seqMessage(st.sent++), { binary: true });
    st.maxBuffered = Math.max(st.maxBuffered, ws.bufferedAmount);
    setTimeout(step, ws.bufferedAmount < cap ? 0 : 5);
  };
  step();
  return st;
}

/** Count messages and check their sequence numbers as they arrive; keeps nothing. */
function sequenceChecker(ws: WebSocket) {
  const st = { received: 0, outOfOrder: 0 };
  ws.removeAllListeners('message');
  ws.on('message', (d) => {
    const seq = (d as Buffer).readUInt32BE(0);
    if (seq !== st.received) st.outOfOrder++;
    st.received++;
  });
  return st;
}

describe('slow client, flooding upstream', () => {
  it('the upstream is paused (its own buffer grows), gateway memory stays bounded, and every message arrives in order after resume', async () => {
    const maxBuffered = 4 * MiB;
    const upCap = 8 * MiB;
    let upWs!: WebSocket;
    const up = await startUpstream({ echo: false, onConnection: (c) => (upWs = c.ws) });
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: 'off', maxBufferedBytes: maxBuffered }]);
    const c = await connectClient(gw.url('/r'));
    await up.nextConnection();
    const seq = sequenceChecker(c.ws);
    const session = onlySession(gw);
    rawSocket(c.ws).pause();
    const base = liveBytes();
    const f = flood(upWs, upCap);
    let maxGrowth = 0;
    let maxClientLeg = 0;
    const t0 = Date.now();
    while (Date.now() - t0 < 4000) {
      await new Promise((r) => setTimeout(r, 250));
      maxClientLeg = Math.max(maxClientLeg, session.client.bufferedAmount);
      maxGrowth = Math.max(maxGrowth, liveBytes() - base - upWs.bufferedAmount); // minus the sender's own queue
    }
    f.running = false;
    // TCP backpressure reached the upstream: its own send buffer filled up to our cap.
    expect(f.maxBuffered).toBeGreaterThanOrEqual(upCap / 2);
    // The gateway never held more than its cap for this client, and was not forced to close it.
    expect(maxClientLeg).toBeLessThanOrEqual(maxBuffered);
    expect(session.state).toBe('open');
    // Live memory held by the gateway (the sender's own queue excluded): at most ~2x the cap plus slack.
    expect(maxGrowth, `growth ${(maxGrowth / MiB).toFixed(1)} MiB`).toBeLessThan(2 * maxBuffered + 4 * MiB);
    expect(seq.received).toBeLessThan(f.sent); // the client really was not reading
    rawSocket(c.ws).resume();
    await until(() => seq.received === f.sent, 30_000, `all ${f.sent} messages delivered (${seq.received})`);
    expect(seq.outOfOrder).toBe(0);
    expect(c.ws.readyState).toBe(1);
    expect(session.state).toBe('open');
  }, 60_000);
});

describe('send timeout: a client that stopped reading is given up (sendTimeoutMs)', () => {
  it('no progress for sendTimeoutMs while the upstream is paused → the session ends (4408), the upstream gets 1001, nothing is left', async () => {
    const sendTimeoutMs = 1000;
    let upWs!: WebSocket;
    const up = await startUpstream({ echo: false, onConnection: (c) => (upWs = c.ws) });
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: 'off', sendTimeoutMs }]);
    const c = await connectClient(gw.url('/r'));
    await up.nextConnection();
    const upClosed = new Promise<number>((r) => upWs.on('close', (code) => r(code)));
    const session = onlySession(gw);
    rawSocket(c.ws).pause();
    const f = flood(upWs, 8 * MiB);
    await until(() => session.state !== 'open', 10_000, 'session given up');
    f.running = false;
    const pausedFor = Date.now();
    expect(await upClosed).toBe(1001);
    expect(gw.app.gateway.registry.size).toBe(0);
    expect(await (await gw.http('/metrics')).text()).toMatch(/^wsgate_closes_total\{cause="slow",code="4408",route="\/r"\} 1$/m);
    // The client never reads its close frame: the gateway drops its TCP connection after the
    // close timeout instead of waiting for a close handshake that cannot come.
    await until(() => session.state === 'closed', 10_000, 'client leg dropped');
    expect(Date.now() - pausedFor).toBeLessThan(8000);
  }, 30_000);

  it('a reader that is slow but keeps reading is not given up', async () => {
    let upWs!: WebSocket;
    const up = await startUpstream({ echo: false, onConnection: (c) => (upWs = c.ws) });
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: 'off', sendTimeoutMs: 1500 }]);
    const c = await connectClient(gw.url('/r'));
    await up.nextConnection();
    const seq = sequenceChecker(c.ws);
    const session = onlySession(gw);
    const sock = rawSocket(c.ws);
    sock.pause();
    const f = flood(upWs, 8 * MiB);
    // Read in short bursts, with pauses well under the send timeout, for 4 s.
    const t0 = Date.now();
    while (Date.now() - t0 < 4000) {
      await new Promise((r) => setTimeout(r, 300));
      sock.resume();
      await new Promise((r) => setTimeout(r, 20));
      sock.pause();
    }
    f.running = false;
    expect(session.state).toBe('open');
    sock.resume();
    await until(() => seq.received === f.sent, 30_000, `all ${f.sent} messages delivered (${seq.received})`);
    expect(seq.outOfOrder).toBe(0);
  }, 60_000);
});

describe('slow upstream, flooding client', () => {
  it('reading from the client pauses (its own buffer grows), gateway memory stays bounded, nothing lost after resume', async () => {
    const maxBuffered = 4 * MiB;
    const clientCap = 8 * MiB;
    let upWs!: WebSocket;
    const up = await startUpstream({ echo: false, onConnection: (c) => (upWs = c.ws) });
    const gw = await startGateway([{ path: '/r', upstream: up.url, auth: false, heartbeat: 'off', maxBufferedBytes: maxBuffered }]);
    const c: TestClient = await connectClient(gw.url('/r'));
    await up.nextConnection();
    const seq = sequenceChecker(upWs);
    const session = onlySession(gw);
    rawSocket(upWs).pause();
    const base = liveBytes();
    const f = flood(c.ws, clientCap);
    let maxGrowth = 0;
    let maxUpLeg = 0;
    const t0 = Date.now();
    while (Date.now() - t0 < 4000) {
      await new Promise((r) => setTimeout(r, 250));
      maxUpLeg = Math.max(maxUpLeg, session.upstream!.bufferedAmount);
      maxGrowth = Math.max(maxGrowth, liveBytes() - base - c.ws.bufferedAmount); // minus the sender's own queue
    }
    f.running = false;
    expect(f.maxBuffered).toBeGreaterThanOrEqual(clientCap / 2);
    expect(maxUpLeg).toBeLessThanOrEqual(maxBuffered);
    expect(session.state).toBe('open');
    expect(maxGrowth, `growth ${(maxGrowth / MiB).toFixed(1)} MiB`).toBeLessThan(2 * maxBuffered + 4 * MiB);
    rawSocket(upWs).resume();
    await until(() => seq.received === f.sent, 30_000, `all ${f.sent} messages delivered (${seq.received})`);
    expect(seq.outOfOrder).toBe(0);
    expect(session.state).toBe('open');
  }, 60_000);
});

describe('unpausable broadcast traffic to a slow reader', () => {
  it('a hub client that stops reading is closed with 4408 past maxBufferedBytes; a fast member gets everything', async () => {
    const maxBuffered = 2 * MiB;
    const gw = await startGateway([{ path: '/hub/:r', channel: 'hub:{r}', auth: false, heartbeat: 'off', maxBufferedBytes: maxBuffered, presenceEvents: false }]);
    const slow = await connectClient(gw.url('/hub/room'));
    const fast = await connectClient(gw.url('/hub/room'));
    let fastCount = 0;
    fast.ws.removeAllListeners('message');
    fast.ws.on('message', () => fastCount++);
    await until(() => gw.app.gateway.registry.inChannel('hub:room').size === 2, 2000, 'both joined');
    const slowSession = gw.app.gateway.registry.all().find((s) => s.client.bufferedAmount === 0)!;
    rawSocket(slow.ws).pause();
    const big = 'x'.repeat(256 * 1024);
    const base = liveBytes();
    let published = 0;
    let maxGrowth = 0;
    const slowGone = () => gw.app.gateway.registry.get(slowSession.id) === undefined && gw.app.gateway.registry.size === 1;
    for (let i = 0; i < 400 && !slowGone(); i++) {
      await gw.app.gateway.publish('hub:room', big);
      published++;
      if (i % 10 === 0) {
        await new Promise((r) => setTimeout(r, 5));
        maxGrowth = Math.max(maxGrowth, liveBytes() - base);
      }
    }
    expect(slowGone()).toBe(true);
    // The slow one was cut when its buffer passed the cap, not after everything was queued.
    expect(published).toBeLessThan(400);
    rawSocket(slow.ws).resume(); // read what was queued, then the close frame
    const closed = await slow.closed;
    expect(closed.code).toBe(4408);
    expect(maxGrowth, `growth ${(maxGrowth / MiB).toFixed(1)} MiB`).toBeLessThan(2 * maxBuffered + 4 * MiB);
    // The fast member was never held back and received every broadcast.
    await until(() => fastCount === published, 10_000, `fast member got all ${published} (${fastCount})`);
    expect(fast.ws.readyState).toBe(1);
    const m = await (await gw.http('/metrics')).text();
    expect(m).toMatch(/wsgate_closes_total\{[^}]*code="4408"[^}]*\} 1/);
  }, 60_000);
});
