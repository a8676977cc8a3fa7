/**
 * Presence and broadcast across two gateway instances, checked from real headless Chromium
 * (Debian's /usr/bin/chromium driven by playwright-core): two `wsgate dev` processes on one
 * private Redis, four tabs, each a native browser `WebSocket` opened from a page served by its
 * instance (so each has a same-origin http://127.0.0.1:<port> origin):
 *
 *   alice@i1, bob@i1 (two users on one instance), carol@i2, and a second tab of alice on i2
 *   (one user with two connections on two instances).
 *
 * The same expectations as test/gateway/multi-instance.test.ts (which uses `ws` clients):
 * snapshot before deltas, no false join or leave (nobody hears a join for a user already in its
 * snapshot, a second tab is no event), cross-instance delivery both ways with the exact hub
 * envelope, exact publish counts, a Redis restart with messages published on both instances
 * during the outage (every tab receives every message in per-publisher order, no duplicates,
 * plus a `gap` event), and a SIGKILLed instance's users announced left within the presence TTL
 * (but not alice, whose i1 tab remains).
 */
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { routesDir, spawnGateway, stopProcesses, type GatewayProcess } from '../helpers/processes.ts';
import { createRedisServer, hasRedis, noRedisReason, sleep, type RedisServer } from '../helpers/redis-server.ts';
import { claims, hs } from '../helpers/tokens.ts';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const skipReason = !hasChromium
  ? `${CHROMIUM} is missing: the browser multi-instance presence test is SKIPPED. Install it (apt-get install chromium) to run it.`
  : !hasRedis
    ? `browser multi-instance presence test SKIPPED: ${noRedisReason}`
    : '';
if (skipReason) console.warn(`\n*** ${skipReason} ***\n`);

/** As in multi-instance.test.ts: lease 1.6 s, renewed every 0.5 s, swept every 0.2 s. */
const TTL_SEC = 2;
const ROOM = 'tabs';
const CHANNEL = `room:${ROOM}`;
const T = 60_000;

type User = { user: string; connections: number };
type Ev = { type: string; channel?: string; user?: string; from?: string | null; data?: unknown; users?: User[] };
/** What a page records (window.__wsg): every parsed event with its arrival time (Date.now()), and close events. */
interface PageLog {
  events: Ev[];
  at: number[];
  other: string[];
  closes: Array<{ code: number; reason: string; at: number }>;
  ws: WebSocket;
}
interface Tab {
  name: string;
  user: string;
  gw: GatewayProcess;
  page: Page;
}

let browser: Browser | undefined;
let redis: RedisServer | undefined;
const pageErrors: string[] = [];

afterAll(async () => {
  await browser?.close().catch(() => {});
  await stopProcesses();
  await redis?.kill();
}, 30_000);

async function until(what: string, fn: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!(await fn())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

/** A tab: its own browser context, the instance's page, then a native WebSocket to the hub route. */
async function openTab(name: string, user: string, gw: GatewayProcess): Promise<Tab> {
  const context = await browser!.newContext();
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(`${name}: ${e.message}`));
  await page.goto(`http://127.0.0.1:${gw.port}/`);
  const token = await hs(claims({ sub: user }));
  await page.evaluate(
    async ({ path, token }) => {
      const log: PageLog = { events: [], at: [], other: [], closes: [], ws: new WebSocket(`ws://${location.host}${path}?token=${encodeURIComponent(token)}`) };
      (globalThis as unknown as { __wsg: PageLog }).__wsg = log;
      log.ws.onmessage = (m) => {
        if (typeof m.data !== 'string') return void log.other.push('(binary)');
        try {
          log.events.push(JSON.parse(m.data) as Ev);
          log.at.push(Date.now());
        } catch {
          log.other.push(m.data);
        }
      };
      log.ws.onclose = (e) => {
        log.closes.push({ code: e.code, reason: e.reason, at: Date.now() });
      };
      await new Promise<void>((resolve, reject) => {
        log.ws.onopen = () => resolve();
        log.ws.onerror = () => reject(new Error('WebSocket error before open'));
      });
    },
    { path: `/chat/${ROOM}`, token },
  );
  return { name, user, gw, page };
}

const log = (t: Tab) =>
  t.page.evaluate(() => {
    const l = (globalThis as unknown as { __wsg: PageLog }).__wsg;
    return { events: l.events, at: l.at, other: l.other, closes: l.closes };
  });
const events = async (t: Tab) => (await log(t)).events;
const send = (t: Tab, data: string[]) =>
  t.page.evaluate((list) => {
    const ws = (globalThis as unknown as { __wsg: PageLog }).__wsg.ws;
    for (const d of list) ws.send(d);
  }, data);
/** The `data` of every message event, in arrival order. */
const messages = async (t: Tab) => (await events(t)).filter((e) => e.type === 'message').map((e) => String(e.data));
const ofType = async (t: Tab, type: string) => (await events(t)).filter((e) => e.type === type);
const hasMessage = async (t: Tab, data: string) => (await messages(t)).includes(data);

const json = async (res: Response | Promise<Response>) => (await res).json() as Promise<Record<string, unknown>>;
const presence = (gw: GatewayProcess) => json(gw.admin(`/_wsgate/channels/${CHANNEL}/presence`)) as Promise<{ users?: User[]; connections?: number }>;
const storeState = async (gw: GatewayProcess) => (await json(gw.http('/readyz'))).store;
const post = (gw: GatewayProcess, body: string) => gw.admin(`/_wsgate/channels/${CHANNEL}/messages`, { method: 'POST', body });

describe.skipIf(Boolean(skipReason))('presence and broadcast across two instances, from headless Chromium', () => {
  it(
    'snapshot before deltas, no false join/leave, both directions, exact counts, Redis restart, kill -9',
    async () => {
      const { chromium } = await import('playwright-core');
      redis = await createRedisServer();
      const routes = routesDir({ chat: { path: '/chat/:room', channel: 'room:{room}', heartbeat: 'off' } });
      const env = { PRESENCE_TTL_SEC: String(TTL_SEC) };
      const [i1, i2] = await Promise.all([
        spawnGateway({ command: 'dev', routes, store: redis.url, env }),
        spawnGateway({ command: 'dev', routes, store: redis.url, env }),
      ]);
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });

      // ---- Joins: each tab's first event is its snapshot; deltas only for users really new.
      const alice = await openTab('alice@i1', 'alice', i1);
      await until('alice@i1 snapshot', async () => (await events(alice)).length > 0);
      const bob = await openTab('bob@i1', 'bob', i1);
      await until('bob@i1 snapshot', async () => (await events(bob)).length > 0);
      // The next tab is on the other instance: its snapshot is read from the store.
      await until('alice and bob in the store (read on i2)', async () => (await presence(i2)).connections === 2);
      const carol = await openTab('carol@i2', 'carol', i2);
      await until('carol@i2 snapshot', async () => (await events(carol)).length > 0);
      await until('carol in the store (read on i1)', async () => (await presence(i1)).connections === 3);
      const alice2 = await openTab('alice@i2', 'alice', i2);
      await until('alice@i2 snapshot', async () => (await events(alice2)).length > 0);
      const tabs = [alice, bob, carol, alice2];

      const snapshot = (users: User[]) => ({ type: 'presence', channel: CHANNEL, users });
      expect((await events(alice))[0]).toEqual(snapshot([{ user: 'alice', connections: 1 }]));
      expect((await events(bob))[0]).toEqual(
        snapshot([
          { user: 'alice', connections: 1 },
          { user: 'bob', connections: 1 },
        ]),
      );
      expect((await events(carol))[0]).toEqual(
        snapshot([
          { user: 'alice', connections: 1 },
          { user: 'bob', connections: 1 },
          { user: 'carol', connections: 1 },
        ]),
      );
      expect((await events(alice2))[0]).toEqual(
        snapshot([
          { user: 'alice', connections: 2 },
          { user: 'bob', connections: 1 },
          { user: 'carol', connections: 1 },
        ]),
      );
      const everyone = [
        { user: 'alice', connections: 2 },
        { user: 'bob', connections: 1 },
        { user: 'carol', connections: 1 },
      ];
      for (const gw of [i1, i2]) await until('four connections in the store', async () => (await presence(gw)).connections === 4);
      expect((await presence(i1)).users).toEqual(everyone);
      expect((await presence(i2)).users).toEqual(everyone);

      // ---- Cross-instance delivery both ways (and within an instance), the exact hub envelope.
      const msg = (from: string | null, data: string) => ({ type: 'message', channel: CHANNEL, from, data });
      const said: Array<[Tab, string]> = [
        [alice, 'hello from alice@i1'],
        [carol, 'hello from carol@i2'],
        [alice2, 'hello from alice@i2'],
        [bob, 'hello from bob@i1'],
      ];
      for (const [from, data] of said) {
        await send(from, [data]);
        for (const t of tabs.filter((x) => x !== from)) await until(`${t.name} gets "${data}"`, () => hasMessage(t, data));
      }
      for (const t of tabs) {
        const got = (await events(t)).filter((e) => e.type === 'message');
        expect(got, `${t.name}: every other tab's message, once, never its own`).toEqual(
          said.filter(([from]) => from !== t).map(([from, data]) => msg(from.user, data)),
        );
      }

      // Joins: nobody heard a join for a user already in its snapshot (alice's second tab on the
      // other instance included), no joiner heard its own join; no leave at all. The messages above
      // crossed after the presence deltas, so those deltas have been applied everywhere.
      const joins = async (t: Tab) => (await ofType(t, 'join')).map((e) => e.user);
      expect(await joins(alice)).toEqual(['bob', 'carol']);
      expect(await joins(bob)).toEqual(['carol']);
      expect(await joins(carol)).toEqual([]);
      expect(await joins(alice2)).toEqual([]);
      for (const t of tabs) expect(await ofType(t, 'leave'), `${t.name}: no leave`).toEqual([]);

      // ---- The publish API on either instance: recipients = connections across both instances.
      for (const [gw, data] of [
        [i1, 'posted on i1'],
        [i2, 'posted on i2'],
      ] as const) {
        const res = await post(gw, data);
        expect(res.status).toBe(200);
        expect(await res.json()).toEqual({ recipients: 4, delivered: 4 });
        for (const t of tabs) await until(`${t.name} gets "${data}"`, () => hasMessage(t, data));
        for (const t of tabs) expect((await events(t)).filter((e) => e.data === data)).toEqual([msg(null, data)]);
      }

      // ---- Redis goes away: local delivery goes on, publishes on both instances are queued.
      await redis.kill();
      for (const gw of [i1, i2]) await until('store degraded', async () => (await storeState(gw)) === 'degraded');
      const N = 10;
      const range = (prefix: string, from: number, to: number) => Array.from({ length: to - from }, (_, k) => `${prefix}${from + k}`);
      // Publishers: alice and bob on i1, carol and alice's second tab on i2, the publish API on each.
      const pubs = [
        { tab: alice, prefix: 'down-alice@i1-', local: bob },
        { tab: bob, prefix: 'down-bob@i1-', local: alice },
        { tab: carol, prefix: 'down-carol@i2-', local: alice2 },
        { tab: alice2, prefix: 'down-alice@i2-', local: carol },
      ];
      await Promise.all(pubs.map((p) => send(p.tab, range(p.prefix, 0, N))));
      // Local delivery during the outage (also orders the POST after these in each outbox).
      for (const p of pubs) await until(`${p.local.name} gets ${p.prefix}${N - 1} locally`, () => hasMessage(p.local, `${p.prefix}${N - 1}`), 5000);
      for (const [gw, data] of [
        [i1, 'posted on i1 while down'],
        [i2, 'posted on i2 while down'],
      ] as const) {
        const t0 = performance.now();
        const res = await post(gw, data);
        expect(res.status).toBe(202);
        expect(await res.json()).toEqual({ queued: true, recipients: 2, delivered: 2 }); // this instance's connections
        expect(performance.now() - t0).toBeLessThan(2500);
      }
      for (const t of tabs) {
        const local = t.gw === i1 ? 'posted on i1 while down' : 'posted on i2 while down';
        await until(`${t.name} gets "${local}" locally`, () => hasMessage(t, local), 5000);
      }
      await Promise.all(pubs.map((p) => send(p.tab, range(p.prefix, N, 2 * N))));
      for (const p of pubs) await until(`${p.local.name} gets ${p.prefix}${2 * N - 1} locally`, () => hasMessage(p.local, `${p.prefix}${2 * N - 1}`), 5000);
      for (const t of tabs) expect(await ofType(t, 'leave'), `${t.name}: no leave while the store is down`).toEqual([]);

      // ---- Redis back: both outboxes are flushed; publishes made right away queue behind them.
      await redis.start();
      const upAt = Date.now();
      await send(alice, ['after-alice@i1']);
      await send(carol, ['after-carol@i2']);
      const okAt = new Map<GatewayProcess, number>();
      for (const gw of [i1, i2]) {
        await until('store ok again', async () => (await storeState(gw)) === 'ok', 15_000);
        okAt.set(gw, Date.now());
      }
      // Per publisher, what every other tab must receive, in this order, each exactly once.
      const streams = [
        ...pubs.map((p) => ({
          publisher: p.tab as Tab | undefined,
          items: [...range(p.prefix, 0, 2 * N), ...(p.tab === alice ? ['after-alice@i1'] : p.tab === carol ? ['after-carol@i2'] : [])],
        })),
        { publisher: undefined, items: ['posted on i1 while down'] },
        { publisher: undefined, items: ['posted on i2 while down'] },
      ];
      const outage = new Set(streams.flatMap((s) => s.items));
      const expectedCount = (t: Tab) => streams.filter((s) => s.publisher !== t).reduce((n, s) => n + s.items.length, 0);
      await until(
        'every tab has every message published during the outage',
        async () => {
          for (const t of tabs) if ((await messages(t)).filter((d) => outage.has(d)).length < expectedCount(t)) return false;
          return true;
        },
        15_000,
      );
      console.log(`[timing] outboxes delivered to every tab ${Date.now() - upAt} ms after redis-server restarted`);
      for (const t of tabs) {
        const got = (await messages(t)).filter((d) => outage.has(d));
        for (const s of streams) {
          const mine = new Set(s.items);
          expect(
            got.filter((d) => mine.has(d)),
            `${t.name}: ${s.publisher ? `${s.publisher.name}'s` : 'the publish API'} messages in order, once`,
          ).toEqual(s.publisher === t ? [] : s.items);
        }
        expect(got).toHaveLength(expectedCount(t));
      }
      // Each instance's outbox keeps its own order: the tabs on the other instance see a publisher's
      // messages and the publish API's interleaved exactly as the publisher's neighbour saw them live.
      for (const [remote, local, prefix, api] of [
        [carol, bob, 'down-alice@i1-', 'posted on i1 while down'],
        [alice2, alice, 'down-bob@i1-', 'posted on i1 while down'],
        [alice, alice2, 'down-carol@i2-', 'posted on i2 while down'],
        [bob, carol, 'down-alice@i2-', 'posted on i2 while down'],
      ] as const) {
        const pick = async (t: Tab) => (await messages(t)).filter((d) => d.startsWith(prefix) || d === api);
        expect(await pick(remote), `${remote.name} sees ${prefix}* and "${api}" in ${local.name}'s order`).toEqual(await pick(local));
      }
      // Pub/sub may have dropped what was in flight when the connection broke: every tab gets a gap.
      for (const t of tabs) await until(`${t.name} gets a gap event`, async () => (await ofType(t, 'gap')).length > 0, 5000);
      for (const t of tabs) expect(await ofType(t, 'gap'), `${t.name}: one gap`).toEqual([{ type: 'gap', channel: CHANNEL }]);

      // Leases rewritten (the restarted Redis had lost them), counts exact again.
      for (const gw of [i1, i2]) await until('leases rewritten after the restart', async () => (await presence(gw)).connections === 4, 10_000);
      expect((await presence(i1)).users).toEqual(everyone);
      const res = await post(i2, 'posted on i2 after the restart');
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ recipients: 4, delivered: 4 });
      for (const t of tabs) await until(`${t.name} gets the post-restart POST`, () => hasMessage(t, 'posted on i2 after the restart'));

      // No leave is announced during the post-outage grace (2 × TTL after each instance got the
      // store back and resubscribed, README), and nobody who stayed may flap once it is over: watch
      // until both graces are over (plus two sweeps).
      let graceFrom = Math.max(...okAt.values());
      for (const t of tabs) {
        const l = await log(t);
        for (let k = 0; k < l.events.length; k++) if (l.events[k]!.type === 'gap') graceFrom = Math.max(graceFrom, l.at[k]!);
      }
      await sleep(Math.max(0, graceFrom + 2 * TTL_SEC * 1000 + 2 * TTL_SEC * 100 + 300 - Date.now()));
      for (const t of tabs) expect(await ofType(t, 'leave'), `${t.name}: no leave for users who never left`).toEqual([]);
      expect(await joins(alice)).toEqual(['bob', 'carol']);
      expect(await joins(bob)).toEqual(['carol']);
      expect(await joins(carol)).toEqual([]);
      expect(await joins(alice2)).toEqual([]);

      // ---- kill -9 of i2: carol is announced left on i1 within the TTL; alice is not (her i1 tab stays).
      const killedAt = Date.now();
      await i2.kill('SIGKILL');
      for (const t of [alice, bob]) await until(`${t.name} hears carol leave`, async () => (await ofType(t, 'leave')).length > 0, TTL_SEC * 1000 + 5000);
      for (const t of [alice, bob]) {
        const l = await log(t);
        const k = l.events.findIndex((e) => e.type === 'leave');
        const ms = l.at[k]! - killedAt;
        console.log(`[timing] ${t.name}: leave carol ${ms} ms after kill -9 of i2 (presence TTL ${TTL_SEC} s)`);
        expect(ms).toBeLessThanOrEqual(TTL_SEC * 1000);
        expect(l.events.filter((e) => e.type === 'leave')).toEqual([{ type: 'leave', channel: CHANNEL, user: 'carol' }]);
      }
      // The tabs on i2 see their connection drop.
      for (const t of [carol, alice2]) await until(`${t.name} sees its socket close`, async () => (await log(t)).closes.length > 0, 5000);
      for (const t of [carol, alice2]) expect((await log(t)).closes.map((c) => c.code)).toEqual([1006]);
      // What remains: alice (one tab now) and bob, counted exactly.
      await until('presence on i1 drops i2', async () => (await presence(i1)).connections === 2, 5000);
      expect((await presence(i1)).users).toEqual([
        { user: 'alice', connections: 1 },
        { user: 'bob', connections: 1 },
      ]);
      const last = await post(i1, 'posted on i1 after the kill');
      expect(last.status).toBe(200);
      expect(await last.json()).toEqual({ recipients: 2, delivered: 2 });
      for (const t of [alice, bob]) await until(`${t.name} gets the post-kill POST`, () => hasMessage(t, 'posted on i1 after the kill'));
      for (const t of [alice, bob])
        expect(
          (await ofType(t, 'leave')).map((e) => e.user),
          `${t.name}: carol left, alice did not`,
        ).toEqual(['carol']);
      expect(await joins(alice)).toEqual(['bob', 'carol']);
      expect(await joins(bob)).toEqual(['carol']);
      for (const t of [alice, bob]) expect((await log(t)).closes).toEqual([]);
      for (const t of tabs) expect((await log(t)).other, `${t.name}: only JSON events`).toEqual([]);
      expect(pageErrors).toEqual([]);
      expect(i1.alive).toBe(true);
    },
    T,
  );
});
