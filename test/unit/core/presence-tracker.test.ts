/**
 * The presence tracker on its own: several trackers ("instances") on one memory store, deltas
 * over its pub/sub, time driven by hand. What clients see: the snapshot first, then exact
 * join/leave deltas — one user across tabs and instances, no false join or leave.
 */
import { describe, expect, it } from 'vitest';
import type { Wire } from '../../../src/core/channel-wire.ts';
import { PresenceTracker } from '../../../src/core/presence-tracker.ts';
import type { Session } from '../../../src/core/session.ts';
import { createMemoryStore } from '../../../src/store/memory.ts';
import type { PresenceStore } from '../../../src/store/presence-store.ts';
import { ManualClock } from '../../helpers/gateway.ts';

const TTL_SEC = 2;
/** The tracker's interval handles (private), to stop its timers by hand. */
const timersOf = (t: PresenceTracker): unknown[] => (t as unknown as { timers: unknown[] }).timers;
const CH = 'room:t';
type Ev = { type: string; user?: string; users?: Array<{ user: string; connections: number }> };

function world() {
  const clock = new ManualClock();
  const store = createMemoryStore({ now: () => clock.wall });
  const trackers: PresenceTracker[] = [];
  const sent: Wire[] = [];
  function instance(name: string, presence: PresenceStore = store.presence, announce?: () => boolean) {
    let tracker: PresenceTracker;
    const subs = new Map<string, Promise<unknown>>();
    tracker = new PresenceTracker({
      presence,
      instance: name,
      ttlSec: TTL_SEC,
      clock,
      health: () => 'ok',
      subscribe: (ch) => {
        if (!subs.has(ch)) subs.set(ch, store.pubsub.subscribe(`ch:${ch}`, (m) => tracker.onDelta(ch, JSON.parse(m) as Wire)));
        return subs.get(ch)!.then(() => undefined);
      },
      send: (ch, w) => {
        sent.push(w);
        return store.pubsub.publish(`ch:${ch}`, JSON.stringify(w));
      },
      ...(announce ? { announce } : {}),
      warn: (e, err) => {
        throw new Error(`${e}: ${String(err)}`);
      },
    });
    trackers.push(tracker);
    const members = new Set<Session>();
    return {
      tracker,
      connect(user: string, id = `${name}-${user}-${members.size}`) {
        const seen: Ev[] = [];
        const s = {
          id,
          userId: user,
          channel: CH,
          state: 'open',
          route: { presence: true, presenceEvents: true },
          sendToClient: (d: string | Uint8Array) => seen.push(JSON.parse(typeof d === 'string' ? d : new TextDecoder().decode(d)) as Ev),
        } as unknown as Session;
        members.add(s);
        tracker.join(s);
        return {
          seen,
          close: () => {
            members.delete(s);
            tracker.leave(s, members.size === 0);
          },
        };
      },
    };
  }
  async function settle(ms = 0): Promise<void> {
    for (let t = 0; t <= ms; t += 50) {
      if (ms > 0) {
        clock.wall += 50;
        clock.advance(50);
      }
      for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    }
  }
  return { instance, settle, clock, store, sent, dispose: () => Promise.all(trackers.map((t) => t.dispose())) };
}

const joins = (seen: Ev[]) => seen.filter((e) => e.type === 'join').map((e) => e.user);
const leaves = (seen: Ev[]) => seen.filter((e) => e.type === 'leave').map((e) => e.user);

describe('presence tracker', () => {
  it('publishes no deltas while no route shows presence events, and does again once one does (route reload)', async () => {
    const w = world();
    let anyEvents = false;
    const i1 = w.instance('i1', w.store.presence, () => anyEvents);
    const a = i1.connect('alice');
    const b = i1.connect('bob');
    await w.settle();
    b.close();
    await w.settle();
    expect(w.sent).toEqual([]);
    // The members are in the store all the same (the presence API reads them there).
    expect((await w.store.presence.members(CH)).map((m) => m.user)).toEqual(['alice']);
    anyEvents = true;
    i1.connect('carol');
    await w.settle();
    a.close();
    await w.settle();
    expect(w.sent.map((d) => `${d.e}:${d.from}`)).toEqual(['join:carol', 'leave:alice']);
    await w.dispose();
  });

  it('a joiner gets its snapshot first (itself included), then deltas; never a join for itself', async () => {
    const w = world();
    const i1 = w.instance('i1');
    const alice = i1.connect('alice');
    await w.settle();
    expect(alice.seen).toEqual([{ type: 'presence', channel: CH, users: [{ user: 'alice', connections: 1 }] }]);
    const bob = i1.connect('bob');
    await w.settle();
    expect(bob.seen).toEqual([{ type: 'presence', channel: CH, users: [{ user: 'alice', connections: 1 }, { user: 'bob', connections: 1 }] }]);
    expect(alice.seen.slice(1)).toEqual([{ type: 'join', channel: CH, user: 'bob' }]);
    await w.dispose();
  });

  it('the first member on an instance learns who is on the others from its snapshot, not from joins', async () => {
    const w = world();
    const [i1, i2] = [w.instance('i1'), w.instance('i2')];
    i1.connect('alice');
    i1.connect('carol');
    await w.settle();
    const bob = i2.connect('bob');
    await w.settle();
    expect(bob.seen[0]?.type).toBe('presence');
    expect(bob.seen[0]?.users?.map((u) => u.user)).toEqual(['alice', 'bob', 'carol']);
    expect(joins(bob.seen)).toEqual([]);
    await w.dispose();
  });

  it('multi-tab users are one user across instances: join on the first connection, leave on the last', async () => {
    const w = world();
    const [i1, i2] = [w.instance('i1'), w.instance('i2')];
    const obs1 = i1.connect('observer');
    await w.settle();
    const obs2 = i2.connect('observer2');
    await w.settle();
    const tab1 = i1.connect('alice');
    await w.settle();
    const tab2 = i2.connect('alice');
    const tab3 = i2.connect('alice');
    await w.settle();
    expect(tab3.seen[0]?.users?.find((u) => u.user === 'alice')).toEqual({ user: 'alice', connections: 3 });
    for (const o of [obs1, obs2]) expect(joins(o.seen).filter((u) => u === 'alice')).toEqual(['alice']);
    tab1.close(); // alice is still on i2
    tab2.close();
    await w.settle(500);
    for (const o of [obs1, obs2]) expect(leaves(o.seen)).toEqual([]);
    tab3.close();
    await w.settle();
    for (const o of [obs1, obs2]) expect(leaves(o.seen)).toEqual(['alice']);
    await w.dispose();
  });

  it('a dead instance (no leave, no renewal) has its users announced left within the ttl', async () => {
    const w = world();
    const [i1, i2] = [w.instance('i1'), w.instance('i2')];
    const obs = i1.connect('observer');
    await w.settle();
    i2.connect('bob');
    await w.settle();
    expect(joins(obs.seen)).toEqual(['bob']);
    await w.settle(1000); // some renewals happen
    // i2 dies: its timers stop (taken off the shared clock), nothing is sent.
    timersOf(i2.tracker).forEach((t) => w.clock.clearInterval(t));
    const diedAt = w.clock.t;
    let leftAt: number | undefined;
    for (let t = 0; t < 2 * TTL_SEC * 1000 && leftAt === undefined; t += 50) {
      await w.settle(50);
      if (leaves(obs.seen).includes('bob')) leftAt = w.clock.t;
    }
    expect(leftAt).toBeDefined();
    expect(leftAt! - diedAt).toBeLessThanOrEqual(TTL_SEC * 1000);
    await w.dispose();
  });

  it('an instance paused past its lease is announced left, then restores its members and is announced back', async () => {
    const w = world();
    const [i1, i2] = [w.instance('i1'), w.instance('i2')];
    const obs = i1.connect('observer');
    await w.settle();
    i2.connect('bob');
    await w.settle(300);
    const timers = [...timersOf(i2.tracker)];
    const saved = timers.map((t) => w.clock.timers.get(t as number)!);
    timers.forEach((t) => w.clock.timers.delete(t as number)); // i2 pauses
    await w.settle(2 * TTL_SEC * 1000);
    timers.forEach((t, i) => w.clock.timers.set(t as number, { ...saved[i]!, at: w.clock.t + 1 })); // and resumes
    await w.settle(TTL_SEC * 1000);
    expect((await i1.tracker.users(CH)).map((u) => u.user)).toEqual(['bob', 'observer']);
    // Unreachable past its lease, bob was announced left; back, he is announced again.
    expect(obs.seen.filter((e) => e.type !== 'presence').map((e) => `${e.type} ${e.user}`)).toEqual(['join bob', 'leave bob', 'join bob']);
    await w.dispose();
  });

  it('a lease read that began before a new instance joined does not announce its users left', async () => {
    const w = world();
    // i1's lease reads can be held in flight: the list is taken, the answer waits for the test.
    let hold: Promise<void> | undefined;
    const held: PresenceStore = { ...w.store.presence, instances: async () => {
      const list = await w.store.presence.instances();
      if (hold) await hold;
      return list;
    } };
    const i1 = w.instance('i1', held);
    const obs = i1.connect('observer');
    await w.settle();
    let release = () => {};
    hold = new Promise((r) => (release = r));
    await w.settle(250); // a sweep starts and its read is held with the list [i1]
    const i2 = w.instance('i2');
    i2.connect('bob'); // i2 takes its lease and announces bob while the read is in flight
    await w.settle();
    expect(joins(obs.seen)).toEqual(['bob']);
    hold = undefined;
    release();
    await w.settle(500);
    expect(leaves(obs.seen), 'no leave from a stale lease read').toEqual([]);
    await w.dispose();
  });
});
