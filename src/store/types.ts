/**
 * A store has three sides: a KV side (an unstorage `Storage`, plain keys and values), a pub/sub
 * side (channel fan-out across gateway instances), presence (presence-store.ts: who is on a
 * channel, one structure per channel, one round trip per read) and history (history-store.ts:
 * offsets, epochs and recovery for channels that opt in).
 */
import type { Storage } from 'unstorage';
import type { HistoryStore } from './history-store.ts';
import type { PresenceStore } from './presence-store.ts';

export type StoreHealth = 'ok' | 'degraded';

export interface PubSub {
  /** Publish to every subscriber of `topic` on every instance. Rejects fast when the broker is down. */
  publish(topic: string, message: string): Promise<void>;
  /**
   * Subscribe; resolves once the subscription is active. The returned function unsubscribes.
   * `onGap` is called after the broker connection was lost and restored: messages published
   * meanwhile may be missing (Redis pub/sub is at-most-once), so subscribers tell their clients.
   */
  subscribe(topic: string, onMessage: (message: string) => void, onGap?: () => void): Promise<() => Promise<void>>;
}

export interface StoreCapabilities {
  /** Messages reach other processes (false for the memory store). */
  crossInstance: boolean;
  /** KV entries honour `ttl` (seconds) on setItem. */
  ttl: boolean;
}

export interface Store {
  readonly name: string;
  readonly kv: Storage;
  readonly pubsub: PubSub;
  readonly presence: PresenceStore;
  readonly history: HistoryStore;
  readonly capabilities: StoreCapabilities;
  /** 'degraded' while the backing service is unreachable. */
  health(): StoreHealth;
  dispose(): Promise<void>;
}
