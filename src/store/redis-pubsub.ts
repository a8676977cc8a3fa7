/**
 * Pub/sub over one dedicated ioredis subscriber connection. One `message` listener dispatches to
 * a Map<topic, Set<subscriber>>: SUBSCRIBE goes out for the first subscriber of a topic,
 * UNSUBSCRIBE after the last one leaves.
 *
 * Reconnects: we resubscribe ourselves on every `ready` instead of relying
 * on ioredis `autoResubscribe`, which only replays channels whose SUBSCRIBE had already succeeded
 * and gives no signal once it is done. After a reconnect that followed a lost connection, and
 * only once the resubscription is active, every subscriber's `onGap` is called once: Redis
 * pub/sub is at-most-once, so messages published during the outage (and just after the restart,
 * before the resubscribe) are gone.
 */
import type { Redis } from 'ioredis';
import { GatewayError } from '../errors.ts';
import type { PubSub } from './types.ts';

interface Subscriber {
  onMessage: (message: string) => void;
  onGap: (() => void) | undefined;
}

interface Topic {
  subscribers: Set<Subscriber>;
  /** Settles when Redis acknowledged the SUBSCRIBE for this topic. */
  active: Promise<unknown>;
}

export interface RedisPubSub extends PubSub {
  /** Subscriber handlers currently registered (for tests and metrics). */
  size(): number;
  close(): void;
}

export function createRedisPubSub(
  sub: Redis,
  pub: Redis,
  prefix: string,
  onError: (error: unknown) => void,
): RedisPubSub {
  const topics = new Map<string, Topic>();
  let everReady = sub.status === 'ready';
  let lost = false;
  let closed = false;

  const safely = (fn: () => void): void => {
    try {
      fn();
    } catch (error) {
      onError(error);
    }
  };

  sub.on('message', (channel: string, message: string) => {
    if (!channel.startsWith(prefix)) return;
    const topic = topics.get(channel.slice(prefix.length));
    if (!topic) return;
    for (const s of [...topic.subscribers]) {
      if (topic.subscribers.has(s)) safely(() => s.onMessage(message));
    }
  });

  // A SUBSCRIBE can succeed on a connection that drops before it is ever `ready` (its ready check
  // failed, e.g. under load right after Redis started): that subscription died with it, so any
  // close with topics subscribed means resubscribing on the next `ready` — with a gap signal only
  // when a ready connection was lost (messages may have been missed), not on the first one.
  let stale = false;
  sub.on('close', () => {
    if (closed) return;
    if (everReady) lost = true;
    if (topics.size > 0) stale = true;
  });

  sub.on('ready', () => {
    everReady = true;
    if ((!lost && !stale) || closed) return;
    const gap = lost;
    lost = stale = false;
    void resubscribe(gap);
  });

  async function resubscribe(gap = true): Promise<void> {
    const names = [...topics.keys()];
    if (names.length > 0) {
      try {
        await sub.subscribe(...names.map((t) => prefix + t));
      } catch (error) {
        // The connection dropped again: `close` set `lost`, the next `ready` retries.
        onError(error);
        return;
      }
    }
    if (!gap) return;
    for (const topic of topics.values()) {
      for (const s of [...topic.subscribers]) if (s.onGap) safely(s.onGap);
    }
  }

  const unavailable = (error: unknown): GatewayError => {
    const reason = error instanceof Error ? error.message : String(error);
    return new GatewayError('store_unavailable', `Redis is unavailable: ${reason}`);
  };

  return {
    async publish(topic, message) {
      if (closed) throw new GatewayError('store_unavailable', 'Redis store is disposed');
      try {
        // The publisher has no offline queue: this rejects at once while Redis is down.
        await pub.publish(prefix + topic, message);
      } catch (error) {
        throw unavailable(error);
      }
    },

    async subscribe(topic, onMessage, onGap) {
      if (closed) throw new GatewayError('store_unavailable', 'Redis store is disposed');
      let entry = topics.get(topic);
      if (!entry) {
        entry = { subscribers: new Set(), active: sub.subscribe(prefix + topic) };
        topics.set(topic, entry);
      }
      const s: Subscriber = { onMessage, onGap };
      entry.subscribers.add(s);
      const leave = (): boolean => {
        const current = entry;
        current.subscribers.delete(s);
        if (current.subscribers.size > 0 || topics.get(topic) !== current) return false;
        topics.delete(topic);
        return true;
      };
      try {
        await entry.active;
      } catch (error) {
        leave();
        throw unavailable(error);
      }
      let done = false;
      return async () => {
        if (done) return;
        done = true;
        if (!leave() || closed) return;
        // Best effort: if Redis is down the subscription died with the connection, and the
        // topic is no longer in the map, so it is not resubscribed.
        await sub.unsubscribe(prefix + topic).catch(() => undefined);
      };
    },

    size() {
      let n = 0;
      for (const topic of topics.values()) n += topic.subscribers.size;
      return n;
    },

    close() {
      closed = true;
      topics.clear();
    },
  };
}
