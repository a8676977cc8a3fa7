/** The types around broadcast.ts: what it needs (BroadcastDeps) and what it offers (Broadcast). */
import type { Logger } from '../log.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { HistoryOptions } from '../store/history-store.ts';
import type { Store } from '../store/types.ts';
import type { Wire } from './channel-wire.ts';
import type { Clock } from './clock.ts';
import type { Recover } from './history.ts';
import type { Payload } from './leg.ts';
import type { Outbox } from './outbox.ts';
import type { Registry } from './registry.ts';
import type { Session } from './session.ts';

export interface BroadcastDeps {
  store: Store;
  registry: Registry;
  instance: string;
  log: Logger;
  metrics: GatewayMetrics;
  /** A presence delta from another instance. */
  onPresence(channel: string, w: Wire): void;
  /** The broker connection was lost and restored: pub/sub messages may be missing. */
  onGap(channel: string): void;
  /** History options of a channel (its route's `history`), or undefined. */
  historyOf(channel: string): HistoryOptions | undefined;
  clock: Clock;
  /** The outage outbox (outbox.ts); default OUTBOX_LIMITS. */
  outbox?: Outbox;
}

/** What a publish did: its offset (history channels), or queued in the outage outbox. */
export interface Published {
  offset?: number;
  queued?: boolean;
}

export interface Broadcast {
  /** Subscribe the channel (once); resolves when the subscription is active (or failed). */
  subscribe(channel: string): Promise<void>;
  /** Drop the channel's subscription (its last local member left). */
  release(channel: string): void;
  /** A member joined: on a history channel, catch it up (`recover`) and send its position. */
  joined(session: Session, recover: Recover | undefined): void;
  /** A client message on a hub route. */
  fromClient(session: Session, data: Payload, isBinary: boolean): void;
  /**
   * A server-side publish: delivered locally, published for the other instances — or queued in
   * the outbox while the store is away; rejects (store_unavailable) when the outbox is full.
   */
  publish(channel: string, data: string): Promise<Published>;
  /** Send a wire message to the other instances (best effort, logged on failure). */
  send(channel: string, w: Wire): Promise<void>;
  /** Close a connection on whichever instance holds it; true when one reported it closed within `waitMs`. */
  closeRemote(connId: string, code: number, reason: string, waitMs?: number): Promise<boolean>;
  /** Retry failed subscriptions (channels with local members, and the control topic). */
  maintain(channels: Iterable<string>): void;
  dispose(): Promise<void>;
}
