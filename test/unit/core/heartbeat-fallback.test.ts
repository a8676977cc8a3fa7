/**
 * Heartbeat fallbacks for legs that cannot ping (Leg.heartbeatFallback): 'runtime' and 'none'
 * legs are left to the runtime / TCP; an 'app-keepalive' leg gets the keepalive message as its
 * ping and is declared dead when no message answers it.
 */
import { describe, expect, it } from 'vitest';
import type { Clock } from '../../../src/core/clock.ts';
import { APP_KEEPALIVE_MESSAGE, HeartbeatScheduler, isPassiveLeg, legMember } from '../../../src/core/heartbeat.ts';
import type { Leg } from '../../../src/core/leg.ts';

function manualClock() {
  let t = 0;
  const intervals = new Set<{ fn: () => void; ms: number; at: number }>();
  const clock: Clock = {
    now: () => t,
    wallNow: () => t,
    setTimeout: () => 0,
    clearTimeout: () => {},
    setInterval: (fn, ms) => {
      const h = { fn, ms, at: t + ms };
      intervals.add(h);
      return h;
    },
    clearInterval: (h) => void intervals.delete(h as never),
  };
  const advance = (ms: number) => {
    const end = t + ms;
    for (;;) {
      const next = [...intervals].filter((i) => i.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      t = next.at;
      next.at += next.ms;
      next.fn();
    }
    t = end;
  };
  return { clock, advance };
}

function leg(canPing: boolean, heartbeatFallback?: Leg['heartbeatFallback']) {
  const sent: string[] = [];
  let pings = 0;
  const l = {
    protocol: '',
    bufferedAmount: 0,
    canPing,
    ...(heartbeatFallback ? { heartbeatFallback } : {}),
    listen() {},
    send: (d: string | Uint8Array) => void sent.push(String(d)),
    close() {},
    terminate() {},
    ping: () => void pings++,
    pause() {},
    resume() {},
  } satisfies Leg;
  return { l, sent, pings: () => pings };
}

describe('heartbeat fallbacks', () => {
  it("'runtime' and 'none' legs are passive: never pinged, never declared dead", () => {
    for (const fb of ['runtime', 'none', undefined] as const) {
      const { clock, advance } = manualClock();
      const s = new HeartbeatScheduler(clock);
      const { l, sent } = leg(false, fb);
      expect(isPassiveLeg(l)).toBe(true);
      let dead = 0;
      s.add(legMember(l, { onHeartbeatTimeout: () => void dead++ }, 'client'), 500, 500);
      advance(10_000);
      expect(dead).toBe(0);
      expect(sent).toEqual([]);
    }
  });

  it("an 'app-keepalive' leg gets the keepalive as its ping and dies without an answer", () => {
    const { clock, advance } = manualClock();
    const s = new HeartbeatScheduler(clock);
    const { l, sent } = leg(false, 'app-keepalive');
    expect(isPassiveLeg(l)).toBe(false);
    let dead = 0;
    const m = legMember(l, { onHeartbeatTimeout: () => void dead++ }, 'client');
    s.add(m, 500, 500);
    advance(600);
    expect(sent).toEqual([APP_KEEPALIVE_MESSAGE]);
    m.rx = true; // the client answered with a message
    advance(600);
    expect(dead).toBe(0);
    advance(2000);
    expect(dead).toBe(1);
  });

  it("the route's keepaliveMessage is the app ping when set; protocol-ping legs ignore the fallback", () => {
    const { clock, advance } = manualClock();
    const s = new HeartbeatScheduler(clock);
    const a = leg(false, 'app-keepalive');
    s.add(legMember(a.l, { onHeartbeatTimeout() {} }, 'client', 'hb'), 500, 500);
    const p = leg(true, 'app-keepalive');
    s.add(legMember(p.l, { onHeartbeatTimeout() {} }, 'client'), 500, 500);
    advance(600);
    expect(a.sent[0]).toBe('hb');
    expect(p.pings()).toBe(1);
    expect(p.sent).toEqual([]);
  });
});
