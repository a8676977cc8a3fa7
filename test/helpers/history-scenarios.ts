/**
 * History and recovery scenarios, run by the Node (memory, Redis) and workerd tests against a
 * target: a client away ~5 s while 100 messages are published comes back with its last offset
 * and gets exactly those 100 in order, then live ones; an offset older than the history, or from
 * another epoch, gets `gap` with the current offset.
 */
import { expect } from 'vitest';
import { connectClient, until, type TestClient } from './gateway.ts';
import { events, type Ev } from './events.ts';
import { sleep } from './redis-server.ts';
import { claims, hs } from './tokens.ts';

/** Routes the scenarios expect (a hub with a big history, one with a 10-message history). */
export const HISTORY_ROUTES = {
  hist: { path: '/h/:room', channel: 'hist:{room}', heartbeat: 'off' as const, history: { size: 500, ttlSec: 300 } },
  short: { path: '/s/:room', channel: 'short:{room}', heartbeat: 'off' as const, history: { size: 10, ttlSec: 300 } },
};

export interface Target {
  url(path: string, token: string): string;
  admin(path: string, init?: RequestInit): Promise<Response>;
}
type Msg = Ev & { offset?: number; epoch?: string };
const token = (sub: string) => hs(claims({ sub }));
const msgs = (c: TestClient) => (events(c) as Msg[]).filter((e) => e.type === 'message');
const marker = (c: TestClient) => (events(c) as Msg[]).find((e) => e.type === 'history');
const post = async (t: Target, channel: string, body: string) => {
  const res = await t.admin(`/_wsgate/channels/${channel}/messages`, { method: 'POST', body });
  expect(res.status).toBe(200);
  return (await res.json()) as { recipients: number; offset: number; delivered: number };
};

/** The scenario, run against one target for publishing/observing and one for reconnecting. */
export async function awayAndBack(pub: Target, back: Target, room: string): Promise<void> {
  const channel = `hist:${room}`;
  const alice = await connectClient(pub.url(`/h/${room}`, await token('alice')));
  const bob = await connectClient(back.url(`/h/${room}`, await token('bob'))); // stays throughout
  await until(() => marker(alice) !== undefined && marker(bob) !== undefined, 5000, 'history markers');
  const epoch = marker(alice)!.epoch!;
  expect(marker(alice)).toEqual({ type: 'history', channel, offset: 0, epoch });
  for (let i = 0; i < 3; i++) expect((await post(pub, channel, `before-${i}`)).offset).toBe(i + 1);
  await until(() => msgs(alice).length === 3, 5000, 'three before');
  expect(msgs(alice)[2]).toEqual({ type: 'message', channel, from: null, data: 'before-2', offset: 3, epoch });
  const last = msgs(alice).at(-1)!.offset!;
  alice.ws.close();
  await alice.closed;

  // ~5 s away while 100 messages are published (alternating instances when there are two).
  const t0 = Date.now();
  for (let i = 0; i < 100; i++) {
    await post(i % 2 ? back : pub, channel, `away-${i}`);
    await sleep(Math.max(0, t0 + (i + 1) * 50 - Date.now()));
  }
  await until(() => msgs(bob).length === 103, 10_000, 'bob (live) has all 103');
  expect(msgs(bob).map((m) => m.offset)).toEqual(Array.from({ length: 103 }, (_, i) => i + 1));

  const again = await connectClient(back.url(`/h/${room}?since=${last}&epoch=${epoch}`, await token('alice')));
  await until(() => marker(again) !== undefined, 10_000, 'recovered and marked');
  const got = msgs(again);
  expect(got.map((m) => m.data)).toEqual(Array.from({ length: 100 }, (_, i) => `away-${i}`));
  expect(got.map((m) => m.offset)).toEqual(Array.from({ length: 100 }, (_, i) => i + 4));
  expect(marker(again)).toEqual({ type: 'history', channel, offset: 103, epoch });
  expect(events(again).some((e) => e.type === 'gap')).toBe(false);
  // Then live, no gap, no duplicate.
  expect((await post(pub, channel, 'live-1')).offset).toBe(104);
  await until(() => msgs(again).length === 101, 5000, 'live after recovery');
  expect(msgs(again).at(-1)).toMatchObject({ data: 'live-1', offset: 104 });
  await sleep(200);
  expect(msgs(again)).toHaveLength(101);
}

export async function tooOld(t: Target, room: string): Promise<void> {
  const channel = `short:${room}`;
  const c = await connectClient(t.url(`/s/${room}`, await token('carol')));
  await until(() => marker(c) !== undefined, 5000, 'marker');
  const epoch = marker(c)!.epoch!;
  for (let i = 0; i < 25; i++) await post(t, channel, `m-${i}`);
  await until(() => msgs(c).length === 25, 5000, 'all 25 live');
  c.ws.close();
  const old = await connectClient(t.url(`/s/${room}?since=3&epoch=${epoch}`, await token('carol')));
  await until(() => marker(old) !== undefined, 5000, 'marker after gap');
  expect(events(old).filter((e) => e.type !== 'presence')).toEqual([
    { type: 'gap', channel, offset: 25, epoch },
    { type: 'history', channel, offset: 25, epoch },
  ]);
  // Within the last 10: recovered.
  const recent = await connectClient(t.url(`/s/${room}?since=20&epoch=${epoch}`, await token('carol')));
  await until(() => marker(recent) !== undefined, 5000, 'recent marker');
  expect(msgs(recent).map((m) => m.offset)).toEqual([21, 22, 23, 24, 25]);
  // Another epoch (history lost since): gap.
  const other = await connectClient(t.url(`/s/${room}?since=20&epoch=someotherepoch`, await token('carol')));
  await until(() => marker(other) !== undefined, 5000, 'other-epoch marker');
  expect(events(other).find((e) => e.type === 'gap')).toEqual({ type: 'gap', channel, offset: 25, epoch });
}

