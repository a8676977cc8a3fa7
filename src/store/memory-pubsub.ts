/**
 * In-process pub/sub for the memory store. Delivery is asynchronous (one microtask per message,
 * in publish order) so a publisher never re-enters a subscriber synchronously, and a handler that
 * throws cannot break delivery to the others or crash the process.
 */
import type { PubSub } from './types.ts';

type Handler = (message: string) => void;

export interface MemoryPubSub extends PubSub {
  /** Drop every subscription; later publishes are no-ops. */
  close(): void;
}

export function createMemoryPubSub(onError: (error: unknown) => void = reportError): MemoryPubSub {
  const topics = new Map<string, Set<Handler>>();
  let closed = false;

  return {
    async publish(topic, message) {
      const handlers = topics.get(topic);
      if (closed || !handlers || handlers.size === 0) return;
      const snapshot = [...handlers];
      queueMicrotask(() => {
        for (const handler of snapshot) {
          // Unsubscribed after the publish: do not deliver (unsubscribe stops delivery at once).
          if (!topics.get(topic)?.has(handler)) continue;
          try {
            handler(message);
          } catch (error) {
            onError(error);
          }
        }
      });
    },

    async subscribe(topic, onMessage) {
      if (closed) throw new Error('memory store is disposed');
      // Wrap so the same function subscribed twice gets two independent subscriptions.
      const handler: Handler = (message) => onMessage(message);
      let set = topics.get(topic);
      if (!set) topics.set(topic, (set = new Set()));
      set.add(handler);
      // onGap is never called: an in-process broker cannot lose its connection.
      return async () => {
        const current = topics.get(topic);
        if (!current) return;
        current.delete(handler);
        if (current.size === 0) topics.delete(topic);
      };
    },

    close() {
      closed = true;
      topics.clear();
    },
  };
}

function reportError(error: unknown): void {
  console.error('[wsgate] store subscriber threw:', error);
}
