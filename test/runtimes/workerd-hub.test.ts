/**
 * Channels on workerd (issue 4 Done-when): `wrangler dev` serving the project's own routes/
 * (through the generated manifest, as `npm run dev:workers` does). Two clients on /chat/<room>
 * exchange messages and see each other's join/leave through the channel's Durable Object; the
 * `/_wsgate` channel API lists presence and its publish reaches both, reporting the count. The
 * wire format is Node's hub format (src/core/channels.ts), byte for byte.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, expectRefused, stopAll, until, type TestClient } from '../helpers/gateway.ts';
import { claims, hs, TEST_SECRET } from '../helpers/tokens.ts';
import { onWorkerd, startWorkerd, type WorkerdProcess } from '../helpers/wrangler-dev.ts';

const ADMIN = 'workers-hub-admin-secret-0123456789abcdef';
type Ev = { type: string; channel?: string; user?: string; from?: string | null; data?: unknown; users?: Array<{ user: string; connections: number }> };

function events(c: TestClient): Ev[] {
  return c.messages.flatMap((m) => {
    if (m.isBinary) return [];
    try {
      return [JSON.parse(m.data.toString()) as Ev];
    } catch {
      return [];
    }
  });
}
const has = (c: TestClient, pred: (e: Ev) => boolean) => events(c).some(pred);
const joinOf = (user: string) => (e: Ev) => e.type === 'join' && e.user === user;
const msgOf = (data: string) => (e: Ev) => e.type === 'message' && e.data === data;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

await onWorkerd('workerd hub routes (Durable Object)', () => {
  describe('workerd hub routes (Durable Object)', () => {
    let gw: WorkerdProcess;
    const room = () => `r${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    const url = async (path: string, sub: string) => `ws://127.0.0.1:${gw.port}${path}?token=${await hs(claims({ sub }))}`;
    const admin = (path: string, init: RequestInit = {}) =>
      fetch(`http://127.0.0.1:${gw.port}${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN}`, ...(init.headers as Record<string, string>) } });
    async function join(path: string, user: string): Promise<TestClient> {
      const c = await connectClient(await url(path, user));
      // Every newcomer gets the presence snapshot (itself included) first, then deltas.
      await until(() => has(c, (e) => e.type === 'presence' && !!e.users?.some((u) => u.user === user)), 5000, `${user}'s presence snapshot on ${path}`);
      return c;
    }

    beforeAll(async () => {
      gw = await startWorkerd({ env: { JWT_SECRET: TEST_SECRET, WSGATE_ADMIN_SECRET: ADMIN, PRESENCE_TTL_SEC: '5' } });
    }, 30_000);
    afterEach(stopAll);
    afterAll(async () => {
      await gw?.stop();
    });

    it('two clients exchange messages and see each other join and leave', async () => {
      const r = room();
      const a = await join(`/chat/${r}`, 'alice');
      expect(events(a)[0]).toEqual({ type: 'presence', channel: `room:${r}`, users: [{ user: 'alice', connections: 1 }] });
      expect(has(a, joinOf('alice'))).toBe(false); // in her snapshot: no join for herself
      const b = await join(`/chat/${r}`, 'bob');
      await until(() => has(a, joinOf('bob')), 5000, 'alice sees bob join');
      expect(events(b).find((e) => e.type === 'presence')?.users?.map((u) => u.user).sort()).toEqual(['alice', 'bob']);
      a.ws.send('hello from alice');
      await until(() => has(b, msgOf('hello from alice')), 5000, 'bob receives');
      expect(events(b).find(msgOf('hello from alice'))).toEqual({ type: 'message', channel: `room:${r}`, from: 'alice', data: 'hello from alice' });
      b.ws.send('hi alice');
      await until(() => has(a, msgOf('hi alice')), 5000, 'alice receives');
      b.ws.send(Buffer.from([0, 1, 2, 255]), { binary: true });
      await until(() => a.messages.some((m) => m.isBinary), 5000, 'binary reaches alice unchanged');
      expect(a.messages.find((m) => m.isBinary)!.data).toEqual(Buffer.from([0, 1, 2, 255]));
      await sleep(200);
      expect(has(a, msgOf('hello from alice')), 'the sender is excluded').toBe(false);
      expect(has(b, msgOf('hi alice'))).toBe(false);
      b.ws.close(1000);
      await until(() => has(a, (e) => e.type === 'leave' && e.user === 'bob'), 5000, 'alice sees bob leave');
    });

    it('another room hears nothing', async () => {
      const r1 = room();
      const a = await join(`/chat/${r1}`, 'alice');
      const b = await join(`/chat/${r1}`, 'bob');
      const c = await join(`/chat/${room()}`, 'carol');
      a.ws.send('only here');
      await until(() => has(b, msgOf('only here')), 5000);
      await sleep(200);
      expect(has(c, (e) => e.type === 'message' || (e.type === 'join' && e.user !== 'carol'))).toBe(false);
    });

    it('the channel API: presence lists both users, publish reaches both and reports the count', async () => {
      const r = room();
      const a = await join(`/chat/${r}`, 'alice');
      const b = await join(`/chat/${r}`, 'bob');
      const b2 = await join(`/chat/${r}`, 'bob'); // a second tab: one user, two connections
      const pres = await admin(`/_wsgate/channels/room:${r}/presence`);
      expect(pres.status).toBe(200);
      expect(await pres.json()).toEqual({
        channel: `room:${r}`,
        users: [
          { user: 'alice', connections: 1 },
          { user: 'bob', connections: 2 },
        ],
        connections: 3,
      });
      const res = await admin(`/_wsgate/channels/room:${r}/messages`, { method: 'POST', body: 'server says hi' });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ recipients: 3, delivered: 3 });
      for (const c of [a, b, b2]) await until(() => has(c, msgOf('server says hi')), 5000, 'the published message');
      expect(events(a).find(msgOf('server says hi'))).toEqual({ type: 'message', channel: `room:${r}`, from: null, data: 'server says hi' });
      expect((await admin(`/_wsgate/channels/room:${r}/messages`, { method: 'POST', body: 'x', headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
      const empty = await admin(`/_wsgate/channels/room:${room()}/messages`, { method: 'POST', body: 'nobody' });
      expect(await empty.json()).toEqual({ recipients: 0, delivered: 0 });
    });

    it("an app-level ping is answered by the object (auto-response) and never broadcast", async () => {
      const r = room();
      const a = await join(`/chat/${r}`, 'alice');
      const b = await join(`/chat/${r}`, 'bob');
      a.ws.send('{"type":"ping"}');
      await until(() => has(a, (e) => e.type === 'pong'), 5000, 'the pong');
      b.ws.send('after the ping');
      await until(() => has(a, msgOf('after the ping')), 5000);
      expect(has(b, (e) => e.type === 'message' && e.data === '{"type":"ping"}')).toBe(false);
    });

    it('a hub handshake is still checked by the Worker: no token is a 401 JSON, never a socket', async () => {
      const r = await expectRefused(`ws://127.0.0.1:${gw.port}/chat/x`);
      expect(r.status).toBe(401);
      expect(r.body).toMatchObject({ error: 'token_missing' });
    });
  });
});
