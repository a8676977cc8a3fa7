/**
 * Broadcast on its own: two "instances" on one memory store's pub/sub. Local delivery at once
 * (sender excluded unless echo), the JSON envelope on hub routes and the raw payload on relay
 * routes, binary unchanged, delivery to the other instance once (never back to its publisher),
 * presence deltas handed to the tracker.
 */
import { describe, expect, it } from 'vitest';
import { createBroadcast } from '../../../src/core/broadcast.ts';
import type { Wire } from '../../../src/core/channel-wire.ts';
import { systemClock } from '../../../src/core/clock.ts';
import { Registry } from '../../../src/core/registry.ts';
import type { SharedFrame } from '../../../src/core/leg.ts';
import type { Session } from '../../../src/core/session.ts';
import { createLogger } from '../../../src/log.ts';
import { createGatewayMetrics } from '../../../src/metrics.ts';
import { createMemoryStore } from '../../../src/store/memory.ts';

const CH = 'room:b';
const text = (d: string | Uint8Array) => (typeof d === 'string' ? d : new TextDecoder().decode(d));

function instance(store: ReturnType<typeof createMemoryStore>, name: string) {
  const registry = new Registry();
  const deltas: Wire[] = [];
  const b = createBroadcast({ store, registry, instance: name, log: createLogger('silent'), metrics: createGatewayMetrics(), onPresence: (_c, w) => deltas.push(w), onGap: () => {}, historyOf: () => undefined, clock: systemClock });
  const member = (id: string, route: Record<string, unknown> = {}) => {
    const got: Array<{ data: string; binary: boolean }> = [];
    const s = { id, userId: id, channel: CH, state: 'open', route: { name: 'r', upstreams: [], echo: false, ...route }, sendToClient: (d: string | Uint8Array, binary: boolean) => got.push({ data: text(d), binary }), sendShared: (f: SharedFrame) => got.push({ data: text(f.data), binary: f.isBinary }) } as unknown as Session;
    registry.add(s);
    return { s, got };
  };
  return { b, member, deltas };
}
const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

describe('broadcast', () => {
  it('delivers locally and to the other instance once, in the envelope, sender excluded unless echo', async () => {
    const store = createMemoryStore();
    const [i1, i2] = [instance(store, 'i1'), instance(store, 'i2')];
    await Promise.all([i1.b.subscribe(CH), i2.b.subscribe(CH)]);
    const alice = i1.member('alice');
    const loud = i1.member('loud', { echo: true });
    const relay = i2.member('relay', { upstreams: ['ws://x'] });
    const bob = i2.member('bob');
    i1.b.fromClient(alice.s, 'hi', false);
    await settle();
    const env = JSON.stringify({ type: 'message', channel: CH, from: 'alice', data: 'hi' });
    expect(alice.got).toEqual([]);
    expect(loud.got).toEqual([{ data: env, binary: false }]);
    expect(bob.got).toEqual([{ data: env, binary: false }]);
    expect(relay.got).toEqual([{ data: 'hi', binary: false }]); // raw between relayed messages
    i2.b.fromClient(bob.s, new Uint8Array([0, 255, 7]), true);
    await settle();
    expect(alice.got).toEqual([{ data: text(new Uint8Array([0, 255, 7])), binary: true }]);
    expect(bob.got).toHaveLength(1); // not back to the sender, not twice
    await i1.b.publish(CH, 'server');
    await settle();
    expect(bob.got.at(-1)?.data).toBe(JSON.stringify({ type: 'message', channel: CH, from: null, data: 'server' }));
    expect(alice.got.filter((g) => g.data.includes('server'))).toHaveLength(1);
    await i2.b.send(CH, { k: 'p', i: 'i2', e: 'join', from: 'bob', n: 1 });
    await settle();
    expect(i1.deltas).toEqual([{ k: 'p', i: 'i2', e: 'join', from: 'bob', n: 1 }]);
    expect(i2.deltas).toEqual([]); // its own
    await i1.b.dispose();
    await i2.b.dispose();
  });
});
