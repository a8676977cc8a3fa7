/**
 * Offset sequencing on one instance: pub/sub messages it never received (dropped here on
 * purpose, as a broker reconnect drops them) are detected by the jump in offsets and read back
 * from the history, so members get every message in order and no `gap`; when the history no
 * longer holds them members get `gap` with the offset live delivery resumes after.
 */
import { describe, expect, it } from 'vitest';
import { createBroadcast } from '../../../src/core/broadcast.ts';
import { systemClock } from '../../../src/core/clock.ts';
import { Registry } from '../../../src/core/registry.ts';
import type { SharedFrame } from '../../../src/core/leg.ts';
import type { Session } from '../../../src/core/session.ts';
import { createLogger } from '../../../src/log.ts';
import { createGatewayMetrics } from '../../../src/metrics.ts';
import { createMemoryStore } from '../../../src/store/memory.ts';
import type { Store } from '../../../src/store/types.ts';

const CH = 'room:h';

/** A view of `store` whose subscriptions lose the messages `drop` picks. */
function lossy(store: Store, drop: (m: string) => boolean): Store {
  return { ...store, pubsub: { publish: (t, m) => store.pubsub.publish(t, m), subscribe: (t, on, gap) => store.pubsub.subscribe(t, (m) => drop(m) || on(m), gap) } };
}

async function setup(size: number, drop: (m: string) => boolean) {
  const store = createMemoryStore();
  const registry = new Registry();
  const got: Array<Record<string, unknown>> = [];
  const b = createBroadcast({
    store: lossy(store, drop),
    registry,
    instance: 'i1',
    log: createLogger('silent'),
    metrics: createGatewayMetrics(),
    onPresence: () => {},
    onGap: () => {},
    historyOf: () => ({ size, ttlSec: 60 }),
    clock: systemClock,
  });
  const s = { id: 'c1', userId: 'u', channel: CH, state: 'open', route: { upstreams: [], echo: false, presenceEvents: true }, sendToClient: (d: string | Uint8Array) => got.push(JSON.parse(typeof d === 'string' ? d : new TextDecoder().decode(d)) as Record<string, unknown>), sendShared: (f: SharedFrame) => got.push(JSON.parse(new TextDecoder().decode(f.data)) as Record<string, unknown>) } as unknown as Session;
  registry.add(s);
  await b.subscribe(CH);
  await new Promise((r) => setTimeout(r, 10)); // the sequencer reads where offsets stand
  const publish = async (n: number) => {
    for (let i = 1; i <= n; i++) await b.publish(CH, `m${i}`);
    await new Promise((r) => setTimeout(r, 20));
  };
  return { got, publish, dispose: () => b.dispose() };
}

describe('history sequencing', () => {
  it('a dropped pub/sub message is read back from the history: every message, in order, no gap', async () => {
    const t = await setup(100, (m) => m.startsWith('{"o":5,') || m.startsWith('{"o":6,'));
    await t.publish(10);
    expect(t.got.map((e) => `${e.type} ${e.offset} ${e.data}`)).toEqual(Array.from({ length: 10 }, (_, i) => `message ${i + 1} m${i + 1}`));
    await t.dispose();
  });

  it('when the history lost them too, members get gap with the offset delivery resumes after', async () => {
    // Size 1: by the time offset 4 arrives, 2 and 3 are gone from the history.
    const t = await setup(1, (m) => m.startsWith('{"o":2,') || m.startsWith('{"o":3,'));
    await t.publish(5);
    const types = t.got.map((e) => (e.type === 'gap' ? `gap ${e.offset}` : `${e.offset}`));
    expect(types).toEqual(['1', 'gap 3', '4', '5']);
    await t.dispose();
  });
});
