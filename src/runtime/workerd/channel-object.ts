/**
 * The channel Durable Object (Worker side: store.ts): one object per channel holds that channel's presence and fans its
 * messages out, because a stateless Worker cannot hold a pub/sub subscription (issue 4, item 3).
 *
 * - Hub-route connections are handed to the channel's object (`/connect`, after the Worker did
 *   every handshake check and verified the token). The object accepts the socket with the
 *   hibernation API and runs the same core `Session` + `createChannels` as a Node instance, on an
 *   embedded memory store: every member of the channel is local to the object, so fan-out,
 *   join/leave, the JSON envelope and the delivered counts are those of Node by construction.
 * - The Worker side is a `Store` (`createDurableObjectStore`) whose KV and publish are routed to
 *   the object that owns the key's or topic's channel (`presence:<channel>:…`, `ch:<channel>`),
 *   so the `/_wsgate` channel API (presence, publish with its count) runs unchanged in the Worker.
 *
 * What does not carry over (README "Runtimes"): the `control` topic (closing a connection by id)
 * has no single owner, so it is refused; relay routes with a channel are refused at start-up (a
 * Worker relay session cannot receive channel messages). The object stays resident while it has
 * members (heartbeat and presence timers); when the last one leaves every timer is cleared so it
 * can be evicted. App-level pings from clients are auto-responded without waking it.
 */
import { createChannels, type Channels } from '../../core/channels.ts';
import { systemClock } from '../../core/clock.ts';
import { Deadlines } from '../../core/deadlines.ts';
import { APP_KEEPALIVE_MESSAGE, HeartbeatScheduler } from '../../core/heartbeat.ts';
import { Registry } from '../../core/registry.ts';
import { Session, type SessionCounters } from '../../core/session.ts';
import { createLogger, type Logger, type LogLevel } from '../../log.ts';
import { createGatewayMetrics } from '../../metrics.ts';
import type { ResolvedRoute } from '../../routing/schema.ts';
import { createMemoryStore } from '../../store/memory.ts';
import type { Store } from '../../store/types.ts';
import { createDurableHistory } from './durable-history.ts';
import type { Handoff } from './store.ts';
import { upgradeResponse, workerd, type DurableObjectState, type WorkerdWebSocket } from './types.ts';
import { APP_PONG, workerdLeg, type LegFeed } from './ws-leg.ts';

/**
 * A client may send the gateway's own app-level ping; the object answers it without waking
 * (`setWebSocketAutoResponse`) and counts it as liveness. It is never broadcast.
 */
export const AUTO_PING = APP_KEEPALIVE_MESSAGE;
export const AUTO_PONG = APP_PONG;

interface Hub {
  registry: Registry;
  heartbeat: HeartbeatScheduler;
  deadlines: Deadlines;
  channels: Channels;
  /** Turns auto-response timestamps into liveness; period follows the shortest heartbeat. */
  timer?: ReturnType<typeof setInterval>;
  pollMs: number;
}

const cell = () => ({ v: 0 });
function counters(): SessionCounters {
  return { msgIn: cell(), msgOut: cell(), bytesIn: cell(), bytesOut: cell(), open: cell(), hbClient: cell(), hbUpstream: cell(), close() {} };
}

/** The Durable Object class (binding `CHANNELS` in wrangler.toml). One instance per channel name. */
export class ChannelObject {
  private readonly store: Store;
  private readonly feeds = new Map<WorkerdWebSocket, { feed: LegFeed; pongAt: number }>();
  private readonly log: Logger;
  private readonly ttlSec: number;
  private hub: Hub | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly state: DurableObjectState,
    env: Record<string, unknown>,
  ) {
    // Every member of the channel is here: an in-memory store, except history, which is kept in
    // the object's storage so that it outlives an eviction.
    const memory = createMemoryStore();
    this.store = { ...memory, history: createDurableHistory(state.storage, memory.pubsub) };
    this.log = createLogger((env.LOG_LEVEL as LogLevel | undefined) ?? 'info');
    this.ttlSec = Number(env.PRESENCE_TTL_SEC) > 0 ? Number(env.PRESENCE_TTL_SEC) : 30;
    state.setWebSocketAutoResponse(new workerd.WebSocketRequestResponsePair(AUTO_PING, AUTO_PONG));
    // Sockets that outlived the object's memory (eviction) have no session: ask them to reconnect.
    for (const ws of state.getWebSockets()) ws.close(1012, 'Channel restarted, reconnect');
  }

  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const q = url.searchParams;
    const kv = this.store.kv;
    switch (`${request.method} ${url.pathname}`) {
      case 'GET /connect':
        return this.connect(JSON.parse(request.headers.get('x-wsgate-handoff') ?? '{}') as Handoff);
      case 'POST /publish':
        await this.store.pubsub.publish(q.get('topic') ?? '', await request.text());
        return new Response(null, { status: 204 });
      case 'POST /history/publish': {
        const opts = { size: Number(q.get('size')), ttlSec: Number(q.get('ttl')) };
        return Response.json(await this.store.history.publish(q.get('channel') ?? '', q.get('topic') ?? '', await request.text(), opts));
      }
      case 'GET /history/read':
        return Response.json(await this.store.history.read(q.get('channel') ?? '', Number(q.get('since')), q.get('epoch') || undefined, Number(q.get('limit'))));
      case 'GET /presence/members':
        return Response.json(await this.store.presence.members(q.get('channel') ?? ''));
      case 'GET /presence/count':
        return Response.json({ count: await this.store.presence.count(q.get('channel') ?? '') });
      case 'GET /kv/keys':
        return Response.json(await kv.getKeys(q.get('base') ?? ''));
      case 'GET /kv/item':
        return Response.json({ value: await kv.getItem(q.get('key') ?? '') });
      case 'PUT /kv/item': {
        const ttl = Number(q.get('ttl'));
        await kv.setItem(q.get('key') ?? '', await request.text(), ttl > 0 ? { ttl } : {});
        return new Response(null, { status: 204 });
      }
      case 'DELETE /kv/item':
        await kv.removeItem(q.get('key') ?? '');
        return new Response(null, { status: 204 });
    }
    return new Response('not found', { status: 404 });
  }

  private connect(h: Handoff): Response {
    const hub = this.ensureHub(h.route);
    const pair = new workerd.WebSocketPair();
    const client = pair[0];
    const server = pair[1];
    this.state.acceptWebSocket(server, [h.id]);
    const { leg, feed } = workerdLeg(server, {
      attach: false,
      maxPayload: h.route.maxMessageBytes,
      heartbeatFallback: 'app-keepalive',
      ...(h.protocol ? { protocol: h.protocol } : {}),
    });
    this.feeds.set(server, { feed, pongAt: 0 });
    this.pollAutoResponses(hub, h.route);
    new Session(
      {
        id: h.id,
        route: h.route,
        client: leg,
        ...(h.userId !== undefined ? { userId: h.userId } : {}),
        ...(h.recover ? { recover: h.recover } : {}),
        channel: h.channel,
        ...(h.expiresAtMs !== undefined ? { expiresAtMs: h.expiresAtMs } : {}),
        expiryGraceMs: h.expiryGraceMs,
      },
      { clock: systemClock, heartbeat: hub.heartbeat, deadlines: hub.deadlines, registry: hub.registry, log: this.log, channels: hub.channels, counters: counters(), onEnd: () => this.maybeIdle() },
    );
    this.log.info('open', { conn: h.id, route: h.route.name, sub: h.userId, channel: h.channel });
    return upgradeResponse(client, h.protocol);
  }

  // Hibernation API handlers: workerd calls these instead of socket event listeners.
  webSocketMessage(ws: WorkerdWebSocket, message: string | ArrayBuffer): void {
    const entry = this.feeds.get(ws);
    if (entry) entry.feed.message(message);
    else ws.close(1012, 'Channel restarted, reconnect');
  }

  webSocketClose(ws: WorkerdWebSocket, code: number, reason: string): void {
    this.feeds.get(ws)?.feed.close(code, reason);
    this.feeds.delete(ws);
  }

  webSocketError(ws: WorkerdWebSocket): void {
    this.feeds.get(ws)?.feed.close(1006, '');
    this.feeds.delete(ws);
  }

  private ensureHub(route: ResolvedRoute): Hub {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.hub) return this.hub;
    const registry = new Registry();
    const channels = createChannels({ store: this.store, registry, log: this.log, clock: systemClock, ttlSec: this.ttlSec, metrics: createGatewayMetrics(), routes: [route] });
    this.hub = { registry, heartbeat: new HeartbeatScheduler(systemClock), deadlines: new Deadlines(systemClock), channels, pollMs: Infinity };
    return this.hub;
  }

  /** Auto-responded pings never reach webSocketMessage: poll their timestamps into liveness. */
  private pollAutoResponses(hub: Hub, route: ResolvedRoute): void {
    if (!route.heartbeat) return;
    const ms = Math.max(100, Math.min(5000, Math.floor(Math.min(route.heartbeat.intervalMs, route.heartbeat.timeoutMs) / 4)));
    if (ms >= hub.pollMs) return;
    if (hub.timer !== undefined) clearInterval(hub.timer);
    hub.pollMs = ms;
    hub.timer = setInterval(() => {
      for (const [ws, entry] of this.feeds) {
        const at = this.state.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? 0;
        if (at > entry.pongAt) {
          entry.pongAt = at;
          entry.feed.alive();
        }
      }
    }, ms);
  }

  /** After the last member left (and its leave was announced), clear every timer. */
  private maybeIdle(): void {
    if (!this.hub || this.hub.registry.size > 0 || this.idleTimer !== undefined) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      const hub = this.hub;
      if (!hub || hub.registry.size > 0) return;
      this.hub = undefined;
      if (hub.timer !== undefined) clearInterval(hub.timer);
      hub.heartbeat.dispose();
      hub.deadlines.dispose();
      void hub.channels.dispose();
    }, 2000);
  }
}
