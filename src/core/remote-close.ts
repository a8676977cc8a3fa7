/**
 * Closing a connection held by another instance, over the store's `control` topic: a request
 * `{k:'c'}` goes to every instance; the one that holds the connection closes it and answers
 * `{k:'cr'}` to the asker. No answer within the wait means no instance has it (the admin API
 * then says 404 instead of claiming it was closed).
 */
import { CONTROL, type Wire } from './channel-wire.ts';
import type { Clock } from './clock.ts';
import type { Registry } from './registry.ts';
import type { Store } from '../store/types.ts';

export function createRemoteClose(deps: { store: Store; registry: Registry; clock: Clock; instance: string }) {
  const { store, registry, clock, instance } = deps;
  const replies = new Map<string, () => void>();
  return {
    /** A control message: a reply for us, or a request for a connection we hold. */
    onControl(w: Wire): void {
      if (w.k === 'cr' && w.to === instance && w.c) replies.get(w.c)?.();
      const s = w.k === 'c' && w.c ? registry.get(w.c) : undefined;
      if (!s) return;
      s.close(w.code ?? 4903, w.reason ?? '', 'admin');
      store.pubsub.publish(CONTROL, JSON.stringify({ k: 'cr', i: instance, to: w.i, c: w.c })).catch(() => {});
    },
    /** Ask the others; true when one reported it closed within `waitMs`. */
    async request(connId: string, code: number, reason: string, waitMs: number): Promise<boolean> {
      const replied = new Promise<boolean>((resolve) => {
        const timer = clock.setTimeout(() => resolve(false), waitMs);
        replies.set(connId, () => {
          clock.clearTimeout(timer);
          resolve(true);
        });
      });
      try {
        await store.pubsub.publish(CONTROL, JSON.stringify({ k: 'c', i: instance, c: connId, code, reason }));
        return await replied;
      } finally {
        replies.delete(connId);
      }
    },
  };
}
