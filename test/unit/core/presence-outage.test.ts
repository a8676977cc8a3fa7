/**
 * Presence across a broker restart, deterministically. Two channel
 * instances share one memory store; each sees it through its own view that can be taken down
 * (KV and pub/sub reject, health 'degraded') or come back one side at a time, as a restarted
 * Redis's three connections do. Time is driven by hand.
 *
 * The regression: a restarted Redis has lost every lease; an instance whose KV connection came
 * back before its pub/sub one (health still 'degraded') or before the other instance had
 * reconnected announced `leave` for users who never left. multi-instance.test.ts hits the same
 * race with real processes, but only when the host is loaded.
 */
import { describe, expect, it } from 'vitest';
import type { Storage } from 'unstorage';
import { createChannels } from '../../../src/core/channels.ts';
import { Registry } from '../../../src/core/registry.ts';
import type { Session } from '../../../src/core/session.ts';
import { createLogger } from '../../../src/log.ts';
import { createGatewayMetrics } from '../../../src/metrics.ts';
import { createMemoryPresence } from '../../../src/store/memory-presence.ts';
import { createMemoryStore } from '../../../src/store/memory.ts';
import type { PresenceStore } from '../../../src/store/presence-store.ts';
import type { Store } from '../../../src/store/types.ts';
import { ManualClock } from '../../helpers/gateway.ts';

const TTL_SEC = 2;
const CHANNEL = 'room:o';

/** One instance's view of the shared store. */
function view(shared: Store, box: { presence: PresenceStore }) {
  const state = { kvUp: true, pubsubUp: true };
  const down = () => Promise.reject(new Error('broker down'));
  const kv = new Proxy(shared.kv, {
    get(target, prop, recv) {
      const v = Reflect.get(target, prop, recv) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => (state.kvUp ? (v as (...a: unknown[]) => unknown).apply(target, args) : down());
    },
  }) as Storage;
  const gate = <T>(fn: () => Promise<T>): Promise<T> => (state.kvUp ? fn() : down());
  const p = () => box.presence;
  const presence: PresenceStore = {
    join: (...a) => gate(() => p().join(...a)),
    leave: (...a) => gate(() => p().leave(...a)),
    renew: (...a) => gate(() => p().renew(...a)),
    restore: (...a) => gate(() => p().restore(...a)),
    members: (...a) => gate(() => p().members(...a)),
    count: (...a) => gate(() => p().count(...a)),
    instances: () => gate(() => p().instances()),
    drop: (...a) => gate(() => p().drop(...a)),
  };
  const store: Store = {
    name: 'view',
    kv,
    presence,
    history: shared.history,
    capabilities: shared.capabilities,
    pubsub: {
      publish: (t, m) => (state.pubsubUp ? shared.pubsub.publish(t, m) : down()),
      subscribe: (t, on, gap) => shared.pubsub.subscribe(t, (m) => state.pubsubUp && on(m), gap),
    },
    health: () => (state.kvUp && state.pubsubUp ? 'ok' : 'degraded'),
    dispose: async () => {},
  };
  return { store, state };
}

function instance(shared: Store, box: { presence: PresenceStore }, clock: ManualClock, user: string) {
  const { store, state } = view(shared, box);
  const registry = new Registry();
  const channels = createChannels({ store, registry, log: createLogger('silent'), clock, ttlSec: TTL_SEC, metrics: createGatewayMetrics() });
  const seen: Array<{ type: string; user?: string }> = [];
  const session = {
    id: `conn-${user}`,
    userId: user,
    channel: CHANNEL,
    state: 'open',
    route: { name: 'chat', upstreams: [], presence: true, presenceEvents: true, echo: false },
    sendToClient(data: string | Uint8Array) {
      seen.push(JSON.parse(typeof data === 'string' ? data : new TextDecoder().decode(data)) as { type: string; user?: string });
    },
  } as unknown as Session;
  registry.add(session);
  channels.join(session);
  const leaves = () => seen.filter((e) => e.type === 'leave').map((e) => e.user);
  const joins = () => seen.filter((e) => e.type === 'join').map((e) => e.user);
  return { channels, state, leaves, joins, seen };
}

/** Advance both instances' clocks in small steps, letting the store's promises settle. */
async function run(clocks: ManualClock[], ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 50) {
    for (const c of clocks) {
      c.wall += 50;
      c.advance(50);
    }
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  }
}

describe('presence across a broker restart', () => {
  it('no leave while the KV answers before pub/sub, nor before the other instance has rewritten its leases; a real crash still leaves', async () => {
    const shared = createMemoryStore();
    const ca = new ManualClock();
    const cb = new ManualClock();
    // Presence expiry runs on the store's clock: A's (B's stops when B crashes).
    const box = { presence: createMemoryPresence(() => ca.wall) };
    const a = instance(shared, box, ca, 'alice');
    await run([ca, cb], 200);
    const b = instance(shared, box, cb, 'bob');
    await run([ca, cb], 1000);
    expect(a.joins()).toEqual(['bob']);
    // Bob learns of alice from his snapshot (first event), not from a join.
    expect(b.seen[0]).toEqual({ type: 'presence', channel: CHANNEL, users: [{ user: 'alice', connections: 1 }, { user: 'bob', connections: 1 }] });
    expect(b.joins()).toEqual([]);
    expect((await a.channels.presence(CHANNEL)).map((u) => u.user)).toEqual(['alice', 'bob']);

    // Redis goes away for 1.5 s and comes back empty.
    Object.assign(a.state, { kvUp: false, pubsubUp: false });
    Object.assign(b.state, { kvUp: false, pubsubUp: false });
    await run([ca, cb], 1500);
    box.presence = createMemoryPresence(() => ca.wall);

    // A's KV connection is back first: presence reads answer (without bob) while A is degraded.
    a.state.kvUp = true;
    await run([ca, cb], 1000);
    expect(a.leaves(), 'KV back, pub/sub not yet').toEqual([]);

    // A is fully back; B is still reconnecting for longer than one ttl.
    a.state.pubsubUp = true;
    await run([ca, cb], 1.5 * TTL_SEC * 1000);
    expect(a.leaves(), 'the other instance has not reconnected yet').toEqual([]);

    // B is back and rewrites its leases; nobody flaps, well past the grace.
    Object.assign(b.state, { kvUp: true, pubsubUp: true });
    await run([ca, cb], 3 * TTL_SEC * 1000);
    expect(a.leaves()).toEqual([]);
    expect(b.leaves()).toEqual([]);
    expect(a.joins().filter((u) => u === 'bob')).toHaveLength(1);
    expect((await a.channels.presence(CHANNEL)).map((u) => u.user)).toEqual(['alice', 'bob']);

    // B crashes (no dispose, its timers stop): A announces bob's leave within ttl + a sweep.
    const crashAt = ca.t;
    let leftAt: number | undefined;
    for (let t = 0; t < 2 * TTL_SEC * 1000 && leftAt === undefined; t += 50) {
      await run([ca], 50);
      if (a.leaves().includes('bob')) leftAt = ca.t;
    }
    expect(leftAt, 'leave after the crash').toBeDefined();
    // The README's bound: within the presence TTL of the crash (lease 0.8 × ttl + one sweep).
    expect(leftAt! - crashAt).toBeLessThanOrEqual(TTL_SEC * 1000);
    await a.channels.dispose();
    await b.channels.dispose();
  });
});
