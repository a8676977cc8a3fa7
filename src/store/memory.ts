/**
 * The embedded default store: KV in unstorage's memory driver (with TTL added, see
 * ttl-driver.ts) and in-process pub/sub. Nothing leaves the process: two memory stores, in one
 * process or in two, never see each other's keys or messages. Use the Redis
 * store to run more than one gateway instance.
 */
import { createStorage } from 'unstorage';
import memoryDriver from 'unstorage/drivers/memory';
import { createMemoryHistory } from './memory-history.ts';
import { createMemoryPresence } from './memory-presence.ts';
import { createMemoryPubSub } from './memory-pubsub.ts';
import { withTtl } from './ttl-driver.ts';
import type { Store } from './types.ts';

export interface MemoryStoreOptions {
  /** Milliseconds clock used for TTL expiry; inject one in tests. @default Date.now */
  now?: () => number;
  /** Called when a subscriber throws. @default console.error */
  onError?: (error: unknown) => void;
}

/**
 * @example
 * const store = createMemoryStore();
 * await store.kv.setItem('presence:u1', { at: Date.now() }, { ttl: 30 });
 * const off = await store.pubsub.subscribe('room:1', (m) => console.log(m));
 * await store.pubsub.publish('room:1', 'hello');
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): Store {
  const kv = createStorage({ driver: withTtl(memoryDriver(), { now: options.now }) });
  const pubsub = createMemoryPubSub(options.onError);
  return {
    name: 'memory',
    kv,
    pubsub,
    presence: createMemoryPresence(options.now),
    history: createMemoryHistory(pubsub, options.now),
    capabilities: { crossInstance: false, ttl: true },
    health: () => 'ok',
    async dispose() {
      pubsub.close();
      await kv.dispose();
    },
  };
}
