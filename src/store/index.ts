/**
 * Picks a store from a URL, the one configuration knob most deployments need:
 * nothing or 'memory' → the embedded memory store; 'redis://' or 'rediss://' → Redis.
 * ioredis is imported only when a Redis store is created, so Workers bundles never pull it.
 */
import { ConfigError } from '../errors.ts';
import { createMemoryStore } from './memory.ts';
import { createRedisStore, type RedisStoreOptions } from './redis.ts';
import type { Store } from './types.ts';

export type { PubSub, Store, StoreCapabilities, StoreHealth } from './types.ts';
export type { PresenceMember, PresenceStore } from './presence-store.ts';
export type { HistoryEntry, HistoryOptions, HistoryRead, HistoryStore } from './history-store.ts';
export { createMemoryStore, type MemoryStoreOptions } from './memory.ts';
// redis.ts imports ioredis only inside createRedisStore, so re-exporting it here is Workers-safe.
export { createRedisStore, type RedisStoreOptions } from './redis.ts';

/**
 * @example
 * const store = await createStore(process.env.WSGATE_STORE); // undefined → memory
 */
export async function createStore(url?: string, redisOptions?: RedisStoreOptions): Promise<Store> {
  if (url === undefined || url === '' || url === 'memory') return createMemoryStore();
  if (/^rediss?:\/\//i.test(url)) return createRedisStore(url, redisOptions);
  const expected = '"memory" (the default) or a redis:// / rediss:// URL';
  throw new ConfigError({ source: 'store URL', field: 'url', expected }, `Unknown store URL "${redact(url)}": use ${expected}`);
}

/** Never echo a password from a mistyped URL into logs. */
function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
