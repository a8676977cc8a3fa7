/**
 * Channels: broadcast (broadcast.ts) and presence (presence-tracker.ts) for routes that name a
 * channel, on top of a Store. The Node gateway and the Durable Object channel both run this.
 *
 * Wire format on hub routes (documented in the README): text messages arrive as
 * `{"type":"message","channel","from","data"}`; binary messages arrive unchanged; a connection
 * that joins gets `{"type":"presence","channel","users":[{user,connections}]}` first, then
 * `{"type":"join"|"leave","channel","user"}` deltas, and `{"type":"gap","channel"}` after a
 * broker outage.
 */
import type { Logger } from '../log.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { Store } from '../store/types.ts';
import { createBroadcast } from './broadcast.ts';
import type { Clock } from './clock.ts';
import { PresenceTracker, type PresenceUser } from './presence-tracker.ts';
import type { ResolvedRoute } from '../routing/schema.ts';
import { historyResolver } from './history.ts';
import type { Registry } from './registry.ts';
import type { ChannelHooks } from './session.ts';

export type { PresenceUser } from './presence-tracker.ts';

export interface PublishResult {
  /** Connections on the channel across instances when the message was published. */
  recipients: number;
  /** The message's offset, on channels with history. */
  offset?: number;
  /** The store is away: delivered on this instance, queued for the others (outbox.ts). */
  queued?: boolean;
}

export interface Channels extends ChannelHooks {
  channelName(template: string, params: Record<string, string>, claims: Record<string, unknown>): string;
  /** Publish from the server side; resolves with the recipients (`PublishResult.recipients`). */
  publish(channel: string, data: string): Promise<number>;
  /** Publish from the server side, with everything the publish API answers. */
  publishMessage(channel: string, data: string): Promise<PublishResult>;
  presence(channel: string): Promise<PresenceUser[]>;
  /** Close a connection on whichever instance holds it; true when one reported it closed within `waitMs`. */
  closeRemote(connId: string, code: number, reason: string, waitMs?: number): Promise<boolean>;
  /** Draining: leaving members no longer write presence or announce `leave` one by one (quadratic with thousands); leases go as channels empty and at dispose. */
  quiesce(): void;
  dispose(): Promise<void>;
}

export interface ChannelsDeps {
  store: Store;
  registry: Registry;
  log: Logger;
  clock: Clock;
  ttlSec: number;
  metrics: GatewayMetrics;
  /** The routes, for their `history` options (matched by channel template). */
  routes?: readonly ResolvedRoute[];
  /** Whether any route (of the current table) shows presence events. @default always */
  announce?: () => boolean;
}

export function createChannels(deps: ChannelsDeps): Channels {
  const { store, registry, log, clock } = deps;
  const instance = crypto.randomUUID().slice(0, 12);
  const warn = (event: string, err: unknown) => log.warn(event, { error: String((err as Error)?.message ?? err) });
  const storeUp = deps.metrics.storeHealthy.cell();
  // The two refer to each other: deltas arrive on broadcast's subscription.
  let tracker: PresenceTracker;
  const broadcast = createBroadcast({
    store,
    registry,
    instance,
    log,
    metrics: deps.metrics,
    onPresence: (channel, w) => tracker.onDelta(channel, w),
    onGap: (channel) => tracker.onGap(channel),
    historyOf: historyResolver(deps.routes ?? []),
    clock,
  });
  tracker = new PresenceTracker({
    presence: store.presence,
    instance,
    ttlSec: deps.ttlSec,
    clock,
    health: () => store.health(),
    subscribe: (channel) => broadcast.subscribe(channel),
    send: (channel, w) => broadcast.send(channel, w),
    ...(deps.announce ? { announce: deps.announce } : {}),
    warn,
  });

  // Subscriptions that failed while the broker was down are retried here.
  const maintainTimer = clock.setInterval(() => {
    storeUp.v = store.health() === 'ok' ? 1 : 0;
    broadcast.maintain(registry.channelNames());
  }, Math.max(50, (deps.ttlSec * 1000) / 10));
  storeUp.v = store.health() === 'ok' ? 1 : 0;

  async function publishMessage(channel: string, data: string): Promise<PublishResult> {
    const { offset, queued } = await broadcast.publish(channel, data);
    let recipients: number;
    try {
      if (queued) throw new Error('store away');
      recipients = await store.presence.count(channel);
    } catch {
      recipients = registry.inChannel(channel).size; // what this instance knows
    }
    return { recipients, ...(offset !== undefined ? { offset } : {}), ...(queued ? { queued } : {}) };
  }

  return {
    channelName(template, params, claims) {
      return template.replace(/\{([A-Za-z0-9_.]+)\}/g, (_m, name: string) => {
        const v = name.startsWith('claims.') ? claims[name.slice(7)] : params[name];
        return String(v ?? '');
      });
    },
    join(session) {
      void broadcast.subscribe(session.channel!);
      if (session.route.presence || session.route.presenceEvents) tracker.join(session);
      broadcast.joined(session, session.recover);
    },
    leave(session) {
      const channel = session.channel!;
      const last = registry.inChannel(channel).size === 0;
      tracker.leave(session, last);
      if (last) broadcast.release(channel);
    },
    broadcast: (session, data, isBinary) => broadcast.fromClient(session, data, isBinary),
    publishMessage,
    publish: async (channel, data) => (await publishMessage(channel, data)).recipients,
    presence: (channel) => tracker.users(channel),
    closeRemote: (connId, code, reason, waitMs) => broadcast.closeRemote(connId, code, reason, waitMs),
    quiesce() {
      tracker.quiet = true;
    },
    async dispose() {
      clock.clearInterval(maintainTimer);
      await tracker.dispose();
      await broadcast.dispose();
    },
  };
}
