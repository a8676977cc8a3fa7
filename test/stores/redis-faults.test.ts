/**
 * Redis outages against a private redis-server: restart, start-up while down,
 * cross-instance delivery, and memory-store isolation.
 */
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { createMemoryStore } from '../../src/store/memory.ts';
import { createRedisStore, type RedisStoreOptions } from '../../src/store/redis.ts';
import type { Store } from '../../src/store/types.ts';
import { listen, received } from '../contracts/store.contract.ts';
import { createRedisServer, hasRedis, sleep, type RedisServer } from '../helpers/redis-server.ts';

const servers: RedisServer[] = [];
const stores: Store[] = [];
const errors: unknown[] = [];
const quiet: RedisStoreOptions = { onError: (e) => errors.push(e) };

async function open(url: string, opts: RedisStoreOptions = {}): Promise<Store> {
  const store = await createRedisStore(url, { ...quiet, ...opts });
  stores.push(store);
  return store;
}
async function server(start = true): Promise<RedisServer> {
  const s = await createRedisServer({ start });
  servers.push(s);
  return s;
}

afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.dispose()));
});
afterAll(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

describe.skipIf(!hasRedis)('redis store faults', () => {
  it('after a Redis crash and restart, subscribers receive again and get one gap signal', async () => {
    const redis = await server();
    const [a, b] = [await open(redis.url), await open(redis.url)];
    const [x, y] = [await listen(a, 'room'), await listen(a, 'room')];
    const z = await listen(b, 'room');
    await b.pubsub.publish('room', 'before');
    await Promise.all([received(x, 1), received(y, 1), received(z, 1)]);

    await redis.kill();
    await vi.waitFor(() => expect(a.health()).toBe('degraded'), { timeout: 2000 });
    await expect(b.pubsub.publish('room', 'lost')).rejects.toMatchObject({ code: 'store_unavailable' });
    expect(x.gaps + y.gaps + z.gaps).toBe(0);
    await sleep(600); // an outage long enough for several reconnect attempts to fail

    await redis.start();
    const upAt = performance.now();
    let i = 0;
    // Probe until every subscriber hears a message published after the restart.
    while (![x, y, z].every((inbox) => inbox.messages.some((m) => m.startsWith('probe')))) {
      if (performance.now() - upAt > 5000) throw new Error('subscribers not back within 5 s');
      await b.pubsub.publish('room', `probe${i++}`).catch(() => undefined);
      await sleep(20);
    }
    const backMs = performance.now() - upAt;
    await vi.waitFor(() => expect(a.health()).toBe('ok'), { timeout: 2000 });
    const healthyMs = performance.now() - upAt;
    console.info(`[redis restart] subscribers back ${backMs.toFixed(0)} ms, health ok ${healthyMs.toFixed(0)} ms after restart`);
    expect(backMs).toBeLessThan(3000);

    await vi.waitFor(() => expect([x.gaps, y.gaps, z.gaps]).toEqual([1, 1, 1]));
    await sleep(200);
    expect([x.gaps, y.gaps, z.gaps]).toEqual([1, 1, 1]);
    expect(x.messages).not.toContain('lost');
    expect(errors.length).toBeGreaterThan(0); // failed reconnects were reported, not thrown
    expect(errors.length).toBeLessThanOrEqual(6); // at most once per connection per outage

    // A second outage gives a second gap, not more.
    await redis.restart();
    await vi.waitFor(() => expect([x.gaps, y.gaps, z.gaps]).toEqual([2, 2, 2]), { timeout: 5000 });
  });

  it('Redis down at start-up → the store still resolves, degraded, failing fast; then recovers', async () => {
    const redis = await server(false);
    const t0 = performance.now();
    const store = await open(redis.url);
    const factoryMs = performance.now() - t0;
    expect(factoryMs).toBeLessThan(1000);
    expect(store.health()).toBe('degraded');

    const t1 = performance.now();
    await expect(store.pubsub.publish('room', 'x')).rejects.toMatchObject({ code: 'store_unavailable' });
    const publishMs = performance.now() - t1;
    expect(publishMs).toBeLessThan(500);
    await expect(store.pubsub.subscribe('room', () => undefined)).rejects.toMatchObject({
      code: 'store_unavailable',
    });
    await expect(store.kv.getItem('k')).rejects.toThrow();
    console.info(`[redis down at start-up] factory ${factoryMs.toFixed(0)} ms, publish rejected in ${publishMs.toFixed(1)} ms`);
    const spare = await createRedisStore(redis.url, quiet);
    const t2 = performance.now();
    await spare.dispose(); // disposing while Redis is down neither hangs nor throws
    expect(performance.now() - t2).toBeLessThan(500);

    await redis.start();
    const upAt = performance.now();
    await vi.waitFor(() => expect(store.health()).toBe('ok'), { timeout: 3000, interval: 10 });
    console.info(`[redis down at start-up] health ok ${(performance.now() - upAt).toFixed(0)} ms after Redis came up`);
    const inbox = await listen(store, 'room');
    await store.pubsub.publish('room', 'now');
    expect(await received(inbox, 1)).toEqual(['now']);
    expect(inbox.gaps).toBe(0);
  });

  it('two stores on one Redis see each other; a different base is isolated', async () => {
    const redis = await server();
    const [a, b] = [await open(redis.url), await open(redis.url)];
    const other = await open(redis.url, { base: 'other' });
    expect(a.capabilities.crossInstance).toBe(true);
    const [ia, ib, io] = [await listen(a, 't'), await listen(b, 't'), await listen(other, 't')];
    await a.pubsub.publish('t', 'from a');
    await b.pubsub.publish('t', 'from b');
    expect(await received(ia, 2)).toEqual(['from a', 'from b']);
    expect(await received(ib, 2)).toEqual(['from a', 'from b']);
    await a.kv.setItem('presence:u1', 'on', { ttl: 30 });
    expect(await b.kv.getItem('presence:u1')).toBe('on');
    expect(await other.kv.getItem('presence:u1')).toBeNull();
    await sleep(100);
    expect(io.messages).toEqual([]);
  });
});

describe('memory store isolation', () => {
  it('two memory stores share neither messages nor keys', async () => {
    const [a, b] = [createMemoryStore(), createMemoryStore()];
    expect(a.capabilities.crossInstance).toBe(false);
    const [ia, ib] = [await listen(a, 't'), await listen(b, 't')];
    await a.pubsub.publish('t', 'only a');
    expect(await received(ia, 1)).toEqual(['only a']);
    await a.kv.setItem('k', 1);
    expect(await b.kv.getItem('k')).toBeNull();
    await sleep(20);
    expect(ib.messages).toEqual([]);
    await Promise.all([a.dispose(), b.dispose()]);
  });
});
