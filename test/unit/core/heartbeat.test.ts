/**
 * HeartbeatScheduler with a hand-driven clock: when pings go out, when a
 * member is declared dead, what counts as liveness, suspension for flow control, keepalives,
 * timer release, and that only monotonic time is read (a wall-clock jump changes nothing).
 */
import { describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../src/core/clock.ts';
import { HeartbeatScheduler, type HeartbeatMember } from '../../../src/core/heartbeat.ts';
import { ManualClock as FakeClock } from '../../helpers/gateway.ts';

function member(over: Partial<HeartbeatMember> = {}): HeartbeatMember & { pings: number; deaths: number; keepalives: number } {
  const m = {
    pings: 0,
    deaths: 0,
    keepalives: 0,
    rx: false,
    tx: false,
    lastSeen: 0,
    lastSent: 0,
    pingSentAt: 0,
    ping: () => void m.pings++,
    onDead: () => void m.deaths++,
    ...over,
  };
  return m;
}

const I = 1000;
const T = 1000;
const TICK = 250; // max(25, min(I, T) / 4)

describe('HeartbeatScheduler', () => {
  it('pings after the interval and declares a silent member dead after the timeout, once', () => {
    const clock = new FakeClock();
    const hb = new HeartbeatScheduler(clock);
    const start = clock.t;
    let pingAt = -1;
    let deadAt = -1;
    const m = member({ ping: () => void (pingAt = clock.t - start), onDead: () => void (deadAt = clock.t - start) });
    hb.add(m, I, T);
    for (let i = 0; i < 400 && deadAt < 0; i++) clock.advance(10);
    // The ping goes out between the interval and one tick later; death between timeout and one tick after the ping.
    expect(pingAt).toBeGreaterThanOrEqual(I);
    expect(pingAt).toBeLessThanOrEqual(I + TICK);
    expect(deadAt - pingAt).toBeGreaterThanOrEqual(T);
    expect(deadAt - pingAt).toBeLessThanOrEqual(T + TICK);
    let deaths = 0;
    m.onDead = () => void deaths++;
    m.ping = () => void (pingAt = -2);
    expect(hb.size).toBe(0); // a dead member leaves the scheduler
    clock.advance(10 * I);
    expect(deaths).toBe(0);
    expect(pingAt).not.toBe(-2);
  });

  it('a pong (rx) after the ping keeps the member alive; the next ping comes an interval later', () => {
    const clock = new FakeClock();
    const hb = new HeartbeatScheduler(clock);
    const m = member();
    hb.add(m, I, T);
    for (let round = 0; round < 20; round++) {
      clock.advance(I + TICK);
      expect(m.pings).toBe(round + 1);
      m.rx = true; // the pong
      clock.advance(TICK);
    }
    expect(m.deaths).toBe(0);
  });

  it('inbound traffic (rx every tick) means no pings at all', () => {
    const clock = new FakeClock();
    const hb = new HeartbeatScheduler(clock);
    const m = member();
    hb.add(m, I, T);
    for (let i = 0; i < 100; i++) {
      m.rx = true;
      clock.advance(TICK);
    }
    expect(m.pings).toBe(0);
    expect(m.deaths).toBe(0);
  });

  it('a suspended member (reading paused for flow control) is never declared dead', () => {
    const clock = new FakeClock();
    const hb = new HeartbeatScheduler(clock);
    const m = member();
    hb.add(m, I, T);
    clock.advance(I + TICK); // ping out
    m.suspended = true;
    clock.advance(20 * I);
    expect(m.deaths).toBe(0);
    m.suspended = false; // resumed: a fresh interval starts
    clock.advance(I + TICK);
    expect(m.deaths).toBe(0);
    clock.advance(T + TICK);
    expect(m.deaths).toBe(1);
  });

  it('keepalive is sent when nothing was sent for the interval, not while tx traffic flows', () => {
    const clock = new FakeClock();
    const hb = new HeartbeatScheduler(clock);
    const m = member();
    m.keepalive = () => void m.keepalives++;
    hb.add(m, I, T);
    for (let i = 0; i < 40; i++) {
      m.tx = true;
      m.rx = true;
      clock.advance(TICK);
    }
    expect(m.keepalives).toBe(0);
    for (let i = 0; i < 5; i++) {
      clock.advance(I);
      m.rx = true; // keep it alive
      clock.advance(TICK);
    }
    expect(m.keepalives).toBeGreaterThanOrEqual(4);
  });

  it('one interval timer per distinct (interval, timeout), released when the last member leaves', () => {
    const clock = new FakeClock();
    const hb = new HeartbeatScheduler(clock);
    const many = Array.from({ length: 100 }, () => member());
    for (const m of many) hb.add(m, I, T);
    const other = member();
    hb.add(other, 2 * I, T);
    expect(clock.timers.size).toBe(2);
    expect(hb.size).toBe(101);
    for (const m of many) hb.remove(m);
    expect(clock.timers.size).toBe(1);
    hb.remove(other);
    hb.remove(other); // twice is harmless
    expect(clock.timers.size).toBe(0);
    expect(hb.size).toBe(0);
  });

  it('a member removed (session closed) is never pinged or declared dead afterwards', () => {
    const clock = new FakeClock();
    const hb = new HeartbeatScheduler(clock);
    const keep = member(); // keeps the group timer alive
    hb.add(keep, I, T);
    const m = member();
    hb.add(m, I, T);
    hb.remove(m);
    clock.advance(10 * I);
    expect(m.pings + m.deaths).toBe(0);
    hb.remove(keep);
  });

  it('uses monotonic time only: a wall-clock jump of hours changes nothing', () => {
    const clock = new FakeClock();
    const hb = new HeartbeatScheduler(clock);
    const members = Array.from({ length: 50 }, () => member());
    for (const m of members) hb.add(m, I, T);
    for (let i = 0; i < 40; i++) {
      clock.wall += (i % 2 ? -1 : 1) * 3 * 3600_000; // the wall clock jumps back and forth
      for (const m of members) m.rx = true;
      clock.advance(TICK);
    }
    expect(members.reduce((a, m) => a + m.deaths, 0)).toBe(0);
    expect(clock.wallReads).toBe(0);
  });

  it('the system clock is monotonic: a Date.now jump does not move now()', () => {
    const a = systemClock.now();
    const spy = vi.spyOn(Date, 'now').mockReturnValue(Date.now() + 10 * 3600_000);
    try {
      const b = systemClock.now();
      expect(b - a).toBeGreaterThanOrEqual(0);
      expect(b - a).toBeLessThan(1000);
    } finally {
      spy.mockRestore();
    }
  });

  it('dispose clears every timer', () => {
    const clock = new FakeClock();
    const hb = new HeartbeatScheduler(clock);
    hb.add(member(), I, T);
    hb.add(member(), 500, 500);
    hb.dispose();
    expect(clock.timers.size).toBe(0);
  });
});
