/**
 * "With no Redis configured, everything works in one process on the memory store" (issue 3,
 * Done when), and two gateways on separate memory stores are isolated — by
 * design, documented in src/store/memory.ts — and a real `wsgate start` process without --store
 * serves a hub route with messages and presence.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connectClient, startGateway, stopAll, until } from '../helpers/gateway.ts';
import { routesDir, spawnGateway, stopProcesses } from '../helpers/processes.ts';
import { claims, hs } from '../helpers/tokens.ts';
import type { RouteConfig } from '../../src/index.ts';
import { has, snapshotWith, type Ev } from '../helpers/events.ts';

const T = 30_000;
const token = (sub: string) => hs(claims({ sub }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const joinOf = (user: string) => (e: Ev) => e.type === 'join' && e.user === user;
const msgOf = (data: string) => (e: Ev) => e.type === 'message' && e.data === data;
const HUB: RouteConfig = { path: '/chat/:room', channel: 'room:{room}', heartbeat: 'off' };
const ADMIN = 'memory-only-admin-secret-0123456789';

afterEach(async () => {
  await stopAll();
  await stopProcesses();
}, T);

describe('no store configured: the memory store', () => {
  it('a `wsgate start` process without --store runs a hub route: messages, presence, admin API', async () => {
    const gw = await spawnGateway({ routes: routesDir({ chat: { ...HUB } }) });
    const ready = (await (await gw.http('/readyz')).json()) as { store: string };
    expect(ready).toMatchObject({ status: 'ready' });
    expect(ready.store).toBe('ok'); // the memory store created for the channel route
    const a = await connectClient(gw.url('/chat/m', await token('alice')));
    const b = await connectClient(gw.url('/chat/m', await token('bob')));
    await until(() => has(a, snapshotWith('alice')) && has(a, joinOf('bob')), 5000, 'alice sees her snapshot, then bob join');
    a.ws.send('hi bob');
    await until(() => has(b, msgOf('hi bob')), 5000, 'bob receives');
    b.ws.send('hi alice');
    await until(() => has(a, msgOf('hi alice')), 5000, 'alice receives');
    const pres = await (await gw.admin('/_wsgate/channels/room:m/presence')).json();
    expect(pres).toEqual({ channel: 'room:m', users: [{ user: 'alice', connections: 1 }, { user: 'bob', connections: 1 }], connections: 2 });
    const post = await gw.admin('/_wsgate/channels/room:m/messages', { method: 'POST', body: 'from ops' });
    expect(await post.json()).toEqual({ recipients: 2, delivered: 2 });
    await until(() => has(a, msgOf('from ops')) && has(b, msgOf('from ops')), 5000, 'POST delivered');
    b.ws.close(1000);
    await until(() => has(a, (e) => e.type === 'leave' && e.user === 'bob'), 5000, 'leave bob');
    expect(await (await gw.http('/metrics')).text()).toMatch(/^wsgate_store_up 1$/m);
  }, T);

  it('two in-process gateways on separate memory stores are isolated (messages, presence, publish)', async () => {
    const g1 = await startGateway([HUB], { adminSecret: ADMIN });
    const g2 = await startGateway([HUB], { adminSecret: ADMIN });
    expect(g1.app.gateway.options.store).toBeUndefined(); // nothing configured: each made its own
    const a = await connectClient(g1.url('/chat/same', await token('alice')));
    const b = await connectClient(g2.url('/chat/same', await token('bob')));
    await until(() => has(a, snapshotWith('alice')) && has(b, snapshotWith('bob')), 3000, 'own snapshots');
    a.ws.send('only on g1');
    b.ws.send('only on g2');
    expect(await g1.app.gateway.publish('room:same', 'published on g1')).toBe(1);
    const a2 = await connectClient(g1.url('/chat/same', await token('carol')));
    await until(() => has(a, joinOf('carol')), 3000, 'carol on g1');
    a2.ws.send('carol on g1');
    await until(() => has(a, msgOf('carol on g1')), 3000, 'same-instance delivery works');
    await sleep(300);
    expect(has(b, (e) => e.type === 'message')).toBe(false);
    expect(has(b, joinOf('alice')) || has(b, joinOf('carol'))).toBe(false);
    expect(has(a, msgOf('only on g2')) || has(a, joinOf('bob'))).toBe(false);
    const p1 = await (await g1.http('/_wsgate/channels/room:same/presence', { headers: { authorization: `Bearer ${ADMIN}` } })).json();
    const p2 = await (await g2.http('/_wsgate/channels/room:same/presence', { headers: { authorization: `Bearer ${ADMIN}` } })).json();
    expect(p1).toMatchObject({ users: [{ user: 'alice', connections: 1 }, { user: 'carol', connections: 1 }] });
    expect(p2).toMatchObject({ users: [{ user: 'bob', connections: 1 }] });
  }, T);
});
