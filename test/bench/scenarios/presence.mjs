// Presence reads on Redis with many channels stored: 10,000 channels (one member each, from
// another instance) plus the channel being read (50 members); p50/p99 of one presence read
// (members of one channel: one script, one round trip) and of one sweep read (live instances:
// what each instance reads per sweep, whatever its channel count). The store runs in the
// harness process (tsx), against a private redis-server.
import { register } from 'tsx/esm/api';
import { percentiles } from '../lib/stats.mjs';
import { startRedis } from '../lib/targets.mjs';

export const name = 'presence';
export const title = 'Presence read with 10k channels on local Redis';

export function params(smoke) {
  return smoke ? { channels: 500, reads: 200 } : { channels: 10_000, reads: 5_000 };
}

async function timed(n, fn) {
  const us = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await fn(i);
    us.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  return percentiles(us);
}

export async function run(ctx, p) {
  const metrics = {}; const raw = {}; const skipped = {}; const failed = {};
  let redis;
  let store;
  try {
    redis = await startRedis();
    register();
    const { createRedisStore } = await import('../../../src/store/redis.ts');
    store = await createRedisStore(redis.url, { base: 'bench' });
    const pr = store.presence;
    for (let i = 0; i < p.channels; i += 1000)
      await Promise.all(Array.from({ length: Math.min(1000, p.channels - i) }, (_, j) => pr.join(`room:${i + j}`, 'other', `c${i + j}`, `u${(i + j) % 50}`, 600_000)));
    await Promise.all(Array.from({ length: 50 }, (_, j) => pr.join('room:read', 'me', `m${j}`, `u${j}`, 600_000)));
    await timed(200, () => pr.members('room:read')); // warm-up
    const read = await timed(p.reads, () => pr.members('room:read'));
    const any = await timed(p.reads, (i) => pr.members(`room:${i % p.channels}`));
    const sweep = await timed(p.reads, () => pr.instances());
    const renew = await timed(Math.max(10, p.reads / 100), () => pr.renew('other', 600_000, Array.from({ length: p.channels }, (_, k) => `room:${k}`)));
    const ms = (pc) => ({ p50_ms: pc.p50 / 1000, p99_ms: pc.p99 / 1000 });
    metrics['read.50-members'] = ms(read);
    metrics['read.1-member'] = ms(any);
    metrics['sweep.instances'] = ms(sweep);
    metrics[`renew.${p.channels}-channels`] = ms(renew);
    raw.percentilesUs = { read, any, sweep, renew };
    ctx.log(`    presence read (50 members) with ${p.channels} channels stored: p50 ${(read.p50 / 1000).toFixed(3)} ms, p99 ${(read.p99 / 1000).toFixed(3)} ms; sweep read p99 ${(sweep.p99 / 1000).toFixed(3)} ms; renewal of ${p.channels} channels p99 ${(renew.p99 / 1000).toFixed(2)} ms`);
  } catch (e) {
    failed.redis = e.message;
  } finally {
    await store?.dispose();
    await redis?.stop();
  }
  return { metrics, raw, skipped, failed, notes: ['one read = one Lua script (HGETALL of the instance leases and of the channel hash); no keyspace scan', 'client and redis-server on the same 2 shared cores'] };
}

export const ratios = {
  'presence read p99 (ms), 10k channels stored': (m) => m['read.50-members']?.p99_ms ?? null,
};
export const checks = [{ label: 'Presence read with 10k channels on local Redis: p99 ≤ 2 ms', ratio: 'presence read p99 (ms), 10k channels stored', op: '<=', limit: 2, unit: 'ms' }];
