/**
 * The Redis store: KV through unstorage's redis driver (keys under `base:`), pub/sub on two more
 * connections (a dedicated subscriber, since a subscribed connection can run nothing else, and a
 * publisher, which also runs the presence and history scripts). ioredis and the driver are imported inside the factory so that bundles which never
 * call it (Workers) never pull Node-only code.
 *
 * Failure policy: the factory resolves even when Redis is down, health() is
 * 'degraded' until every connection is ready, commands reject fast instead of queueing (no
 * offline queue), and reconnects retry with a backoff capped at `maxRetryDelayMs`.
 */
import type { Redis, RedisOptions } from 'ioredis';
import { createStorage } from 'unstorage';
import { createRedisHistory } from './redis-history.ts';
import { createRedisPresence } from './redis-presence.ts';
import { createRedisPubSub } from './redis-pubsub.ts';
import type { Store } from './types.ts';

/** The part of an ioredis client (or Cluster) the store needs. */
type Client = Pick<Redis, 'status' | 'on' | 'once' | 'off' | 'quit' | 'disconnect'>;

export interface RedisStoreOptions {
  /** Prefix for KV keys and pub/sub channels, so deployments can share one Redis. @default 'wsgate' */
  base?: string;
  /** How long the factory waits for the first connection before resolving anyway. @default 2000 */
  startupTimeoutMs?: number;
  /** A command (publish, get, …) that got no reply within this many ms rejects. @default 2000 */
  commandTimeoutMs?: number;
  /** Upper bound of the reconnect backoff (attempt × 100 ms). @default 1000 */
  maxRetryDelayMs?: number;
  /** Extra ioredis options, applied to every connection. */
  redis?: RedisOptions;
  /** Connection errors, at most one per connection per outage. @default console.warn */
  onError?: (error: unknown) => void;
}

/**
 * @example
 * const store = await createRedisStore('redis://127.0.0.1:6379', { base: 'wsgate' });
 * if (store.health() === 'degraded') console.warn('Redis is not reachable yet');
 */
export async function createRedisStore(url: string, opts: RedisStoreOptions = {}): Promise<Store> {
  const [{ Redis: RedisClient }, { default: redisDriver }] = await Promise.all([import('ioredis'), import('unstorage/drivers/redis')]).catch(
    (err: { code?: string; message?: string }) => {
      // ioredis is an optional peer dependency: only redis:// stores need it.
      if (err?.code === 'ERR_MODULE_NOT_FOUND' && /ioredis/.test(err.message ?? ''))
        throw new Error('redis:// stores need the ioredis package next to wsgate: npm install ioredis', { cause: err });
      throw err;
    },
  );
  const base = (opts.base ?? 'wsgate').replace(/:$/, '');
  const maxDelay = opts.maxRetryDelayMs ?? 1000;
  const onError = opts.onError ?? ((e: unknown) => console.warn('[wsgate] redis store:', describe(e)));
  const common: RedisOptions = {
    lazyConnect: false,
    enableOfflineQueue: false,
    commandTimeout: opts.commandTimeoutMs ?? 2000,
    retryStrategy: (attempt) => Math.min(attempt * 100, maxDelay),
    ...opts.redis,
  };

  const driver = redisDriver({ ...common, url, base });
  const kvClient = driver.getInstance?.();
  if (!kvClient) throw new Error('unstorage redis driver did not create a client');
  const kv = createStorage({ driver });
  const publisher = new RedisClient(url, { ...common, connectionName: `${base}:pub` });
  const subscriber = new RedisClient(url, {
    ...common,
    connectionName: `${base}:sub`,
    // redis-pubsub.ts resubscribes itself so it knows when to signal the gap.
    autoResubscribe: false,
  });
  const clients: Client[] = [kvClient, publisher, subscriber];
  for (const client of clients) reportErrors(client, onError);

  const pubsub = createRedisPubSub(subscriber, publisher, `${base}:`, onError);
  await Promise.all(clients.map((c) => firstOutcome(c, opts.startupTimeoutMs ?? 2000)));

  let disposed = false;
  return {
    name: 'redis',
    kv,
    pubsub,
    // On the publisher connection: a plain client, never in subscribe mode.
    presence: createRedisPresence(publisher, base),
    history: createRedisHistory(publisher, base, `${base}:`),
    capabilities: { crossInstance: true, ttl: true },
    health: () => (!disposed && clients.every((c) => c.status === 'ready') ? 'ok' : 'degraded'),
    async dispose() {
      if (disposed) return;
      disposed = true;
      pubsub.close();
      await Promise.all(clients.map(close));
      await kv.dispose();
    },
  };
}

/** An 'error' listener on every connection: without one, ioredis logs each retry's error. */
function reportErrors(client: Client, onError: (error: unknown) => void): void {
  let reported = false;
  client.on('error', (error: unknown) => {
    if (reported) return;
    reported = true;
    onError(error);
  });
  client.on('ready', () => {
    reported = false;
  });
}

/** Resolves on 'ready', on the first failure, or after `ms`: start-up never waits for Redis. */
function firstOutcome(client: Client, ms: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const events = ['ready', 'error', 'close', 'end'] as const;
    const done = (): void => {
      clearTimeout(timer);
      for (const e of events) client.off(e, done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    for (const e of events) client.once(e, done);
  });
}

async function close(client: Client): Promise<void> {
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      // fall through: the connection went away meanwhile
    }
  }
  client.disconnect();
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
