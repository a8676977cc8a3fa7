/**
 * History for the channel Durable Object (history-store.ts) in the object's own storage, so it
 * outlives the object's eviction: `hmeta:<channel>` → { epoch, top, expiresAt } and
 * `h:<channel>:<offset, zero-padded>` → the published text, the last `size` kept. A Durable
 * Object runs one event at a time and its storage writes are ordered, so append + publish (to
 * the object's in-memory pub/sub) is one step, as on the other stores.
 */
import { newEpoch, stamp, type HistoryEntry, type HistoryStore } from '../../store/history-store.ts';
import type { PubSub } from '../../store/types.ts';
import type { DurableObjectStorage } from './types.ts';

interface Meta {
  epoch: string;
  top: number;
  expiresAt: number;
}

const pad = (n: number) => String(n).padStart(15, '0');
const entryKey = (channel: string, offset: number) => `h:${channel}:${pad(offset)}`;

export function createDurableHistory(storage: DurableObjectStorage, pubsub: PubSub, now: () => number = Date.now): HistoryStore {
  const metas = new Map<string, Meta>();

  async function meta(channel: string, ttlMs: number): Promise<Meta> {
    let m = metas.get(channel) ?? (await storage.get<Meta>(`hmeta:${channel}`));
    if (!m || m.expiresAt <= now()) {
      if (m) await clear(channel);
      m = { epoch: newEpoch(), top: 0, expiresAt: now() + ttlMs };
      await storage.put({ [`hmeta:${channel}`]: m });
    }
    metas.set(channel, m);
    return m;
  }

  async function clear(channel: string): Promise<void> {
    for (;;) {
      const keys = [...(await storage.list({ prefix: `h:${channel}:`, limit: 128 })).keys()];
      if (keys.length === 0) return;
      await storage.delete(keys);
    }
  }

  return {
    async publish(channel, topic, wire, opts) {
      const m = await meta(channel, opts.ttlSec * 1000);
      const offset = ++m.top;
      m.expiresAt = now() + opts.ttlSec * 1000;
      const message = stamp(wire, offset, m.epoch);
      await storage.put({ [`hmeta:${channel}`]: m, [entryKey(channel, offset)]: message });
      if (offset > opts.size) await storage.delete([entryKey(channel, offset - opts.size)]);
      await pubsub.publish(topic, message);
      return { offset, epoch: m.epoch };
    },
    async read(channel, since, epoch, limit) {
      const m = await meta(channel, 60_000);
      const first = [...(await storage.list({ prefix: `h:${channel}:`, limit: 1 })).keys()][0];
      const firstOffset = first ? Number(first.slice(first.lastIndexOf(':') + 1)) : m.top + 1;
      const complete = (epoch === undefined || epoch === m.epoch) && since >= firstOffset - 1 && since <= m.top;
      const entries: HistoryEntry[] = [];
      if (complete && since < m.top && limit > 0) {
        const found = await storage.list<string>({ prefix: `h:${channel}:`, start: entryKey(channel, since + 1), limit });
        for (const [k, message] of found) entries.push({ offset: Number(k.slice(k.lastIndexOf(':') + 1)), message });
      }
      return { epoch: m.epoch, top: m.top, entries, complete };
    },
  };
}
