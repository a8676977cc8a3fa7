/**
 * The outage outbox with two instances on one memory store, the publishing one seeing it through
 * a view that can be taken down: while down, publishes are delivered locally and queued; back,
 * they reach the other instance in order (once the store has been back for the settle time),
 * never twice at home; a full outbox refuses
 * (store_unavailable) and the other instance's members get `gap` before the next message; an
 * entry older than the age limit is dropped the same way.
 */
import { describe, expect, it } from 'vitest';
import { createBroadcast } from '../../../src/core/broadcast.ts';
import { Outbox } from '../../../src/core/outbox.ts';
import { Registry } from '../../../src/core/registry.ts';
import type { SharedFrame } from '../../../src/core/leg.ts';
import type { Session } from '../../../src/core/session.ts';
import { createLogger } from '../../../src/log.ts';
import { createGatewayMetrics } from '../../../src/metrics.ts';
import { createMemoryStore } from '../../../src/store/memory.ts';
import type { Store } from '../../../src/store/types.ts';
import { ManualClock } from '../../helpers/gateway.ts';

const CH = 'room:o';

function setup(limits: { maxMessages: number; maxAgeMs: number }, history = false) {
  const shared = createMemoryStore();
  const clock = new ManualClock();
  const state = { up: true };
  const down = () => Promise.reject(new Error('store down'));
  const view: Store = {
    ...shared,
    health: () => (state.up ? 'ok' : 'degraded'),
    pubsub: { publish: (t, m) => (state.up ? shared.pubsub.publish(t, m) : down()), subscribe: (t, on, gap) => shared.pubsub.subscribe(t, on, gap) },
    history: { publish: (...a) => (state.up ? shared.history.publish(...a) : down()), read: (...a) => shared.history.read(...a) },
  };
  const make = (name: string, store: Store, outbox?: Outbox) => {
    const registry = new Registry();
    const got: string[] = [];
    const s = { id: `${name}-c`, userId: name, channel: CH, state: 'open', route: { upstreams: [], echo: false, presenceEvents: true }, sendToClient: (d: string | Uint8Array) => got.push(typeof d === 'string' ? d : new TextDecoder().decode(d)), sendShared: (f: SharedFrame) => got.push(new TextDecoder().decode(f.data)) } as unknown as Session;
    registry.add(s);
    const b = createBroadcast({ store, registry, instance: name, log: createLogger('silent'), metrics: createGatewayMetrics(), onPresence: () => {}, onGap: () => {}, historyOf: () => (history ? { size: 100, ttlSec: 60 } : undefined), clock, ...(outbox ? { outbox } : {}) });
    const seen = () => got.map((g) => JSON.parse(g) as { type: string; data?: string }).map((e) => (e.type === 'message' ? e.data : e.type));
    return { b, seen };
  };
  const pub = make('i1', view, new Outbox(() => clock.now(), limits));
  const other = make('i2', shared);
  const settle = async (ms = 0) => {
    for (let t = 0; t <= ms; t += 50) {
      clock.advance(50);
      for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    }
  };
  return { pub, other, state, settle, clock };
}

describe('outage outbox', () => {
  for (const history of [false, true])
    it(`queued while the store is away, flushed in order when it is back, once at home (${history ? 'history' : 'plain'} channel)`, async () => {
      const t = setup({ maxMessages: 100, maxAgeMs: 60_000 }, history);
      await Promise.all([t.pub.b.subscribe(CH), t.other.b.subscribe(CH)]);
      await t.settle();
      await t.pub.b.publish(CH, 'before');
      t.state.up = false;
      for (let i = 0; i < 5; i++) expect(await t.pub.b.publish(CH, `down-${i}`)).toEqual({ queued: true });
      await t.settle(500);
      expect(t.pub.seen()).toEqual(['before', 'down-0', 'down-1', 'down-2', 'down-3', 'down-4']);
      expect(t.other.seen()).toEqual(['before']);
      t.state.up = true;
      expect(await t.pub.b.publish(CH, 'after')).toEqual({ queued: true }); // behind the queue: order
      await t.settle(1000);
      expect(t.other.seen(), 'held until the store has been back OUTBOX_SETTLE_MS').toEqual(['before']);
      await t.settle(1000);
      const all = ['before', 'down-0', 'down-1', 'down-2', 'down-3', 'down-4', 'after'];
      expect(t.other.seen()).toEqual(all);
      expect(t.pub.seen()).toEqual(all);
      expect((await t.pub.b.publish(CH, 'live')).queued).toBeUndefined();
      await t.pub.b.dispose();
      await t.other.b.dispose();
    });

  it('full: the publish is refused (store_unavailable) and the others get gap where the message was lost', async () => {
    const t = setup({ maxMessages: 3, maxAgeMs: 60_000 });
    await Promise.all([t.pub.b.subscribe(CH), t.other.b.subscribe(CH)]);
    t.state.up = false;
    for (let i = 0; i < 3; i++) await t.pub.b.publish(CH, `q-${i}`);
    await expect(t.pub.b.publish(CH, 'overflow')).rejects.toMatchObject({ code: 'store_unavailable' });
    expect(t.pub.seen()).toEqual(['q-0', 'q-1', 'q-2', 'overflow']); // still delivered here
    t.state.up = true;
    await t.settle(2000);
    expect(t.other.seen()).toEqual(['q-0', 'q-1', 'q-2', 'gap']);
    await t.pub.b.dispose();
    await t.other.b.dispose();
  });

  it('an entry older than the age limit is dropped at flush time, with gap', async () => {
    const t = setup({ maxMessages: 100, maxAgeMs: 2500 });
    await Promise.all([t.pub.b.subscribe(CH), t.other.b.subscribe(CH)]);
    t.state.up = false;
    await t.pub.b.publish(CH, 'old');
    await t.settle(3000);
    await t.pub.b.publish(CH, 'fresh');
    t.state.up = true;
    await t.settle(2000);
    expect(t.other.seen()).toEqual(['gap', 'fresh']);
    await t.pub.b.dispose();
    await t.other.b.dispose();
  });
});
