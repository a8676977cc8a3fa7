import { describe, expect, it } from 'vitest';
import { createStore } from '../../../src/store/index.ts';
import { hasRedis, createRedisServer } from '../../helpers/redis-server.ts';

describe('createStore', () => {
  it('defaults to the memory store', async () => {
    for (const url of [undefined, '', 'memory']) {
      const store = await createStore(url);
      expect(store.name).toBe('memory');
      await store.dispose();
    }
  });

  it('rejects unknown URLs with a clear message and no password', async () => {
    await expect(createStore('postgres://user:secret@db/x')).rejects.toThrow(/Unknown store URL "postgres:\/\/\*\*\*@db\/x"/);
  });

  it.skipIf(!hasRedis)('picks Redis for redis:// URLs', async () => {
    const server = await createRedisServer();
    try {
      const store = await createStore(server.url);
      expect(store.name).toBe('redis');
      expect(store.health()).toBe('ok');
      await store.dispose();
    } finally {
      await server.stop();
    }
  });
});
