/**
 * Channels in one process (memory store): hub routes (broadcast, envelope, binary, echo),
 * presence join/leave per user, the `/_wsgate` admin API, a relay route with a channel, the
 * library API, and the demo page's dev-token endpoint.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connectClient, startGateway, startUpstream, stopAll, until, type TestClient, type TestGateway } from '../helpers/gateway.ts';
import { claims, hs } from '../helpers/tokens.ts';
import type { RouteConfig } from '../../src/index.ts';

const ADMIN = 'hub-test-admin-secret-0123456789abcdef';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const token = (sub: string, extra: Record<string, unknown> = {}) => hs(claims({ sub, ...extra }));

import { events, has, snapshotWith, type Ev } from '../helpers/events.ts';
const count = (c: TestClient, pred: (e: Ev) => boolean) => events(c).filter(pred).length;
const joinOf = (user: string) => (e: Ev) => e.type === 'join' && e.user === user;
const leaveOf = (user: string) => (e: Ev) => e.type === 'leave' && e.user === user;
const msgOf = (data: string) => (e: Ev) => e.type === 'message' && e.data === data;

const HUB: RouteConfig = { path: '/chat/:room', channel: 'room:{room}', heartbeat: 'off' };
const ECHO_HUB: RouteConfig = { path: '/loud/:room', channel: 'loud:{room}', echo: true, heartbeat: 'off' };

async function hub(extra: RouteConfig[] = [], opts = {}): Promise<TestGateway> {
  return startGateway([HUB, ECHO_HUB, ...extra], { adminSecret: ADMIN, ...opts });
}
async function join(gw: TestGateway, path: string, user: string): Promise<TestClient> {
  const c = await connectClient(gw.url(path, await token(user)));
  await until(() => has(c, snapshotWith(user)), 3000, `${user}'s presence snapshot on ${path}`);
  return c;
}
const admin = (gw: TestGateway, path: string, init: RequestInit = {}) =>
  gw.http(path, { ...init, headers: { authorization: `Bearer ${ADMIN}`, ...(init.headers as Record<string, string>) } });

afterEach(stopAll);

describe('hub route', () => {
  it('delivers to the other members in the JSON envelope, sender excluded', async () => {
    const gw = await hub();
    const a = await join(gw, '/chat/r1', 'alice');
    const b = await join(gw, '/chat/r1', 'bob');
    a.ws.send('hello from alice');
    await until(() => has(b, msgOf('hello from alice')), 3000, 'bob receives');
    const env = events(b).find(msgOf('hello from alice'))!;
    expect(env).toEqual({ type: 'message', channel: 'room:r1', from: 'alice', data: 'hello from alice' });
    b.ws.send('hi alice');
    await until(() => has(a, msgOf('hi alice')), 3000, 'alice receives');
    expect(has(a, msgOf('hello from alice'))).toBe(false); // never her own
    expect(has(b, msgOf('hi alice'))).toBe(false);
    // Another room hears nothing.
    const c = await join(gw, '/chat/r2', 'carol');
    a.ws.send('only r1');
    await until(() => has(b, msgOf('only r1')), 3000);
    await sleep(100);
    expect(has(c, (e) => e.type === 'message')).toBe(false);
  });

  it('echo: true delivers the sender its own message too', async () => {
    const gw = await hub();
    const a = await join(gw, '/loud/x', 'alice');
    const b = await join(gw, '/loud/x', 'bob');
    a.ws.send('shout');
    await until(() => has(a, msgOf('shout')) && has(b, msgOf('shout')), 3000, 'both receive');
    expect(events(a).find(msgOf('shout'))).toMatchObject({ from: 'alice', channel: 'loud:x' });
  });

  it('binary messages pass through unchanged (no envelope)', async () => {
    const gw = await hub();
    const a = await join(gw, '/chat/bin', 'alice');
    const b = await join(gw, '/chat/bin', 'bob');
    const bytes = Buffer.from([0, 1, 2, 127, 128, 254, 255, 0x7b]);
    a.ws.send(bytes, { binary: true });
    await until(() => b.messages.some((m) => m.isBinary), 3000, 'binary at bob');
    const got = b.messages.find((m) => m.isBinary)!;
    expect(Buffer.compare(got.data, bytes)).toBe(0);
  });

  it('presence: one join per user on the first connection, leave only after the last closes', async () => {
    const gw = await hub();
    const obs = await join(gw, '/chat/p', 'observer');
    const a1 = await connectClient(gw.url('/chat/p', await token('alice')));
    await until(() => has(obs, joinOf('alice')), 3000, 'join alice');
    const a2 = await connectClient(gw.url('/chat/p', await token('alice')));
    await until(async () => (await (await admin(gw, '/_wsgate/channels/room:p/presence')).json()).connections === 3, 3000, '3 connections');
    const pres = await (await admin(gw, '/_wsgate/channels/room:p/presence')).json();
    expect(pres).toEqual({ channel: 'room:p', users: [{ user: 'alice', connections: 2 }, { user: 'observer', connections: 1 }], connections: 3 });
    a1.ws.close(1000);
    await until(async () => (await (await admin(gw, '/_wsgate/channels/room:p/presence')).json()).connections === 2, 3000, 'a1 gone');
    await sleep(300); // more than one sweep period (ttl/10) would take to misfire
    expect(count(obs, joinOf('alice'))).toBe(1);
    expect(has(obs, leaveOf('alice'))).toBe(false);
    expect(has(a2, leaveOf('alice'))).toBe(false);
    a2.ws.close(1000);
    await until(() => has(obs, leaveOf('alice')), 3000, 'leave alice');
    await sleep(200);
    expect(count(obs, leaveOf('alice'))).toBe(1);
    expect(events(obs).find(leaveOf('alice'))).toEqual({ type: 'leave', channel: 'room:p', user: 'alice' });
  });

  it('a newcomer gets a presence snapshot with the users already present', async () => {
    const gw = await hub();
    await join(gw, '/chat/n', 'alice');
    const b = await connectClient(gw.url('/chat/n', await token('bob')));
    const isSnapshot = (e: { type?: string }) => e.type === 'presence';
    await until(() => events(b).some(isSnapshot), 3000, 'bob gets a presence snapshot');
    const snap = events(b).find(isSnapshot) as unknown as { channel: string; users: Array<{ user: string; connections: number }> };
    expect(snap.channel).toBe('room:n');
    expect(snap.users.map((u) => u.user).sort()).toEqual(['alice', 'bob']);
  });
});

describe('admin API', () => {
  it('presence lists users with connection counts; 401 without or with a wrong credential', async () => {
    const gw = await hub();
    await join(gw, '/chat/r1', 'alice');
    await join(gw, '/chat/r1', 'bob');
    const res = await admin(gw, '/_wsgate/channels/room:r1/presence');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ channel: 'room:r1', users: [{ user: 'alice', connections: 1 }, { user: 'bob', connections: 1 }], connections: 2 });
    const none = await gw.http('/_wsgate/channels/room:r1/presence');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/Bearer/);
    expect((await gw.http('/_wsgate/channels/room:r1/presence', { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    // A user token is not an admin token; one with scope wsgate:admin is.
    expect((await gw.http('/_wsgate/channels/room:r1/presence', { headers: { authorization: `Bearer ${await token('alice')}` } })).status).toBe(401);
    const adminJwt = await token('ops', { scope: 'read wsgate:admin', aud: 'wsgate-admin' });
    expect((await gw.http('/_wsgate/channels/room:r1/presence', { headers: { authorization: `Bearer ${adminJwt}` } })).status).toBe(200);
    // Unknown channel: empty, not an error.
    expect(await (await admin(gw, '/_wsgate/channels/room:nobody/presence')).json()).toEqual({ channel: 'room:nobody', users: [], connections: 0 });
  });

  it('POST messages reaches every client on the channel and answers { recipients: n, delivered: n }', async () => {
    const gw = await hub();
    const cs = [await join(gw, '/chat/r1', 'alice'), await join(gw, '/chat/r1', 'bob'), await join(gw, '/chat/r1', 'carol')];
    const other = await join(gw, '/chat/r2', 'dave');
    const res = await admin(gw, '/_wsgate/channels/room:r1/messages', { method: 'POST', body: 'server says hi' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ recipients: 3, delivered: 3 });
    for (const c of cs) await until(() => has(c, msgOf('server says hi')), 3000, 'server message');
    expect(events(cs[0]!).find(msgOf('server says hi'))).toEqual({ type: 'message', channel: 'room:r1', from: null, data: 'server says hi' });
    await sleep(100);
    expect(has(other, msgOf('server says hi'))).toBe(false);
    expect((await gw.http('/_wsgate/channels/room:r1/messages', { method: 'POST', body: 'x' })).status).toBe(401);
  });

  it('GET /users/:user/connections lists this instance; DELETE /connections/:id closes with the code', async () => {
    const gw = await hub();
    const a1 = await join(gw, '/chat/r1', 'alice');
    const a2 = await join(gw, '/chat/r2', 'alice');
    const list = (await (await admin(gw, '/_wsgate/users/alice/connections')).json()) as { user: string; connections: Array<{ id: string; route: string; channel: string }> };
    expect(list.user).toBe('alice');
    expect(list.connections.map((c) => c.channel).sort()).toEqual(['room:r1', 'room:r2']);
    expect(list.connections.every((c) => c.route === '/chat/:room')).toBe(true);
    const target = list.connections.find((c) => c.channel === 'room:r2')!;
    const del = await admin(gw, `/_wsgate/connections/${target.id}?code=4321&reason=${encodeURIComponent('kicked by ops')}`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect(await del.json()).toEqual({ closed: 'here' });
    expect(await a2.closed).toEqual({ code: 4321, reason: 'kicked by ops' });
    expect(a1.ws.readyState).toBe(1);
    const after = (await (await admin(gw, '/_wsgate/users/alice/connections')).json()) as { connections: unknown[] };
    expect(after.connections).toHaveLength(1);
    expect((await admin(gw, `/_wsgate/connections/${target.id}?code=1006`, { method: 'DELETE' })).status).toBe(400); // not sendable
    expect((await admin(gw, '/_wsgate/users/nobody/connections')).status).toBe(200);
    expect((await gw.http(`/_wsgate/connections/${target.id}`, { method: 'DELETE' })).status).toBe(401);
  });

  it('library API: gateway.publish() delivers and resolves with the count; closeConnection()', async () => {
    const gw = await hub();
    const a = await join(gw, '/chat/lib', 'alice');
    const b = await join(gw, '/chat/lib', 'bob');
    await expect(gw.app.gateway.publish('room:lib', 'from code')).resolves.toBe(2);
    await until(() => has(a, msgOf('from code')) && has(b, msgOf('from code')), 3000, 'library publish');
    expect(await gw.app.gateway.channels!.presence('room:lib')).toEqual([{ user: 'alice', connections: 1 }, { user: 'bob', connections: 1 }]);
    const id = [...gw.app.gateway.registry.ofUser('bob')][0]!.id;
    expect(gw.app.gateway.closeConnection(id, 4000, 'bye')).toBe(true);
    expect(await b.closed).toEqual({ code: 4000, reason: 'bye' });
    await until(() => has(a, leaveOf('bob')), 3000, 'leave after admin close');
  });
});

describe('relay route with a channel', () => {
  it('published messages arrive raw between relayed messages, never inside a fragmented one', async () => {
    const up = await startUpstream(); // echoes
    const gw = await hub([{ path: '/feed/:room', upstream: up.url, channel: 'feed:{room}', heartbeat: 'off' }]);
    const c = await connectClient(gw.url('/feed/f1', await token('alice')));
    const upc = await up.nextConnection();
    c.ws.send('echo-1');
    await until(() => c.messages.length >= 1, 3000, 'echo-1');
    await until(async () => (await gw.app.gateway.channels!.presence('feed:f1')).length === 1, 3000, 'counted in presence');
    expect(await gw.app.gateway.channels!.presence('feed:f1')).toEqual([{ user: 'alice', connections: 1 }]);
    const res = await admin(gw, '/_wsgate/channels/feed:f1/messages', { method: 'POST', body: 'published-1' });
    expect(await res.json()).toEqual({ recipients: 1, delivered: 1 });
    await until(() => c.messages.length >= 2, 3000, 'published-1');
    c.ws.send('echo-2');
    await until(() => c.messages.length >= 3, 3000, 'echo-2');
    // A fragmented upstream message with a publish in the middle of it.
    upc.ws.send('frag-A|', { fin: false });
    await sleep(100);
    await gw.app.gateway.publish('feed:f1', 'published-2');
    await sleep(100);
    upc.ws.send('frag-B', { fin: true });
    await until(() => c.messages.length >= 5, 3000, 'fragment and publish');
    const got = c.messages.map((m) => m.data.toString());
    expect(got.slice(0, 3)).toEqual(['echo-1', 'published-1', 'echo-2']);
    // The fragmented message arrives whole: the publish comes before it (a relay that joins
    // fragments first, the ws legs) or right after its last fragment (the frame relay, which
    // holds injected messages until the message boundary) — never inside it.
    expect(got.slice(3).sort()).toEqual(['frag-A|frag-B', 'published-2']);
    expect(c.messages.every((m) => !m.isBinary)).toBe(true);
    // Presence events are opt-in on relay routes: none arrived.
    expect(events(c).some((e) => e.type === 'join')).toBe(false);
  });
});

describe('demo page (devPage)', () => {
  it('serves the chat page and dev tokens that open the hub route', async () => {
    const gw = await hub([], { devPage: true });
    const page = await gw.http('/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const html = await page.text();
    for (const id of ['name', 'room', 'join', 'input', 'send', 'messages', 'online']) expect(html).toContain(`id="${id}"`);
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|https?:\/\//); // self-contained
    expect(html).not.toContain('innerHTML');
    const bad = await gw.http('/_wsgate/dev-token?user=' + encodeURIComponent('<b>x</b>'));
    expect(bad.status).toBe(400);
    expect((await gw.http('/_wsgate/dev-token?user=' + 'a'.repeat(33))).status).toBe(400);
    expect((await gw.http('/_wsgate/dev-token')).status).toBe(400);
    const res = await gw.http('/_wsgate/dev-token?user=alice_1');
    expect(res.status).toBe(200);
    const { token: t } = (await res.json()) as { token: string };
    const payload = JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()) as { sub: string; exp: number; iat: number };
    expect(payload.sub).toBe('alice_1');
    expect(payload.exp - payload.iat).toBe(3600);
    const c = await connectClient(gw.url('/chat/demo', t));
    await until(() => has(c, snapshotWith('alice_1')), 3000, 'joined with a dev token');
    // The rest of /_wsgate stays behind the admin credential.
    expect((await gw.http('/_wsgate/channels/room:demo/presence')).status).toBe(401);
  });

  it('dev-token is 404 without a secret, and nothing is mounted without devPage', async () => {
    const noSecret = await startGateway([{ ...HUB, auth: false }], { devPage: true, env: { JWT_SECRET: '' } });
    const r = await noSecret.http('/_wsgate/dev-token?user=alice');
    expect(r.status).toBe(404);
    expect(await r.json()).toMatchObject({ error: 'not_found' });
    const plain = await hub();
    expect((await plain.http('/')).status).toBe(404);
    expect((await plain.http('/_wsgate/dev-token?user=alice')).status).toBe(401);
  });
});
