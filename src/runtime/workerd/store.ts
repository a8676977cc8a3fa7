/**
 * The Worker side of the channel Durable Object (channel-object.ts): hand a hub-route connection
 * to the object that owns its channel, and a `Store` whose KV and publish are routed to the
 * object owning the key's or topic's channel (`presence:<channel>:…`, `ch:<channel>`), and
 * presence reads to the channel's object, so the `/_wsgate` channel API runs unchanged in the Worker.
 */
import { createStorage, type Driver } from 'unstorage';
import type { ResolvedRoute } from '../../routing/schema.ts';
import type { HistoryRead } from '../../store/history-store.ts';
import type { PresenceMember } from '../../store/presence-store.ts';
import type { Store } from '../../store/types.ts';
import type { DurableObjectNamespace } from './types.ts';

export const ORIGIN = 'https://wsgate-channel.internal';

/** What the Worker tells the object about a connection it hands over (headers on `/connect`). */
export interface Handoff {
  id: string;
  channel: string;
  route: ResolvedRoute;
  userId?: string;
  recover?: { since: number; epoch?: string };
  protocol?: string;
  expiresAtMs?: number;
  expiryGraceMs: number;
}

/** Forward an accepted hub-route handshake to the channel's object; returns its 101 response. */
export function handOff(ns: DurableObjectNamespace, h: Handoff): Promise<Response> {
  // Route files may carry secrets in `auth`: the object never needs them.
  const { auth: _auth, ...route } = h.route;
  const stub = ns.get(ns.idFromName(h.channel));
  return stub.fetch(`${ORIGIN}/connect`, { headers: { upgrade: 'websocket', 'x-wsgate-handoff': JSON.stringify({ ...h, route }) } });
}
const topic = (channel: string) => `ch:${channel}`;
function workerHoldsNoMembers(): never {
  throw new Error('durable-object store: presence members live in the channel objects, not in the Worker');
}

/** The channel a KV key or pub/sub topic belongs to (the object that owns it). */
function channelOf(keyOrTopic: string): string | undefined {
  const topic = /^ch:(.+)$/.exec(keyOrTopic);
  if (topic) return topic[1];
  const key = /^presence:([^:]+)/.exec(keyOrTopic);
  return key ? decodeURIComponent(key[1]!) : undefined;
}

/**
 * The Worker-side Store: KV and publish go to the owning channel's object. Subscriptions are
 * not possible from a Worker: hub members live in the objects, which subscribe locally.
 */
export function createDurableObjectStore(ns: DurableObjectNamespace): Store {
  const call = async (keyOrTopic: string, path: string, init?: RequestInit): Promise<Response> => {
    const channel = channelOf(keyOrTopic);
    if (channel === undefined) throw new Error(`durable-object store: "${keyOrTopic}" belongs to no channel`);
    const res = await ns.get(ns.idFromName(channel)).fetch(`${ORIGIN}${path}`, init);
    if (!res.ok) throw new Error(`durable-object store: ${path.split('?')[0]} answered ${res.status}`);
    return res;
  };
  const qs = (o: Record<string, string>) => new URLSearchParams(o).toString();
  const driver: Driver = {
    name: 'durable-object',
    hasItem: async (key) => (await driver.getItem(key, {})) !== null,
    getItem: async (key) => ((await (await call(key, `/kv/item?${qs({ key })}`)).json()) as { value: unknown }).value ?? null,
    async setItem(key, value, opts) {
      const ttl = typeof opts?.ttl === 'number' ? String(opts.ttl) : '';
      await call(key, `/kv/item?${qs({ key, ttl })}`, { method: 'PUT', body: value });
    },
    async removeItem(key) {
      await call(key, `/kv/item?${qs({ key })}`, { method: 'DELETE' });
    },
    getKeys: async (base) => (await (await call(base, `/kv/keys?${qs({ base })}`)).json()) as string[],
  };
  return {
    name: 'durable-object',
    kv: createStorage({ driver }),
    pubsub: {
      async publish(topic, message) {
        if (channelOf(topic) === undefined) throw new Error(`durable-object store: "${topic}" is not supported on Workers (no channel owns it)`);
        await call(topic, `/publish?${qs({ topic })}`, { method: 'POST', body: message });
      },
      async subscribe(topic) {
        // The gateway's control subscription: nothing reaches a Worker, so nothing to listen to.
        if (topic === 'control') return async () => {};
        throw new Error('durable-object store: a Worker cannot hold a subscription; hub routes run in the channel object');
      },
    },
    presence: {
      // Reads go to the channel's object (its memory store holds every member of the channel);
      // writes never happen in the Worker: hub members live in the objects.
      members: async (channel) => (await (await call(topic(channel), `/presence/members?${qs({ channel })}`)).json()) as PresenceMember[],
      count: async (channel) => ((await (await call(topic(channel), `/presence/count?${qs({ channel })}`)).json()) as { count: number }).count,
      instances: async () => [],
      join: workerHoldsNoMembers,
      leave: workerHoldsNoMembers,
      renew: workerHoldsNoMembers,
      restore: workerHoldsNoMembers,
      drop: workerHoldsNoMembers,
    },
    history: {
      // The channel's object holds its history (its memory store) and fans the message out.
      publish: async (channel, t, wire, opts) =>
        (await (await call(t, `/history/publish?${qs({ channel, topic: t, size: String(opts.size), ttl: String(opts.ttlSec) })}`, { method: 'POST', body: wire })).json()) as { offset: number; epoch: string },
      read: async (channel, since, epoch, limit) =>
        (await (await call(topic(channel), `/history/read?${qs({ channel, since: String(since), epoch: epoch ?? '', limit: String(limit) })}`)).json()) as HistoryRead,
    },
    capabilities: { crossInstance: true, ttl: true },
    health: () => 'ok',
    async dispose() {},
  };
}
