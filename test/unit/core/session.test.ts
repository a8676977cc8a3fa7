/**
 * Session with fake legs and a hand-driven clock: token expiry, maximum age, rate
 * limit, flow control and the buffer cap, close relaying and the close-handshake
 * timeout, heartbeat timeouts on each leg and that cleanup leaves nothing behind.
 */
import { describe, expect, it } from 'vitest';
import { Deadlines } from '../../../src/core/deadlines.ts';
import { HeartbeatScheduler } from '../../../src/core/heartbeat.ts';
import type { Leg, LegHandlers, Payload } from '../../../src/core/leg.ts';
import { Registry } from '../../../src/core/registry.ts';
import { CLOSE_TIMEOUT_MS, HIGH_WATER_BYTES, Session, type SessionCounters } from '../../../src/core/session.ts';
import type { RouteConfig } from '../../../src/routing/define-route.ts';
import { resolveRoute } from '../../../src/routing/schema.ts';
import { ManualClock } from '../../helpers/gateway.ts';

class FakeLeg implements Leg {
  protocol = '';
  bufferedAmount = 0;
  canPing = true;
  h!: LegHandlers;
  sent: Array<[Payload, boolean]> = [];
  closes: Array<[number, string]> = [];
  pings = 0;
  paused = false;
  terminated = false;
  listen(h: LegHandlers) {
    this.h = h;
  }
  send(d: Payload, b: boolean) {
    this.sent.push([d, b]);
  }
  close(code: number, reason: string) {
    this.closes.push([code, reason]);
  }
  terminate() {
    this.terminated = true;
  }
  ping() {
    this.pings++;
  }
  pause() {
    this.paused = true;
  }
  resume() {
    this.paused = false;
  }
}

function counters(): SessionCounters & { closed: Array<[number, string]> } {
  const cell = () => ({ v: 0 });
  const closed: Array<[number, string]> = [];
  return { msgIn: cell(), msgOut: cell(), bytesIn: cell(), bytesOut: cell(), open: cell(), hbClient: cell(), hbUpstream: cell(), closed, close: (code, cause) => void closed.push([code, cause]) };
}

const silent = { debug() {}, info() {}, warn() {}, error() {} };

function make(route: Partial<RouteConfig> = {}, init: { expiresAtMs?: number; graceMs?: number } = {}) {
  const clock = new ManualClock();
  const heartbeat = new HeartbeatScheduler(clock);
  const registry = new Registry();
  const c = counters();
  const client = new FakeLeg();
  const upstream = new FakeLeg();
  const r = resolveRoute({ path: '/r', upstream: 'ws://u', auth: false, heartbeat: 'off', ...route }, 'test');
  const session = new Session(
    { id: 's1', route: r, client, upstream, userId: 'u1', expiryGraceMs: init.graceMs ?? 0, ...(init.expiresAtMs !== undefined ? { expiresAtMs: init.expiresAtMs } : {}) },
    { clock, heartbeat, deadlines: new Deadlines(clock), registry, log: silent, counters: c },
  );
  return { clock, heartbeat, registry, c, client, upstream, session };
}

describe('Session', () => {
  it('relays messages both ways, with their type', () => {
    const { client, upstream } = make();
    client.h.message('hi', false);
    client.h.message(new Uint8Array([1]), true);
    upstream.h.message('back', false);
    expect(upstream.sent).toEqual([
      ['hi', false],
      [new Uint8Array([1]), true],
    ]);
    expect(client.sent).toEqual([['back', false]]);
  });

  it('closes at exp + grace with 4401; the upstream gets 1001', () => {
    const clock0 = new ManualClock();
    const { clock, client, upstream, registry, session } = make({}, { expiresAtMs: clock0.wall + 10_000, graceMs: 2000 });
    clock.advance(11_999);
    expect(client.closes).toEqual([]);
    clock.advance(1);
    expect(client.closes[0]![0]).toBe(4401);
    expect(upstream.closes[0]![0]).toBe(1001);
    expect(session.state).toBe('closing');
    expect(registry.size).toBe(0);
  });

  it('maxConnectionAgeMs closes with 4410', () => {
    const { clock, client } = make({ maxConnectionAgeMs: 60_000 });
    clock.advance(59_999);
    expect(client.closes).toEqual([]);
    clock.advance(1);
    expect(client.closes[0]![0]).toBe(4410);
  });

  it('token bucket: burst of 2x rate passes, then 4429; refills with time', () => {
    const a = make({ maxMessagesPerSec: 10 });
    for (let i = 0; i < 20; i++) a.client.h.message(`m${i}`, false);
    expect(a.client.closes).toEqual([]);
    a.client.h.message('one too many', false);
    expect(a.client.closes[0]![0]).toBe(4429);
    expect(a.upstream.sent.length).toBe(20);
    const b = make({ maxMessagesPerSec: 10 });
    for (let i = 0; i < 200; i++) {
      b.client.h.message('x', false);
      b.clock.advance(100); // exactly the rate
    }
    expect(b.client.closes).toEqual([]);
  });

  it('upstream traffic past the high-water mark pauses the upstream; client drain resumes it', () => {
    const { client, upstream, session } = make();
    client.bufferedAmount = HIGH_WATER_BYTES + 1;
    upstream.h.message('x', false);
    expect(upstream.paused).toBe(true);
    client.bufferedAmount = 0;
    client.h.drain();
    expect(upstream.paused).toBe(false);
    expect(session.state).toBe('open');
  });

  it('client traffic past the high-water mark pauses the client; upstream drain resumes it', () => {
    const { client, upstream } = make();
    upstream.bufferedAmount = HIGH_WATER_BYTES + 1;
    client.h.message('x', false);
    expect(client.paused).toBe(true);
    upstream.bufferedAmount = 0;
    upstream.h.drain();
    expect(client.paused).toBe(false);
  });

  it('unpausable traffic past maxBufferedBytes closes the client with 4408; nothing after it is sent', () => {
    const { client, session, c } = make({ maxBufferedBytes: 4 << 20 });
    client.bufferedAmount = (4 << 20) + 1;
    session.sendToClient('broadcast', false);
    expect(client.closes[0]![0]).toBe(4408);
    expect(c.closed).toEqual([[4408, 'slow']]);
    session.sendToClient('later', false);
    expect(client.sent.map((s) => s[0])).toEqual(['broadcast']);
  });

  it('client close relays the code; a client drop (1006) becomes 1001 upstream; cleanup once', () => {
    const a = make();
    a.client.h.close(4000, 'bye');
    expect(a.upstream.closes).toEqual([[4000, 'bye']]);
    a.upstream.h.close(4000, 'bye');
    expect(a.session.state).toBe('closed');
    expect(a.c.closed.length).toBe(1);
    const b = make();
    b.client.h.close(1006, '');
    expect(b.upstream.closes[0]![0]).toBe(1001);
  });

  it('upstream close maps 1005 → 1000 and 1006 → 1014 for the client', () => {
    const a = make();
    a.upstream.h.close(1005, '');
    expect(a.client.closes[0]![0]).toBe(1000);
    const b = make();
    b.upstream.h.close(1006, '');
    expect(b.client.closes[0]![0]).toBe(1014);
  });

  it('a peer that never finishes the close handshake is terminated after CLOSE_TIMEOUT_MS; no timer is left', () => {
    const { clock, client, upstream, session } = make({ maxConnectionAgeMs: 10 ** 9 });
    upstream.h.close(1000, 'done');
    expect(client.closes[0]![0]).toBe(1000);
    clock.advance(CLOSE_TIMEOUT_MS - 1);
    expect(client.terminated).toBe(false);
    clock.advance(1);
    expect(client.terminated).toBe(true);
    expect(session.state).toBe('closed');
    expect(clock.timers.size).toBe(0);
  });

  it('a client that misses its pong is terminated; a silent upstream gives the client 1014', () => {
    const a = make({ heartbeat: { intervalMs: 1000, timeoutMs: 1000 } });
    a.clock.advance(1000 + 250);
    expect(a.client.pings).toBe(1);
    a.upstream.h.pong();
    a.clock.advance(1000 + 250);
    expect(a.client.terminated).toBe(true);
    expect(a.upstream.closes[0]![0]).toBe(1001);
    expect(a.c.hbClient.v).toBe(1);
    expect(a.heartbeat.size).toBe(0);
    a.upstream.h.close(1001, ''); // the upstream answers the close
    expect(a.session.state).toBe('closed');
    expect(a.clock.timers.size).toBe(0);
    const b = make({ heartbeat: { intervalMs: 1000, timeoutMs: 1000 } });
    b.clock.advance(1250);
    b.client.h.pong();
    b.clock.advance(1250);
    expect(b.client.closes[0]![0]).toBe(1014);
    expect(b.upstream.terminated).toBe(true);
    expect(b.c.hbUpstream.v).toBe(1);
  });

  it('a paused (flow-controlled) leg is not declared dead by the heartbeat', () => {
    const { clock, client, upstream, session } = make({ heartbeat: { intervalMs: 1000, timeoutMs: 1000 } });
    client.bufferedAmount = HIGH_WATER_BYTES + 1;
    upstream.h.message('x', false); // upstream paused now
    for (let i = 0; i < 40; i++) {
      client.h.pong();
      clock.advance(250);
    }
    expect(session.state).toBe('open');
    expect(upstream.terminated).toBe(false);
  });

  describe('send timeout (sendTimeoutMs): a reader that stopped is given up, a slow one is not', () => {
    const MS = 5000;

    it('a client whose buffer makes no progress for sendTimeoutMs while the upstream is paused → 4408, upstream 1001', () => {
      const { clock, client, upstream, session, c } = make({ sendTimeoutMs: MS });
      client.bufferedAmount = HIGH_WATER_BYTES + 1;
      upstream.h.message('x', false);
      expect(upstream.paused).toBe(true);
      clock.advance(MS - 1);
      expect(session.state).toBe('open');
      clock.advance(1);
      expect(client.closes).toEqual([[4408, 'Client is not reading fast enough']]);
      expect(upstream.closes).toEqual([[1001, 'Gateway closing']]);
      expect(c.closed).toEqual([[4408, 'slow']]);
    });

    it('a slow client that keeps draining is kept, however long it stays over the mark', () => {
      const { clock, client, upstream, session } = make({ sendTimeoutMs: MS });
      client.bufferedAmount = 4 * HIGH_WATER_BYTES;
      upstream.h.message('x', false);
      for (let i = 0; i < 10; i++) {
        client.bufferedAmount -= 1000; // progress, still over the high-water mark
        clock.advance(MS);
      }
      expect(session.state).toBe('open');
      clock.advance(MS); // no progress in the last window
      expect(client.closes[0]![0]).toBe(4408);
    });

    it('drain stops the watch; the next backpressure starts a fresh one', () => {
      const { clock, client, upstream, session } = make({ sendTimeoutMs: MS });
      client.bufferedAmount = HIGH_WATER_BYTES + 1;
      upstream.h.message('x', false);
      clock.advance(MS - 100);
      client.bufferedAmount = 0;
      client.h.drain();
      expect(upstream.paused).toBe(false);
      clock.advance(2 * MS);
      expect(session.state).toBe('open');
      expect(clock.timers.size).toBe(0);
      client.bufferedAmount = HIGH_WATER_BYTES + 1;
      upstream.h.message('y', false);
      clock.advance(MS);
      expect(client.closes[0]![0]).toBe(4408);
    });

    it('unpausable traffic (a broadcast) over the mark is watched too', () => {
      const { clock, client, session } = make({ sendTimeoutMs: MS });
      client.bufferedAmount = HIGH_WATER_BYTES + 1;
      session.sendToClient('broadcast', false);
      clock.advance(MS);
      expect(client.closes[0]![0]).toBe(4408);
    });

    it('an upstream that stops reading while the client is paused → the client gets 1014', () => {
      const { clock, client, upstream, session } = make({ sendTimeoutMs: MS });
      upstream.bufferedAmount = HIGH_WATER_BYTES + 1;
      client.h.message('x', false);
      expect(client.paused).toBe(true);
      clock.advance(MS);
      expect(client.closes).toEqual([[1014, 'Upstream is not reading']]);
      expect(session.state).toBe('closing');
    });

    it('sendTimeoutMs: false turns it off; the default is 60 s', () => {
      const off = make({ sendTimeoutMs: false });
      off.client.bufferedAmount = HIGH_WATER_BYTES + 1;
      off.upstream.h.message('x', false);
      off.clock.advance(10 * 60_000);
      expect(off.session.state).toBe('open');
      const dflt = make();
      dflt.client.bufferedAmount = HIGH_WATER_BYTES + 1;
      dflt.upstream.h.message('x', false);
      dflt.clock.advance(59_999);
      expect(dflt.session.state).toBe('open');
      dflt.clock.advance(1);
      expect(dflt.client.closes[0]![0]).toBe(4408);
    });
  });
});
