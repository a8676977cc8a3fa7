/**
 * Channels across instances with real processes: two `wsgate start` processes on a
 * private redis-server, clients on both. Cross-instance messages and presence, the admin API on
 * either instance, `kill -9` of an instance, a Redis restart, Redis down at
 * start-up and a publish storm with one slow subscriber.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connectClient, stopAll, until, type TestClient } from '../helpers/gateway.ts';
import { routesDir, spawnGateway, stopProcesses, type GatewayProcess } from '../helpers/processes.ts';
import { createRedisServer, hasRedis, noRedisReason, sleep, type RedisServer } from '../helpers/redis-server.ts';
import { claims, hs } from '../helpers/tokens.ts';

if (!hasRedis) console.warn(`\n*** multi-instance channel tests SKIPPED: ${noRedisReason} ***\n`);

const TTL_SEC = 2;
const T = 60_000;
const token = (sub: string) => hs(claims({ sub }));

import { events, has, snapshotWith, type Ev } from '../helpers/events.ts';
const joinOf = (user: string) => (e: Ev) => e.type === 'join' && e.user === user;
const leaveOf = (user: string) => (e: Ev) => e.type === 'leave' && e.user === user;
const msgOf = (data: string) => (e: Ev) => e.type === 'message' && e.data === data;

const redises: RedisServer[] = [];
let routes: string | undefined;
function routesFolder(): string {
  return (routes ??= routesDir({
    chat: { path: '/chat/:room', channel: 'room:{room}', heartbeat: 'off' },
    storm: { path: '/storm/:room', channel: 'storm:{room}', heartbeat: 'off', maxMessageBytes: 65536, maxBufferedBytes: 2 << 20 },
  }));
}
async function redis(start = true): Promise<RedisServer> {
  const r = await createRedisServer({ start });
  redises.push(r);
  return r;
}
function gateway(r: RedisServer, opts: { ready?: 'readyz' | 'listening' } = {}): Promise<GatewayProcess> {
  return spawnGateway({ routes: routesFolder(), store: r.url, env: { PRESENCE_TTL_SEC: String(TTL_SEC) }, ...opts });
}
async function join(gw: GatewayProcess, path: string, user: string): Promise<TestClient> {
  const c = await connectClient(gw.url(path, await token(user)));
  await until(() => has(c, snapshotWith(user)), 5000, `${user}'s presence snapshot`);
  return c;
}
const json = async (res: Response | Promise<Response>) => (await res).json() as Promise<Record<string, unknown>>;
const presenceUsers = async (gw: GatewayProcess, channel: string) =>
  ((await json(gw.admin(`/_wsgate/channels/${channel}/presence`))).users as Array<{ user: string; connections: number }>) ?? [];

afterEach(async () => {
  await stopAll();
  await stopProcesses();
  await Promise.all(redises.splice(0).map((r) => r.kill()));
}, T);

describe.skipIf(!hasRedis)('two gateway processes on one Redis', () => {
  it('messages and presence cross instances; POST on one instance reaches both; DELETE is forwarded', async () => {
    const r = await redis();
    const [i1, i2] = await Promise.all([gateway(r), gateway(r)]);
    const a = await join(i1, '/chat/x', 'alice');
    const b = await join(i2, '/chat/x', 'bob');
    await until(() => has(a, joinOf('bob')), 5000, 'alice hears bob join');
    // Snapshot first, then deltas; nobody hears a join for a user who was already there.
    expect(events(a)[0]).toEqual({ type: 'presence', channel: 'room:x', users: [{ user: 'alice', connections: 1 }] });
    expect(events(b)[0]).toEqual({ type: 'presence', channel: 'room:x', users: [{ user: 'alice', connections: 1 }, { user: 'bob', connections: 1 }] });
    expect(events(a).filter((e) => e.type === 'join')).toEqual([{ type: 'join', channel: 'room:x', user: 'bob' }]);
    expect(events(b).filter((e) => e.type === 'join')).toEqual([]);
    // A second tab of alice, on the other instance: one user, no join; closing it, no leave.
    const a2 = await connectClient(i2.url('/chat/x', await token('alice')));
    await until(() => has(a2, snapshotWith('alice')), 5000, 'second tab snapshot');
    expect(events(a2)[0]).toEqual({ type: 'presence', channel: 'room:x', users: [{ user: 'alice', connections: 2 }, { user: 'bob', connections: 1 }] });
    a2.ws.close();
    await a2.closed;
    await until(async () => (await presenceUsers(i1, 'room:x')).find((u) => u.user === 'alice')?.connections === 1, 5000, 'second tab gone');

    a.ws.send('alice to bob');
    await until(() => has(b, msgOf('alice to bob')), 5000, 'i1 -> i2');
    expect(events(b).find(msgOf('alice to bob'))).toEqual({ type: 'message', channel: 'room:x', from: 'alice', data: 'alice to bob' });
    b.ws.send('bob to alice');
    await until(() => has(a, msgOf('bob to alice')), 5000, 'i2 -> i1');
    b.ws.send(Buffer.from([9, 8, 7]), { binary: true });
    await until(() => a.messages.some((m) => m.isBinary), 5000, 'binary across');
    expect([...a.messages.find((m) => m.isBinary)!.data]).toEqual([9, 8, 7]);

    const both = [{ user: 'alice', connections: 1 }, { user: 'bob', connections: 1 }];
    expect(await presenceUsers(i1, 'room:x')).toEqual(both);
    expect(await presenceUsers(i2, 'room:x')).toEqual(both);

    const post = await i1.admin('/_wsgate/channels/room:x/messages', { method: 'POST', body: 'to everyone' });
    expect(post.status).toBe(200);
    expect(await post.json()).toEqual({ recipients: 2, delivered: 2 });
    await until(() => has(a, msgOf('to everyone')) && has(b, msgOf('to everyone')), 5000, 'POST reaches both instances');

    // Alice's second tab closed long ago (several messages have crossed since): no leave for her.
    expect(has(a, leaveOf('alice')) || has(b, leaveOf('alice'))).toBe(false);
    // Close bob (on i2) through i1: forwarded over the control topic.
    const list = await json(i2.admin('/_wsgate/users/bob/connections'));
    const id = (list.connections as Array<{ id: string }>)[0]!.id;
    expect(await json(i1.admin('/_wsgate/users/bob/connections'))).toEqual({ user: 'bob', connections: [] }); // per instance
    const del = await i1.admin(`/_wsgate/connections/${id}?code=4322&reason=bye`, { method: 'DELETE' });
    expect(await del.json()).toEqual({ closed: 'forwarded' });
    expect(await b.closed).toEqual({ code: 4322, reason: 'bye' });
    await until(() => has(a, leaveOf('bob')), 5000, 'leave after the forwarded close');
  }, T);

  it('kill -9 of an instance → the other announces leave within the presence TTL (README), no ghosts', async () => {
    const r = await redis();
    const [i1, i2] = await Promise.all([gateway(r), gateway(r)]);
    const a = await join(i1, '/chat/k', 'alice');
    await join(i2, '/chat/k', 'bob');
    // A second tab of bob.
    await connectClient(i2.url('/chat/k', await token('bob')));
    await until(async () => (await presenceUsers(i1, 'room:k')).find((u) => u.user === 'bob')?.connections === 2, 5000, 'bob has two tabs');
    await until(() => has(a, joinOf('bob')), 5000, 'alice hears bob');
    const t0 = performance.now();
    await i2.kill('SIGKILL');
    await until(() => has(a, leaveOf('bob')), TTL_SEC * 1000 + 3000, 'leave bob after kill -9');
    const ms = Math.round(performance.now() - t0);
    console.log(`[timing] leave after kill -9: ${ms} ms (presence TTL ${TTL_SEC} s)`);
    // The README's bound; lease 0.8 × ttl + one sweep (ttl/10) leaves 0.1 × ttl for delivery.
    expect(ms).toBeLessThanOrEqual(TTL_SEC * 1000);
    expect(events(a).filter(leaveOf('bob'))).toHaveLength(1);
    expect(await presenceUsers(i1, 'room:k')).toEqual([{ user: 'alice', connections: 1 }]);
    await sleep(TTL_SEC * 1000); // no ghost comes back
    expect(await presenceUsers(i1, 'room:k')).toEqual([{ user: 'alice', connections: 1 }]);
    expect(events(a).filter(joinOf('bob'))).toHaveLength(1);
  }, T);

  it('Redis restarted → instances stay up, degraded while down, outboxes flushed in order, broadcast resumes, clients get a gap event', async () => {
    const r = await redis();
    const [i1, i2] = await Promise.all([gateway(r), gateway(r)]);
    const a = await join(i1, '/chat/g', 'alice');
    const c = await join(i1, '/chat/g', 'carol');
    const d = await join(i1, '/chat/g', 'dave');
    const b = await join(i2, '/chat/g', 'bob');
    await until(() => has(a, joinOf('bob')), 5000, 'alice hears bob');
    expect(events(b)[0]?.users?.map((u) => u.user)).toEqual(['alice', 'bob', 'carol', 'dave']);
    expect(await json(i1.http('/readyz'))).toMatchObject({ status: 'ready', store: 'ok' });

    await r.kill();
    const downAt = performance.now();
    for (const gw of [i1, i2]) {
      await until(async () => (await json(gw.http('/readyz'))).store === 'degraded', 5000, 'store degraded');
      const ready = await gw.http('/readyz');
      expect(ready.status).toBe(200); // degraded, still ready: local delivery works
      expect(await ready.json()).toMatchObject({ status: 'degraded', store: 'degraded', reasons: [] });
      expect(await (await gw.http('/metrics')).text()).toMatch(/^wsgate_store_up 0$/m);
    }
    // Local delivery keeps working while the broker is away; publishes on both instances are
    // queued in each one's outbox (202 queued, fast, not hanging) and reach the other instance
    // in per-publisher order once Redis is back.
    a.ws.send('local while down');
    await until(() => has(c, msgOf('local while down')), 3000, 'local delivery during the outage');
    const t = performance.now();
    const post = await i1.admin('/_wsgate/channels/room:g/messages', { method: 'POST', body: 'posted while down' });
    expect(post.status).toBe(202);
    expect(await post.json()).toEqual({ queued: true, recipients: 3, delivered: 3 });
    expect(performance.now() - t).toBeLessThan(2500);
    await until(() => has(c, msgOf('posted while down')), 3000, 'POST still delivered locally');
    for (let k = 0; k < 20; k++) {
      a.ws.send(`down-a${k}`);
      b.ws.send(`down-b${k}`);
    }
    // dave really leaves while the broker is away: his instance announces it locally at once.
    d.ws.close();
    await until(() => has(a, leaveOf('dave')), 3000, 'local leave during the outage');
    await sleep(Math.max(0, 1500 - (performance.now() - downAt)));

    await r.start();
    const upAt = performance.now();
    let i = 0;
    while (!(events(b).some((e) => e.type === 'message' && String(e.data).startsWith('probe-a')) && events(a).some((e) => e.type === 'message' && String(e.data).startsWith('probe-b')))) {
      if (performance.now() - upAt > 15_000) throw new Error('broadcast did not resume within 15 s of the Redis restart');
      a.ws.send(`probe-a${i}`);
      b.ws.send(`probe-b${i++}`);
      await sleep(50);
    }
    const recoveryMs = Math.round(performance.now() - upAt);
    console.log(`[timing] broadcast resumed ${recoveryMs} ms after redis-server restarted`);
    expect(recoveryMs).toBeLessThan(5000);
    // Everything published during the outage arrived on the other instance, in publisher order.
    const data = (x: TestClient, prefix: string) => events(x).filter((e) => e.type === 'message' && String(e.data).startsWith(prefix)).map((e) => e.data);
    await until(() => data(b, 'down-a').length === 20 && data(a, 'down-b').length === 20, 5000, 'outboxes flushed');
    expect(data(b, 'down-a')).toEqual(Array.from({ length: 20 }, (_, k) => `down-a${k}`));
    expect(data(a, 'down-b')).toEqual(Array.from({ length: 20 }, (_, k) => `down-b${k}`));
    expect(data(c, 'down-b')).toEqual(Array.from({ length: 20 }, (_, k) => `down-b${k}`));
    expect(data(b, 'local while down').length + data(b, 'posted while down').length).toBe(2);
    expect(events(b).map((e) => e.data).filter((d) => d === 'local while down' || d === 'posted while down' || d === 'down-a0')).toEqual(['local while down', 'posted while down', 'down-a0']);
    expect(data(a, 'down-a'), 'no duplicate of its own messages').toEqual([]);
    // Pub/sub may still have dropped what was in flight when the connection broke: gap stays.
    for (const x of [a, b, c]) await until(() => has(x, (e) => e.type === 'gap'), 5000, 'gap event');
    expect(events(a).find((e) => e.type === 'gap')).toEqual({ type: 'gap', channel: 'room:g' });
    expect(i1.alive && i2.alive).toBe(true);
    for (const gw of [i1, i2]) {
      await until(async () => (await json(gw.http('/readyz'))).store === 'ok', 5000, 'store ok again');
      expect(await (await gw.http('/metrics')).text()).toMatch(/^wsgate_store_up 1$/m);
    }
    await until(async () => (await presenceUsers(i2, 'room:g')).length === 3, 5000, 'leases rewritten after the restart');
    // The other instance learns of dave's leave from the sweep once the post-outage grace
    // (2 x ttl) is over: a real leave is never lost, only held back.
    await until(() => has(b, leaveOf('dave')), 2 * TTL_SEC * 1000 + 5000, 'dave\'s leave reaches the other instance after the outage');
    console.log(`[timing] leave that happened during the outage announced ${Math.round(performance.now() - upAt)} ms after the restart`);
    // Past the grace: a restarted Redis had lost every lease, yet nobody who stayed may flap.
    await sleep(Math.max(0, 2 * TTL_SEC * 1000 + 1000 - (performance.now() - upAt)));
    const flaps = [a, b, c].flatMap((x) => events(x).filter((e) => e.type === 'leave' && e.user !== 'dave').map((e) => e.user));
    expect(flaps, 'no leave events for users who never left').toEqual([]);
    expect(events(b).filter(joinOf('dave')), 'dave was in bob\'s snapshot: no (re)join flap either').toHaveLength(0);
  }, T);

  it('Redis down at start-up → not ready (503) but alive, publish answers 202 queued at once; ready once Redis is up', async () => {
    const r = await redis(false);
    const i1 = await gateway(r, { ready: 'listening' });
    const res = await i1.http('/readyz');
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: 'not_ready', store: 'degraded', reasons: ['store never connected'] });
    expect(await (await i1.http('/healthz')).json()).toEqual({ status: 'ok' });
    const t = performance.now();
    const post = await i1.admin('/_wsgate/channels/room:d/messages', { method: 'POST', body: 'x' });
    expect(post.status).toBe(202); // queued in the outbox until Redis is reachable
    expect(await post.json()).toMatchObject({ queued: true });
    expect(performance.now() - t).toBeLessThan(1000);
    await sleep(1500);
    expect(i1.alive).toBe(true);
    expect((await i1.http('/readyz')).status).toBe(503);

    await r.start();
    await until(async () => (await i1.http('/readyz')).status === 200, 10_000, 'ready once Redis is up');
    expect(await json(i1.http('/readyz'))).toMatchObject({ status: 'ready', store: 'ok' });
    // And it works across instances afterwards.
    const i2 = await gateway(r);
    const a = await join(i1, '/chat/d', 'alice');
    const b = await join(i2, '/chat/d', 'bob');
    await until(() => has(a, joinOf('bob')), 5000, 'alice hears bob');
    let i = 0;
    await until(() => {
      a.ws.send(`late-${i++}`);
      return has(b, (e) => e.type === 'message' && String(e.data).startsWith('late-'));
    }, 5000, 'i1 (started without Redis) publishes to i2');
    const id = ((await json(i1.admin('/_wsgate/users/alice/connections'))).connections as Array<{ id: string }>)[0]!.id;
    await i2.admin(`/_wsgate/connections/${id}?code=4323`, { method: 'DELETE' });
    // Regression: an instance that started while Redis was down still gets forwarded closes.
    const closed = await Promise.race([a.closed, sleep(3000).then(() => undefined)]);
    expect(closed, 'forwarded DELETE reaches the instance that started while Redis was down').toMatchObject({ code: 4323 });
  }, T);

  it('publish storm with one slow subscriber → fast subscribers get everything, the slow one is closed 4408', async () => {
    const r = await redis();
    const [i1, i2] = await Promise.all([gateway(r), gateway(r)]);
    const f1 = await join(i1, '/storm/s', 'fast1');
    const f2 = await join(i2, '/storm/s', 'fast2');
    const slow = await join(i2, '/storm/s', 'slow');
    await until(async () => (await presenceUsers(i1, 'storm:s')).length === 3, 5000, 'three members');
    slow.ws.pause(); // stops reading: the kernel buffers fill, then the gateway's send buffer grows
    const N = 256;
    const pad = 'x'.repeat(60_000);
    const t0 = performance.now();
    for (let k = 0; k < N; k += 8) {
      await Promise.all(
        Array.from({ length: 8 }, (_, j) => i1.admin('/_wsgate/channels/storm:s/messages', { method: 'POST', body: `m-${String(k + j).padStart(4, '0')}-${pad}` }).then((res) => res.arrayBuffer())),
      );
    }
    const got = (c: TestClient) => events(c).filter((e) => e.type === 'message').map((e) => String(e.data).slice(0, 6));
    await until(() => got(f1).length >= N && got(f2).length >= N, 20_000, 'fast subscribers receive the whole storm');
    console.log(`[timing] storm of ${N} x 60 kB delivered to the fast subscribers in ${Math.round(performance.now() - t0)} ms`);
    const expected = Array.from({ length: N }, (_, k) => `m-${String(k).padStart(4, '0')}`).sort();
    expect([...got(f1)].sort()).toEqual(expected);
    expect([...got(f2)].sort()).toEqual(expected);
    expect(f1.ws.readyState).toBe(1);
    expect(f2.ws.readyState).toBe(1);
    // The slow one is gone from the gateway (closed by the slow-consumer policy) ...
    await until(async () => ((await json(i2.admin('/_wsgate/users/slow/connections'))).connections as unknown[]).length === 0, 10_000, 'slow consumer closed');
    const metrics = await (await i2.http('/metrics')).text();
    const slowCloses = metrics.split('\n').filter((l) => l.startsWith('wsgate_closes_total{') && l.includes('code="4408"') && l.includes('cause="slow"'));
    expect(slowCloses).toEqual([expect.stringMatching(/ 1$/)]);
    // ... and once it reads again it sees the end of its connection: the 4408 close frame if it
    // made it out before the close timeout, else an abnormal close.
    slow.ws.resume();
    const closed = await slow.closed;
    console.log(`[info] slow subscriber saw close code ${closed.code}`);
    expect([4408, 1006]).toContain(closed.code);
    expect(i1.alive && i2.alive).toBe(true);
  }, T);
});
