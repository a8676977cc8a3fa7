/**
 * Channels: broadcast and presence for routes that name a channel, on top of a Store.
 *
 * - A message is delivered to local members at once and published for other instances, which
 *   skip their own; so local delivery keeps working while the broker is down.
 * - Join/leave: a user's first connection announces `join`, the last `leave`. Each instance also
 *   sweeps the merged presence every ttl/10 and announces users that appeared or vanished without
 *   an event (an instance that crashed, an outage) — a per-channel snapshot makes every
 *   announcement idempotent.
 * - After a broker outage members get a `gap` event: messages may have been lost (G2).
 *
 * Wire format on hub routes (documented in the README): text messages arrive as
 * `{"type":"message","channel","from","data"}`; binary messages arrive unchanged; system events
 * are `{"type":"join"|"leave","channel","user"}`, `{"type":"gap","channel"}`, and — once, to a
 * connection that just joined — `{"type":"presence","channel","users":[{user,connections}]}`.
 */
import type { Logger } from '../log.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { Store } from '../store/types.ts';
import type { Clock } from './clock.ts';
import type { Payload } from './leg.ts';
import { PresenceLeases, type PresenceUser } from './presence.ts';
import type { Registry } from './registry.ts';
import type { ChannelHooks, Session } from './session.ts';
import { createRemoteClose } from './remote-close.ts';
import { CONTROL, decoder, encoder, fromBase64, toBase64, topic, type Wire } from './channel-wire.ts';

export interface Channels extends ChannelHooks {
  channelName(template: string, params: Record<string, string>, claims: Record<string, unknown>): string;
  /** Publish from the server side; resolves with the connections on the channel (all instances, from presence). */
  publish(channel: string, data: string): Promise<number>;
  presence(channel: string): Promise<PresenceUser[]>;
  /** Close a connection on whichever instance holds it; true when one reported it closed within `waitMs`. */
  closeRemote(connId: string, code: number, reason: string, waitMs?: number): Promise<boolean>;
  /** Draining: leaving members no longer write presence or announce `leave` one by one (quadratic with thousands); leases go as channels empty and at dispose. */
  quiesce(): void;
  dispose(): Promise<void>;
}

export function createChannels(deps: { store: Store; registry: Registry; log: Logger; clock: Clock; ttlSec: number; metrics: GatewayMetrics }): Channels {
  const { store, registry, log, clock } = deps;
  const instance = crypto.randomUUID().slice(0, 12);
  const leases = new PresenceLeases(store.kv, instance, deps.ttlSec, clock.wallNow);
  const subs = new Map<string, Promise<(() => Promise<void>) | undefined>>();
  const snapshots = new Map<string, Set<string>>();
  const delivered = deps.metrics.broadcasts.cell();
  const storeUp = deps.metrics.storeHealthy.cell();
  const warn = (event: string, err: unknown) => log.warn(event, { error: String((err as Error)?.message ?? err) });

  const members = (channel: string) => registry.byChannel.get(channel) ?? new Set<Session>();

  /**
   * Fan a message out to local members. Each distinct payload is built and UTF-8 encoded once
   * (not once per member): with 10k members the per-member cost is only the send.
   */
  function deliver(channel: string, w: Wire): number {
    let n = 0;
    let envelope: Uint8Array | undefined;
    let raw: Uint8Array | undefined;
    let binary: Uint8Array | undefined;
    for (const s of members(channel)) {
      if (w.k === 'm') {
        if (w.c === s.id && !s.route.echo) continue;
        if (w.b !== undefined) s.sendToClient((binary ??= fromBase64(w.b)), true);
        else if (s.route.upstreams.length > 0) s.sendToClient((raw ??= encoder.encode(w.d ?? '')), false);
        else s.sendToClient((envelope ??= encoder.encode(JSON.stringify({ type: 'message', channel, from: w.from ?? null, data: w.d }))), false);
      } else {
        if (!s.route.presenceEvents) continue;
        s.sendToClient((envelope ??= encoder.encode(JSON.stringify({ type: w.e, channel, user: w.from }))), false);
      }
      n++;
    }
    delivered.v += n;
    return n;
  }

  function announce(channel: string, event: 'join' | 'leave', user: string): void {
    const snap = snapshots.get(channel) ?? new Set<string>();
    if (event === 'join' ? snap.has(user) : !snap.has(user)) return;
    if (event === 'join') snap.add(user);
    else snap.delete(user);
    snapshots.set(channel, snap);
    deliver(channel, { k: 'p', i: instance, e: event, from: user });
  }

  function onWire(channel: string, raw: string): void {
    let w: Wire;
    try {
      w = JSON.parse(raw) as Wire;
    } catch {
      return;
    }
    if (w.i === instance) return;
    if (w.k === 'm') deliver(channel, w);
    else if (w.k === 'p' && w.from !== undefined && w.e) announce(channel, w.e, w.from);
  }

  function onGap(channel: string): void {
    for (const s of members(channel))
      if (s.route.upstreams.length === 0 || s.route.presenceEvents) s.sendToClient(JSON.stringify({ type: 'gap', channel }), false);
    // A restarted broker has lost the leases too: rewrite ours before judging anyone gone.
    holdLeaves();
    void leases
      .write(channel)
      .then(() => sweep(channel))
      .catch(() => {});
  }

  /** Subscribe once per channel with local members; retried by the sweep while the broker is down. */
  function ensureSubscribed(channel: string): void {
    if (subs.has(channel)) return;
    const p = store.pubsub
      .subscribe(topic(channel), (m) => onWire(channel, m), () => onGap(channel))
      .catch((err) => {
        subs.delete(channel);
        warn('channel_subscribe_failed', err);
        return undefined;
      });
    subs.set(channel, p);
  }

  async function publishWire(channel: string, w: Wire): Promise<void> {
    try {
      await store.pubsub.publish(topic(channel), JSON.stringify(w));
    } catch (err) {
      warn('channel_publish_failed', err);
    }
  }

  async function userCount(channel: string, user: string): Promise<number> {
    const users = await leases.users(channel);
    return users.find((u) => u.user === user)?.connections ?? 0;
  }

  async function sweep(channel: string): Promise<void> {
    const snap = snapshots.get(channel);
    if (!snap) return;
    let listed: PresenceUser[];
    try {
      listed = await leases.users(channel);
    } catch (err) {
      holdLeaves();
      throw err;
    }
    const users = new Set(listed.map((u) => u.user));
    for (const u of users) if (!snap.has(u)) announce(channel, 'join', u);
    // During and after a broker outage the leases are rebuilt as instances renew: until then a
    // missing user is not evidence of a leave.
    if (store.health() !== 'ok') holdLeaves();
    if (clock.wallNow() < leaveGraceUntil) return;
    const local = new Set(leases.local.get(channel)?.values() ?? []);
    for (const u of [...snap]) if (!users.has(u) && !local.has(u)) announce(channel, 'leave', u);
  }

  const renewTimer = clock.setInterval(() => {
    leases.renewAll().catch((err) => warn('presence_renew_failed', err));
  }, Math.max(100, (deps.ttlSec * 1000) / 3));
  /**
   * No absence is evidence of a leave while the store is degraded, nor for 2 × ttl after it was
   * last seen degraded. A restarted Redis has lost every lease, and its three connections come
   * back one by one: the KV one may answer (an empty presence) while pub/sub is still down, and
   * every other instance reconnects on its own backoff before it rewrites its leases (every
   * ttl/3). Judging leaves in that window made a restarted Redis announce `leave` for users who
   * never left (seen under CI load). Users who really left during the outage are still announced
   * once the grace is over.
   */
  const outageGraceMs = 2 * deps.ttlSec * 1000;
  let leaveGraceUntil = 0;
  function holdLeaves(): void {
    leaveGraceUntil = Math.max(leaveGraceUntil, clock.wallNow() + outageGraceMs);
  }
  const sweepTimer = clock.setInterval(() => {
    const healthy = store.health() === 'ok';
    if (!healthy) holdLeaves();
    storeUp.v = healthy ? 1 : 0;
    ensureControl();
    for (const channel of leases.local.keys()) {
      ensureSubscribed(channel);
      sweep(channel).catch(() => {});
    }
  }, Math.max(50, (deps.ttlSec * 1000) / 10));
  storeUp.v = store.health() === 'ok' ? 1 : 0;

  let control: Promise<(() => Promise<void>) | undefined> | undefined;
  const remoteClose = createRemoteClose({ store, registry, clock, instance });
  let quiet = false;
  function ensureControl(): void {
    if (control) return;
    control = store.pubsub
      .subscribe(CONTROL, (raw) => {
        remoteClose.onControl(JSON.parse(raw) as Wire);
      })
      .catch(() => {
        control = undefined; // retried by the sweep timer while the broker is down
        return undefined;
      });
  }
  ensureControl();

  return {
    channelName(template, params, claims) {
      return template.replace(/\{([A-Za-z0-9_.]+)\}/g, (_m, name: string) => {
        const v = name.startsWith('claims.') ? claims[name.slice(7)] : params[name];
        return String(v ?? '');
      });
    },

    join(session) {
      const channel = session.channel!;
      const user = session.userId ?? `anon:${session.id.slice(0, 8)}`;
      ensureSubscribed(channel);
      if (!session.route.presence) return;
      if (!snapshots.has(channel)) snapshots.set(channel, new Set());
      leases.add(channel, session.id, user);
      void (async () => {
        let users: PresenceUser[] | undefined;
        try {
          await leases.write(channel);
          if (!snapshots.get(channel)?.size) await sweep(channel); // first member here: learn who is already there
          users = await leases.users(channel);
          const first = (users.find((u) => u.user === user)?.connections ?? 0) <= 1;
          announce(channel, 'join', user);
          if (first) await publishWire(channel, { k: 'p', i: instance, e: 'join', from: user });
        } catch (err) {
          announce(channel, 'join', user);
          warn('presence_write_failed', err);
        }
        // The newcomer learns who is there (join/leave events are deltas from this snapshot).
        if (session.route.presenceEvents && session.state === 'open') {
          const snapshot = users ?? [...(snapshots.get(channel) ?? [])].map((u) => ({ user: u, connections: 1 }));
          session.sendToClient(JSON.stringify({ type: 'presence', channel, users: snapshot }), false);
        }
      })();
    },

    leave(session) {
      const channel = session.channel!;
      const user = session.userId ?? `anon:${session.id.slice(0, 8)}`;
      if (session.route.presence && quiet) {
        leases.remove(channel, session.id);
        if (!leases.local.has(channel)) leases.write(channel).catch(() => {});
      } else if (session.route.presence) {
        leases.remove(channel, session.id);
        void (async () => {
          try {
            await leases.write(channel);
            if ((await userCount(channel, user)) === 0) {
              announce(channel, 'leave', user);
              await publishWire(channel, { k: 'p', i: instance, e: 'leave', from: user });
            }
          } catch (err) {
            if (![...leases.local.get(channel)?.values() ?? []].includes(user)) announce(channel, 'leave', user);
            warn('presence_write_failed', err);
          }
        })();
      }
      if (members(channel).size === 0) {
        const sub = subs.get(channel);
        subs.delete(channel);
        snapshots.delete(channel);
        void sub?.then((unsub) => unsub?.()).catch(() => {});
      }
    },

    broadcast(session: Session, data: Payload, isBinary: boolean): void {
      const channel = session.channel!;
      const w: Wire = { k: 'm', i: instance, c: session.id, ...(session.userId !== undefined ? { from: session.userId } : {}) };
      if (isBinary) w.b = toBase64(typeof data === 'string' ? new TextEncoder().encode(data) : data);
      else w.d = typeof data === 'string' ? data : decoder.decode(data);
      deliver(channel, w);
      void publishWire(channel, w);
    },

    publish(channel: string, data: string): Promise<number> {
      const w: Wire = { k: 'm', i: instance, d: data };
      const local = deliver(channel, w);
      return (async () => {
        await store.pubsub.publish(topic(channel), JSON.stringify(w)).catch((err) => {
          warn('channel_publish_failed', err);
          throw err;
        });
        try {
          return (await leases.users(channel)).reduce((a, u) => a + u.connections, 0);
        } catch {
          return local;
        }
      })();
    },

    presence: (channel) => leases.users(channel),

    async closeRemote(connId, code, reason, waitMs = 2000) {
      const local = registry.byId.get(connId);
      if (local) {
        local.close(code, reason, 'admin');
        return true;
      }
      await control;
      return remoteClose.request(connId, code, reason, waitMs);
    },

    quiesce() {
      quiet = true;
    },

    async dispose() {
      clock.clearInterval(renewTimer);
      clock.clearInterval(sweepTimer);
      await leases.dispose();
      const all = [...subs.values(), ...(control ? [control] : [])];
      subs.clear();
      for (const p of all) await p.then((u) => u?.()).catch(() => {});
    },
  };
}
