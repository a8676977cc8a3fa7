/**
 * History and recovery on a hub route with `history`: messages carry `offset` and `epoch`; a
 * client that is away ~5 s while 100 messages are published and reconnects with
 * `?since=<last offset>&epoch=` receives exactly those 100, in order, then live ones (no gap, no
 * duplicate); an offset older than the history gets `gap` with the current offset. On the memory
 * store (one process) and on Redis (two `wsgate start` processes, reconnecting to the other one).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connectClient, expectRefused, startGateway, startUpstream, stopAll, until } from '../helpers/gateway.ts';
import { awayAndBack, HISTORY_ROUTES, tooOld, type Target } from '../helpers/history-scenarios.ts';
import { routesDir, spawnGateway, stopProcesses } from '../helpers/processes.ts';
import { createRedisServer, hasRedis, noRedisReason, type RedisServer } from '../helpers/redis-server.ts';
import { claims, hs } from '../helpers/tokens.ts';
import { resolveRoute } from '../../src/routing/schema.ts';

if (!hasRedis) console.warn(`\n*** history tests on Redis SKIPPED: ${noRedisReason} ***\n`);

const ADMIN = 'history-test-admin-secret-0123456789';
const T = 60_000;
const token = (sub: string) => hs(claims({ sub }));

afterEach(async () => {
  await stopAll();
  await stopProcesses();
}, T);

describe('history and recovery: memory store', () => {
  async function target(): Promise<Target> {
    const gw = await startGateway(Object.values(HISTORY_ROUTES), { adminSecret: ADMIN });
    return { url: gw.url, admin: (p, init = {}) => gw.http(p, { ...init, headers: { authorization: `Bearer ${ADMIN}` } }) };
  }
  it('away 5 s while 100 are published, back with its last offset: exactly those 100 in order, then live', async () => {
    const t = await target();
    await awayAndBack(t, t, 'a');
  }, T);
  it('an offset older than the history (or another epoch) gets gap with the current offset', async () => {
    await tooOld(await target(), 'b');
  }, T);
  it('a malformed since or epoch is a 400 JSON error before the upgrade', async () => {
    const t = await target();
    for (const q of ['since=abc', 'since=-1', 'since=1&epoch=a%20b']) {
      const r = await expectRefused(t.url(`/h/x?${q}`, await token('x')));
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ error: 'bad_request' });
    }
  });
});

describe('history route option', () => {
  it('is validated at start-up: needs a channel, both fields, integers in range', () => {
    const base = { path: '/h/:room', channel: 'hist:{room}' };
    expect(resolveRoute({ ...base, history: { size: 10, ttlSec: 5 } }, 'r').history).toEqual({ size: 10, ttlSec: 5 });
    expect(resolveRoute(base, 'r').history).toBeUndefined();
    for (const [route, field] of [
      [{ path: '/x', upstream: 'ws://u', history: { size: 1, ttlSec: 1 } }, 'history'],
      [{ ...base, history: { size: 10 } }, 'history'],
      [{ ...base, history: { size: 0, ttlSec: 1 } }, 'history.size'],
      [{ ...base, history: { size: 1e6, ttlSec: 1 } }, 'history.size'],
      [{ ...base, history: { size: 10, ttlSec: 1.5 } }, 'history.ttlSec'],
      [{ ...base, history: { size: 10, ttlSec: 1, max: 2 } }, 'history.max'],
      [{ ...base, history: true }, 'history'],
    ] as const)
      expect(() => resolveRoute(route, 'routes/x.ts'), JSON.stringify(route)).toThrow(new RegExp(`routes/x.ts: ${field.replace('.', '\\.')}: expected`));
  });
});

describe('history and recovery: relay route with a channel', () => {
  it('published messages carry offsets in the publish answer; a reconnect with since gets the missed ones raw, then live', async () => {
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/feed/:room', upstream: up.url, channel: 'feed:{room}', heartbeat: 'off', history: { size: 50, ttlSec: 60 } }], { adminSecret: ADMIN });
    const admin = (body: string) => gw.http('/_wsgate/channels/feed:f/messages', { method: 'POST', body, headers: { authorization: `Bearer ${ADMIN}` } }).then((r) => r.json() as Promise<{ offset: number }>);
    const c = await connectClient(gw.url('/feed/f', await token('alice')));
    await until(async () => (await gw.app.gateway.channels!.presence('feed:f')).length === 1, 3000, 'joined');
    expect((await admin('p1')).offset).toBe(1);
    await until(() => c.messages.length === 1, 3000, 'p1 raw');
    c.ws.close();
    await c.closed;
    for (const m of ['p2', 'p3', 'p4']) await admin(m);
    const back = await connectClient(gw.url('/feed/f?since=1', await token('alice')));
    await until(() => back.messages.length === 3, 3000, 'recovered raw');
    expect((await admin('p5')).offset).toBe(5);
    await until(() => back.messages.length === 4, 3000, 'live');
    expect(back.messages.map((m) => m.data.toString())).toEqual(['p2', 'p3', 'p4', 'p5']); // raw, no system events
  });
});

describe.skipIf(!hasRedis)('history and recovery: Redis, two instances', () => {
  let redis: RedisServer | undefined;
  afterEach(async () => {
    await redis?.kill();
    redis = undefined;
  });
  async function pair(): Promise<[Target, Target]> {
    redis = await createRedisServer();
    const routes = routesDir(HISTORY_ROUTES);
    const gws = await Promise.all([spawnGateway({ routes, store: redis.url }), spawnGateway({ routes, store: redis.url })]);
    return gws.map((g) => ({ url: g.url.bind(g), admin: g.admin.bind(g) })) as [Target, Target];
  }
  it('away 5 s on one instance, back on the other with its last offset: exactly those 100 in order, then live', async () => {
    const [i1, i2] = await pair();
    await awayAndBack(i1, i2, 'r');
  }, T);
  it('an offset older than the history gets gap with the current offset', async () => {
    const [i1] = await pair();
    await tooOld(i1, 'o');
  }, T);
});
