/**
 * Broadcast: channel messages to local members and, over the store's pub/sub, to the members on
 * other instances (which skip their own), plus the `control` topic (close a connection wherever
 * it is). A message is delivered locally at once and published for the others, so local
 * delivery keeps working while the broker is down.
 *
 * One subscription per channel with local members (topic `ch:<channel>`); presence deltas travel
 * on the same topic and are handed to `onPresence`. After a broker outage members get
 * `{"type":"gap","channel"}`: messages may have been lost.
 */
import { GatewayError } from '../errors.ts';
import { ChannelHistory } from './history.ts';
import { Outbox, OUTBOX_SETTLE_MS } from './outbox.ts';
import type { Broadcast, BroadcastDeps, Published } from './broadcast-types.ts';
import type { SharedFrame } from './leg.ts';
import type { Session } from './session.ts';
import { createRemoteClose } from './remote-close.ts';
import { CONTROL, decoder, encoder, fromBase64, toBase64, topic, type Wire } from './channel-wire.ts';

export type { Broadcast, BroadcastDeps, Published } from './broadcast-types.ts';

export function createBroadcast(deps: BroadcastDeps): Broadcast {
  const { store, registry, instance, log } = deps;
  const subs = new Map<string, Promise<(() => Promise<void>) | undefined>>();
  const delivered = deps.metrics.broadcasts.cell();
  const warn = (event: string, err: unknown) => log.warn(event, { error: String((err as Error)?.message ?? err) });
  const members = (channel: string) => registry.inChannel(channel);

  /**
   * Fan a message out to local members. Each distinct payload is built and UTF-8 encoded once
   * (not once per member): with 10k members the per-member cost is only the send.
   */
  function deliver(channel: string, w: Wire): number {
    // Flushed from our outbox: our members had it when it was published.
    if (w.q === 1 && w.i === instance) return 0;
    let n = 0;
    const f = frames(channel, w);
    const held = history.recovering.size > 0 ? history.recovering : undefined;
    for (const s of members(channel)) {
      if (w.c === s.id && !s.route.echo) continue;
      const h = held?.get(s);
      if (h) h.push(w);
      else sendFrame(s, f);
      n++;
    }
    delivered.v += n;
    return n;
  }

  /** The three renderings of a message, each built (and framed, see SharedFrame) once, on first use. */
  function frames(channel: string, w: Wire) {
    let envelope: SharedFrame | undefined;
    let raw: SharedFrame | undefined;
    let binary: SharedFrame | undefined;
    return {
      binary: w.b !== undefined ? () => (binary ??= { data: fromBase64(w.b!), isBinary: true }) : undefined,
      raw: () => (raw ??= { data: encoder.encode(w.d ?? ''), isBinary: false }),
      envelope: () =>
        (envelope ??= {
          data: encoder.encode(JSON.stringify({ type: 'message', channel, from: w.from ?? null, data: w.d, ...(w.o !== undefined ? { offset: w.o, epoch: w.ep } : {}) })),
          isBinary: false,
        }),
    };
  }
  function sendFrame(s: Session, f: ReturnType<typeof frames>): void {
    if (f.binary) s.sendShared(f.binary());
    else if (s.route.upstreams.length > 0) s.sendShared(f.raw());
    else s.sendShared(f.envelope());
  }

  const history = new ChannelHistory({
    history: store.history,
    deliver: (channel, w) => void deliver(channel, w),
    deliverTo: (channel, w, s) => sendFrame(s, frames(channel, w)),
    members,
    warn,
  });

  function onWire(channel: string, raw: string): void {
    let w: Wire;
    try {
      w = JSON.parse(raw) as Wire;
    } catch {
      return;
    }
    // History messages come back to their publisher too: every instance delivers in offset order.
    if (w.o !== undefined && w.k === 'm') return history.onMessage(channel, w);
    if (w.i === instance) return;
    if (w.k === 'm') deliver(channel, w);
    else if (w.k === 'g') sendGap(channel); // another instance's outbox lost messages
    else if (w.k === 'p') deps.onPresence(channel, w);
  }

  function onGap(channel: string): void {
    if (deps.historyOf(channel)) {
      history.onBrokerGap(channel); // read back what pub/sub dropped; `gap` only if history lost it
      return deps.onGap(channel);
    }
    sendGap(channel);
    deps.onGap(channel);
  }

  function sendGap(channel: string): void {
    for (const s of members(channel))
      if (s.route.upstreams.length === 0 || s.route.presenceEvents) s.sendToClient(JSON.stringify({ type: 'gap', channel }), false);
  }

  function subscribe(channel: string): Promise<void> {
    let p = subs.get(channel);
    if (!p) {
      p = store.pubsub
        .subscribe(topic(channel), (m) => onWire(channel, m), () => onGap(channel))
        .catch((err) => {
          if (subs.get(channel) === p) subs.delete(channel);
          warn('channel_subscribe_failed', err);
          return undefined;
        });
      subs.set(channel, p);
      if (deps.historyOf(channel)) void p.then(() => history.start(channel));
    }
    return p.then(() => undefined);
  }

  const outbox = deps.outbox ?? new Outbox(deps.clock.now);
  let flushTimer: unknown;

  /**
   * Publish for the other instances. History channels: stamped and fanned out by the store,
   * delivered here when it comes back. While the store is away (or anything waits in the
   * outbox, to keep order): delivered here at once and queued.
   */
  async function publishMessage(channel: string, w: Wire): Promise<Published> {
    const opts = deps.historyOf(channel);
    if (outbox.size > 0 || store.health() !== 'ok') return queue(channel, w, true);
    if (!opts) {
      deliver(channel, w);
      try {
        await store.pubsub.publish(topic(channel), JSON.stringify(w));
        return {};
      } catch {
        return queue(channel, w, false);
      }
    }
    try {
      return await store.history.publish(channel, topic(channel), JSON.stringify(w), opts);
    } catch {
      return queue(channel, w, true);
    }
  }

  function queue(channel: string, w: Wire, deliverHere: boolean): Published {
    if (deliverHere) deliver(channel, w);
    w.q = 1;
    flushTimer ??= deps.clock.setInterval(flush, 100);
    if (!outbox.push(channel, w)) throw new GatewayError('store_unavailable', 'The outage outbox is full: delivered on this instance only');
    return { queued: true };
  }

  /**
   * Flush once the store has been back for OUTBOX_SETTLE_MS: the other instances reconnect on
   * their own backoff (capped at 1 s) and resubscribe; pub/sub delivers only to subscriptions
   * already in place, so flushing at the first instant would lose the outbox for them.
   */
  let healthySince: number | undefined;
  function flush(): void {
    if (store.health() !== 'ok') return void (healthySince = undefined);
    healthySince ??= deps.clock.now();
    if (deps.clock.now() - healthySince < OUTBOX_SETTLE_MS) return;
    void outbox
      .flush(
        async (channel, w) => {
          const opts = deps.historyOf(channel);
          if (opts) await store.history.publish(channel, topic(channel), JSON.stringify(w), opts);
          else await store.pubsub.publish(topic(channel), JSON.stringify(w));
        },
        (channel) => store.pubsub.publish(topic(channel), JSON.stringify({ k: 'g', i: instance } satisfies Wire)),
      )
      .then(() => {
        if (outbox.size > 0 || flushTimer === undefined) return;
        deps.clock.clearInterval(flushTimer);
        flushTimer = undefined;
        healthySince = undefined;
      });
  }

  async function send(channel: string, w: Wire): Promise<void> {
    try {
      await store.pubsub.publish(topic(channel), JSON.stringify(w));
    } catch (err) {
      warn('channel_publish_failed', err);
    }
  }

  let control: Promise<(() => Promise<void>) | undefined> | undefined;
  const remoteClose = createRemoteClose({ store, registry, clock: deps.clock, instance });
  function ensureControl(): void {
    if (control) return;
    control = store.pubsub
      .subscribe(CONTROL, (raw) => remoteClose.onControl(JSON.parse(raw) as Wire))
      .catch(() => {
        control = undefined; // retried by maintain() while the broker is down
        return undefined;
      });
  }
  ensureControl();

  return {
    subscribe,
    send,
    release(channel) {
      history.stop(channel);
      const sub = subs.get(channel);
      subs.delete(channel);
      void sub?.then((unsub) => unsub?.()).catch(() => {});
    },
    fromClient(session, data, isBinary) {
      const channel = session.channel!;
      const w: Wire = { k: 'm', i: instance, c: session.id, ...(session.userId !== undefined ? { from: session.userId } : {}) };
      if (isBinary) w.b = toBase64(typeof data === 'string' ? encoder.encode(data) : data);
      else w.d = typeof data === 'string' ? data : decoder.decode(data);
      publishMessage(channel, w).catch((err) => warn('channel_publish_failed', err));
    },
    async publish(channel, data) {
      return publishMessage(channel, { k: 'm', i: instance, d: data }).catch((err) => {
        warn('channel_publish_failed', err);
        throw err;
      });
    },
    joined(session, recover) {
      if (deps.historyOf(session.channel!)) void history.join(session.channel!, session, recover).catch((err) => warn('history_join_failed', err));
    },
    async closeRemote(connId, code, reason, waitMs = 2000) {
      const local = registry.get(connId);
      if (local) {
        local.close(code, reason, 'admin');
        return true;
      }
      await control;
      return remoteClose.request(connId, code, reason, waitMs);
    },
    maintain(channels) {
      ensureControl();
      for (const channel of channels) void subscribe(channel);
    },
    async dispose() {
      if (flushTimer !== undefined) deps.clock.clearInterval(flushTimer);
      const all = [...subs.values(), ...(control ? [control] : [])];
      subs.clear();
      for (const p of all) await p.then((u) => u?.()).catch(() => {});
    },
  };
}
