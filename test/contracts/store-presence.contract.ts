/**
 * The presence part of the store contract (src/store/presence-store.ts): members per channel in
 * one read, instance leases that expire on the store's clock, restore after a lapse, and a store
 * with 10,000 channels where a read still touches only its own channel.
 */
import { expect, it } from 'vitest';
import type { Store } from '../../src/store/types.ts';

const sorted = <T extends { conn: string }>(xs: T[]) => [...xs].sort((a, b) => a.conn.localeCompare(b.conn));

export function presenceContract(store: () => Store, advance: (ms: number) => Promise<void>, unique: (name: string) => string): void {
  const LEASE = 1000;

  it('join, leave, members and count; two tabs are two members of one user', async () => {
    const p = store().presence;
    const ch = unique('room');
    const [a, b] = [unique('inst-a'), unique('inst-b')];
    expect(await p.join(ch, a, 'c1', 'alice', LEASE)).toBe(true); // first lease of this instance
    expect(await p.join(ch, a, 'c2', 'alice', LEASE)).toBe(false);
    await p.join(ch, b, 'c3', 'bob', LEASE);
    await p.join(unique('other'), b, 'c4', 'carol', LEASE);
    expect(sorted(await p.members(ch))).toEqual([
      { conn: 'c1', user: 'alice', instance: a },
      { conn: 'c2', user: 'alice', instance: a },
      { conn: 'c3', user: 'bob', instance: b },
    ]);
    expect(await p.count(ch)).toBe(3);
    await p.leave(ch, a, 'c1');
    await p.leave(ch, a, 'nobody'); // harmless
    expect(sorted(await p.members(ch)).map((m) => m.conn)).toEqual(['c2', 'c3']);
    expect(await p.count(unique('empty'))).toBe(0);
    expect(await p.members(unique('empty'))).toEqual([]);
  });

  it('keeps user names and channel names with any characters intact', async () => {
    const p = store().presence;
    const ch = unique('ch:with spaces/and\nnewline·世界');
    const inst = unique('inst');
    await p.join(ch, inst, 'conn:1', 'üser 👋🏽 \n two', LEASE);
    expect(await p.members(ch)).toEqual([{ conn: 'conn:1', user: 'üser 👋🏽 \n two', instance: inst }]);
  });

  it("an instance whose lease lapsed drops out of every read; renew reports the lapse; restore brings its members back", async () => {
    const p = store().presence;
    const [ch1, ch2] = [unique('r1'), unique('r2')];
    const [live, dead] = [unique('live'), unique('dead')];
    await p.join(ch1, live, 'l1', 'lucy', LEASE);
    await p.join(ch1, dead, 'd1', 'dan', LEASE);
    await p.join(ch2, dead, 'd2', 'dan', LEASE);
    expect(await p.instances()).toEqual(expect.arrayContaining([live, dead]));
    await advance(LEASE / 2);
    expect(await p.renew(live, LEASE, [ch1])).toBe(false); // held: nothing to restore
    await advance(LEASE / 2 + 200);
    expect((await p.members(ch1)).map((m) => m.user)).toEqual(['lucy']);
    expect(await p.count(ch2)).toBe(0);
    const instances = await p.instances();
    expect(instances).toContain(live);
    expect(instances).not.toContain(dead);
    // The "dead" instance was only paused: renew says its lease lapsed, restore rewrites it.
    expect(await p.renew(dead, LEASE, [ch1, ch2])).toBe(true);
    await p.restore(dead, LEASE, new Map([[ch1, new Map([['d1', 'dan']])], [ch2, new Map([['d2', 'dan']])]]));
    expect((await p.members(ch1)).map((m) => m.user).sort()).toEqual(['dan', 'lucy']);
    expect(await p.count(ch2)).toBe(1);
    // Graceful shutdown removes its members and its lease at once.
    await p.drop(dead, new Map([[ch1, new Map([['d1', 'dan']])], [ch2, new Map([['d2', 'dan']])]]));
    expect((await p.members(ch1)).map((m) => m.user)).toEqual(['lucy']);
    expect(await p.instances()).not.toContain(dead);
  });

  it('10,000 channels: a read returns its own channel only, renewal is one call', async () => {
    const p = store().presence;
    const inst = unique('big');
    const base = unique('many');
    const channels = Array.from({ length: 10_000 }, (_, i) => `${base}:${i}`);
    for (let i = 0; i < channels.length; i += 1000)
      await Promise.all(channels.slice(i, i + 1000).map((ch, j) => p.join(ch, inst, `c${i + j}`, `u${(i + j) % 50}`, 30_000)));
    await p.join(channels[1234]!, inst, 'extra', 'u0', 30_000);
    const t0 = performance.now();
    expect(sorted(await p.members(channels[1234]!))).toEqual([
      { conn: 'c1234', user: 'u34', instance: inst },
      { conn: 'extra', user: 'u0', instance: inst },
    ]);
    const readMs = performance.now() - t0;
    expect(await p.renew(inst, 30_000, channels)).toBe(false);
    expect(await p.count(channels[9999]!)).toBe(1);
    console.log(`[presence] ${store().name}: one read with 10,000 channels stored took ${readMs.toFixed(2)} ms`);
  }, 60_000);
}
