/**
 * The history part of the store contract (src/store/history-store.ts): publish stamps the next
 * offset and fans the stamped text out on pub/sub in the same step; read returns what follows an
 * offset, says when history no longer holds it, and a wrong epoch is never "complete".
 */
import { expect, it } from 'vitest';
import type { Store } from '../../src/store/types.ts';
import { listen, received } from './store.contract.ts';

export function historyContract(store: () => Store, unique: (name: string) => string): void {
  it('stamps consecutive offsets, publishes the stamped message, reads back after an offset', async () => {
    const s = store();
    const ch = unique('hist');
    const inbox = await listen(s, `ch:${ch}`);
    const opts = { size: 5, ttlSec: 60 };
    const got = [];
    for (let i = 1; i <= 8; i++) got.push(await s.history.publish(ch, `ch:${ch}`, JSON.stringify({ k: 'm', d: `m${i}` }), opts));
    const epoch = got[0]!.epoch;
    expect(got).toEqual(Array.from({ length: 8 }, (_, i) => ({ offset: i + 1, epoch })));
    const published = await received(inbox, 8);
    expect(published.map((m) => JSON.parse(m) as { o: number; ep: string; d: string })).toEqual(Array.from({ length: 8 }, (_, i) => ({ o: i + 1, ep: epoch, k: 'm', d: `m${i + 1}` })));
    // Only the last 5 are kept: after 3 is complete, after 2 is not.
    const r = await s.history.read(ch, 3, epoch, 100);
    expect(r).toMatchObject({ epoch, top: 8, complete: true });
    expect(r.entries.map((e) => e.offset)).toEqual([4, 5, 6, 7, 8]);
    expect(r.entries[0]!.message).toBe(published[3]);
    expect(await s.history.read(ch, 2, epoch, 100)).toMatchObject({ complete: false, top: 8, entries: [] });
    expect(await s.history.read(ch, 8, epoch, 100)).toMatchObject({ complete: true, entries: [] });
    expect((await s.history.read(ch, 5, epoch, 2)).entries.map((e) => e.offset)).toEqual([6, 7]);
    expect(await s.history.read(ch, 5, 'another', 100)).toMatchObject({ complete: false, epoch });
    expect(await s.history.read(ch, 9, epoch, 100)).toMatchObject({ complete: false }); // from the future
    await inbox.off();
  });

  it('a channel nobody published on has an epoch and offset 0 that later publishes continue from', async () => {
    const s = store();
    const ch = unique('fresh');
    const r = await s.history.read(ch, 0, undefined, 10);
    expect(r).toMatchObject({ top: 0, complete: true, entries: [] });
    const p = await s.history.publish(ch, `ch:${ch}`, '{"k":"m","d":"x"}', { size: 10, ttlSec: 60 });
    expect(p).toEqual({ offset: 1, epoch: r.epoch });
    expect((await s.history.read(ch, 0, r.epoch, 10)).entries.map((e) => e.offset)).toEqual([1]);
  });
}
