/** The shared deadline timer behind token expiry and maximum connection age. */
import { describe, expect, it } from 'vitest';
import { Deadlines, type DeadlineOwner } from '../../../src/core/deadlines.ts';
import { ManualClock } from '../../helpers/gateway.ts';

function owner(log: string[], name: string, d?: Deadlines, again?: number): DeadlineOwner {
  const o: DeadlineOwner = {
    onDeadline() {
      log.push(name);
      if (again !== undefined && d) {
        const next = again;
        again = undefined;
        d.add(o, next);
      }
    },
  };
  return o;
}

describe('Deadlines', () => {
  it('fires each owner once, in time order, never early, on one timer', () => {
    const clock = new ManualClock();
    const d = new Deadlines(clock);
    const log: string[] = [];
    d.add(owner(log, 'c'), 3000);
    d.add(owner(log, 'a'), 1000);
    d.add(owner(log, 'b'), 2000);
    d.add(owner(log, 'a2'), 1000); // same millisecond: one bucket
    expect(clock.timers.size).toBe(1);
    clock.advance(999);
    expect(log).toEqual([]);
    clock.advance(1);
    expect(log.sort()).toEqual(['a', 'a2']);
    clock.advance(2000);
    expect(log).toEqual(['a', 'a2', 'b', 'c']);
    expect(d.size).toBe(0);
    expect(clock.timers.size).toBe(0);
  });

  it('a removed owner never fires; add replaces an owner\'s previous deadline; an owner may re-add itself', () => {
    const clock = new ManualClock();
    const d = new Deadlines(clock);
    const log: string[] = [];
    const gone = owner(log, 'gone');
    const moved = owner(log, 'moved');
    const twice = owner(log, 'twice', d, 500);
    d.add(gone, 100);
    d.add(moved, 100);
    d.add(twice, 200);
    d.remove(gone);
    d.add(moved, 1000);
    clock.advance(300);
    expect(log).toEqual(['twice']);
    clock.advance(400);
    expect(log).toEqual(['twice', 'twice']);
    clock.advance(300);
    expect(log).toEqual(['twice', 'twice', 'moved']);
    expect(d.size).toBe(0);
  });

  it('an earlier deadline added later re-arms the timer; 0 ms fires on the next turn', () => {
    const clock = new ManualClock();
    const d = new Deadlines(clock);
    const log: string[] = [];
    d.add(owner(log, 'late'), 60_000);
    d.add(owner(log, 'soon'), 10);
    d.add(owner(log, 'now'), 0);
    clock.advance(0);
    expect(log).toEqual(['now']);
    clock.advance(10);
    expect(log).toEqual(['now', 'soon']);
    expect(clock.timers.size).toBe(1);
  });

  it('a connect/close wave leaves nothing behind: removed owners\' times are dropped, not kept until due', () => {
    const clock = new ManualClock();
    const d = new Deadlines(clock);
    const log: string[] = [];
    const keep = owner(log, 'keep');
    d.add(keep, 3_600_000);
    const wave = Array.from({ length: 20_000 }, (_, i) => owner(log, `w${i}`));
    wave.forEach((o, i) => d.add(o, 1_000_000 + i)); // 20k distinct times
    for (const o of wave) d.remove(o);
    const internals = d as unknown as { heap: number[]; buckets: Map<number, unknown> };
    expect(internals.buckets.size).toBe(1);
    expect(internals.heap.length).toBeLessThanOrEqual(64);
    expect(d.size).toBe(1);
    clock.advance(3_600_000);
    expect(log).toEqual(['keep']);
  });

  it('removing the last owner leaves no timer behind', () => {
    const clock = new ManualClock();
    const d = new Deadlines(clock);
    const a = owner([], 'a');
    const b = owner([], 'b');
    d.add(a, 1000);
    d.add(b, 10 ** 9);
    d.remove(a);
    expect(clock.timers.size).toBe(1); // re-armed for b
    d.remove(b);
    expect(clock.timers.size).toBe(0);
  });
});
