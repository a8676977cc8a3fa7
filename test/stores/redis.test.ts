import { afterAll, beforeAll, describe } from 'vitest';
import { createRedisStore } from '../../src/store/redis.ts';
import { runStoreContract } from '../contracts/store.contract.ts';
import { createRedisServer, hasRedis, type RedisServer } from '../helpers/redis-server.ts';

describe.skipIf(!hasRedis)('redis store', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await createRedisServer();
  });
  afterAll(() => server?.stop());
  runStoreContract('redis', async () => {
    const store = await createRedisStore(server.url, { base: `t${Math.random().toString(36).slice(2)}` });
    return { store, cleanup: () => store.dispose() };
  });
});
