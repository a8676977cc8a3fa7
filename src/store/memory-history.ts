/**
 * History for the memory store (history-store.ts): per channel an array of the last `size`
 * messages, dropped with a new epoch `ttlSec` after the last publish. Append and publish happen
 * in one synchronous step, so offsets reach subscribers in order.
 */
import { newEpoch, stamp, type HistoryEntry, type HistoryStore } from './history-store.ts';
import type { PubSub } from './types.ts';

interface Log {
  epoch: string;
  top: number;
  entries: HistoryEntry[];
  expiresAt: number;
}

export function createMemoryHistory(pubsub: PubSub, now: () => number = Date.now): HistoryStore {
  const logs = new Map<string, Log>();
  const current = (channel: string): Log | undefined => {
    const log = logs.get(channel);
    if (log && log.expiresAt <= now()) logs.delete(channel);
    return logs.get(channel);
  };

  return {
    publish(channel, topic, wire, opts) {
      let log = current(channel);
      if (!log) logs.set(channel, (log = { epoch: newEpoch(), top: 0, entries: [], expiresAt: 0 }));
      const offset = ++log.top;
      const message = stamp(wire, offset, log.epoch);
      log.entries.push({ offset, message });
      if (log.entries.length > opts.size) log.entries.splice(0, log.entries.length - opts.size);
      log.expiresAt = now() + opts.ttlSec * 1000;
      const published = pubsub.publish(topic, message);
      return published.then(() => ({ offset, epoch: log.epoch }));
    },
    async read(channel, since, epoch, limit) {
      let log = current(channel);
      // Asked about a channel nobody published on yet: start its epoch, so offset 0 is recoverable.
      if (!log) logs.set(channel, (log = { epoch: newEpoch(), top: 0, entries: [], expiresAt: now() + 60_000 }));
      const first = log.entries[0]?.offset ?? log.top + 1;
      const complete = (epoch === undefined || epoch === log.epoch) && since >= first - 1 && since <= log.top;
      const entries = complete ? log.entries.filter((e) => e.offset > since).slice(0, limit) : [];
      return { epoch: log.epoch, top: log.top, entries, complete };
    },
  };
}
