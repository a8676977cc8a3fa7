/**
 * The contract every store passes (memory, Redis, the Durable Object's): KV with prefixes and
 * TTL, pub/sub delivery, order, fan-out, isolation, large and unicode messages, presence
 * (store-presence.contract.ts) and history (store-history.contract.ts). A store test file is ~10
 * lines that call runStoreContract.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Store } from '../../src/store/types.ts';
import { historyContract } from './store-history.contract.ts';
import { presenceContract } from './store-presence.contract.ts';

export interface StoreFixture {
  store: Store;
  cleanup(): Promise<void>;
  /** Moves the store's clock forward. Without it the suite sleeps in real time. */
  advanceTime?(ms: number): Promise<void>;
}

export interface Inbox {
  messages: string[];
  gaps: number;
  off: () => Promise<void>;
}

/** Subscribes and records what arrives. */
export async function listen(store: Store, topic: string): Promise<Inbox> {
  const inbox: Inbox = { messages: [], gaps: 0, off: async () => undefined };
  inbox.off = await store.pubsub.subscribe(
    topic,
    (m) => inbox.messages.push(m),
    () => inbox.gaps++,
  );
  return inbox;
}

/** Waits until `inbox` holds at least `n` messages. */
export async function received(inbox: Inbox, n: number, timeout = 3000): Promise<string[]> {
  await vi.waitFor(() => expect(inbox.messages.length).toBeGreaterThanOrEqual(n), { timeout, interval: 5 });
  return inbox.messages;
}

let counter = 0;
const unique = (name: string): string => `${name}-${process.pid}-${Date.now()}-${++counter}`;

export function runStoreContract(name: string, factory: () => Promise<StoreFixture>): void {
  describe(`store contract: ${name}`, () => {
    let fx: StoreFixture;
    let store: Store;
    beforeEach(async () => {
      fx = await factory();
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup();
    });
    const advance = (ms: number): Promise<void> =>
      fx.advanceTime ? fx.advanceTime(ms) : new Promise((r) => setTimeout(r, ms));

    it('is healthy and declares its capabilities', () => {
      expect(store.health()).toBe('ok');
      expect(typeof store.capabilities.crossInstance).toBe('boolean');
      expect(store.capabilities.ttl).toBe(true);
    });

    describe('kv', () => {
      it('sets, gets, checks and removes items', async () => {
        const k = unique('kv');
        expect(await store.kv.getItem(k)).toBeNull();
        await store.kv.setItem(k, { user: 'u1', at: 42 });
        expect(await store.kv.getItem(k)).toEqual({ user: 'u1', at: 42 });
        expect(await store.kv.hasItem(k)).toBe(true);
        await store.kv.setItem(k, 'plain');
        expect(await store.kv.getItem(k)).toBe('plain');
        await store.kv.removeItem(k);
        expect(await store.kv.hasItem(k)).toBe(false);
        expect(await store.kv.getItem(k)).toBeNull();
      });

      it('lists keys under a prefix only', async () => {
        const p = unique('presence');
        await store.kv.setItem(`${p}:room1:u1`, 1);
        await store.kv.setItem(`${p}:room1:u2`, 2);
        await store.kv.setItem(`${p}:room2:u1`, 3);
        await store.kv.setItem(`${p}x:room1:u9`, 4);
        expect((await store.kv.getKeys(`${p}:room1`)).sort()).toEqual([`${p}:room1:u1`, `${p}:room1:u2`]);
        expect(await store.kv.getKeys(`${p}:`)).toHaveLength(3);
      });

      it('keeps unicode values intact', async () => {
        const k = unique('uni');
        const value = 'héllo · 世界 · 👋🏽 · עברית · e\u0301';
        await store.kv.setItem(k, value);
        expect(await store.kv.getItem(k)).toBe(value);
      });

      it('expires items after their ttl and keeps the others', async () => {
        const p = unique('ttl');
        await store.kv.setItem(`${p}:lease`, 'x', { ttl: 1 });
        await store.kv.setItem(`${p}:forever`, 'y');
        expect(await store.kv.getItem(`${p}:lease`)).toBe('x');
        await advance(1200);
        expect(await store.kv.getItem(`${p}:lease`)).toBeNull();
        expect(await store.kv.hasItem(`${p}:lease`)).toBe(false);
        expect(await store.kv.getKeys(`${p}:`)).toEqual([`${p}:forever`]);
        expect(await store.kv.getItem(`${p}:forever`)).toBe('y');
      });

      it('refreshes a lease when it is set again', async () => {
        const k = unique('lease');
        await store.kv.setItem(k, 'a', { ttl: 2 });
        await advance(1200);
        await store.kv.setItem(k, 'b', { ttl: 2 });
        await advance(1200);
        expect(await store.kv.getItem(k)).toBe('b');
      });
    });

    describe('presence', () => presenceContract(() => store, advance, unique));
    describe('history', () => historyContract(() => store, unique));

    describe('pubsub', () => {
      it('delivers messages in publish order', async () => {
        const t = unique('order');
        const inbox = await listen(store, t);
        const sent = Array.from({ length: 200 }, (_, i) => `m${i}`);
        for (const m of sent) await store.pubsub.publish(t, m);
        expect(await received(inbox, sent.length)).toEqual(sent);
      });

      it('fans out to several subscribers', async () => {
        const t = unique('fan');
        const inboxes = await Promise.all([listen(store, t), listen(store, t), listen(store, t)]);
        await store.pubsub.publish(t, 'hi');
        for (const inbox of inboxes) expect(await received(inbox, 1)).toEqual(['hi']);
      });

      it('stops delivery after unsubscribe, for that subscriber only', async () => {
        const t = unique('unsub');
        const [a, b] = [await listen(store, t), await listen(store, t)];
        await store.pubsub.publish(t, 'one');
        await received(a, 1);
        await a.off();
        await a.off(); // idempotent
        await store.pubsub.publish(t, 'two');
        expect(await received(b, 2)).toEqual(['one', 'two']);
        expect(a.messages).toEqual(['one']);
        await b.off();
        await store.pubsub.publish(t, 'three');
        const c = await listen(store, t);
        await store.pubsub.publish(t, 'four');
        expect(await received(c, 1)).toEqual(['four']);
        expect(b.messages).toEqual(['one', 'two']);
      });

      it('keeps topics isolated, including topics that share a prefix', async () => {
        const t = unique('room');
        const [room, sub, other] = [await listen(store, t), await listen(store, `${t}:1`), await listen(store, `${t}x`)];
        await store.pubsub.publish(`${t}:1`, 'for sub');
        await store.pubsub.publish(t, 'for room');
        await store.pubsub.publish(`${t}x`, 'for other');
        expect(await received(room, 1)).toEqual(['for room']);
        expect(await received(sub, 1)).toEqual(['for sub']);
        expect(await received(other, 1)).toEqual(['for other']);
      });

      it('resolves a publish nobody listens to', async () => {
        await expect(store.pubsub.publish(unique('nobody'), 'x')).resolves.toBeUndefined();
      });

      it('carries 1 MB messages and unicode unchanged', async () => {
        const t = unique('big');
        const inbox = await listen(store, t);
        const big = 'a'.repeat(1024 * 1024 - 3) + '✓';
        const uni = '👋🏽 世界 عربى e\u0301 \u0000 \u2028 end';
        await store.pubsub.publish(t, big);
        await store.pubsub.publish(t, uni);
        const [gotBig, gotUni] = await received(inbox, 2, 5000);
        expect(gotBig?.length).toBe(big.length);
        expect(gotBig === big).toBe(true);
        expect(gotUni).toBe(uni);
      });

      it('keeps delivering to others when a subscriber throws', async () => {
        const t = unique('throw');
        const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
        const warnings = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
        try {
          await store.pubsub.subscribe(t, () => {
            throw new Error('subscriber bug');
          });
          const inbox = await listen(store, t);
          await store.pubsub.publish(t, 'a');
          await store.pubsub.publish(t, 'b');
          expect(await received(inbox, 2)).toEqual(['a', 'b']);
        } finally {
          errors.mockRestore();
          warnings.mockRestore();
        }
      });
    });
  });
}
