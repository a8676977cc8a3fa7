/**
 * One client connection after the upgrade: its upstream leg (none on hub routes), the relay in
 * both directions with flow control, heartbeats on both legs, token expiry and maximum age, and
 * the cleanup that leaves nothing behind (registry, timers, heartbeat, presence) however it ends.
 *
 * Flow control: when the receiving leg's send buffer passes the high-water mark, the sending leg
 * is paused (TCP backpressure reaches the peer) and resumed on drain. Traffic that cannot be
 * paused (channel broadcasts, keepalives) is bounded by `maxBufferedBytes`: past it the client
 * is closed with 4408. A leg whose buffer makes no progress for the route's
 * `sendTimeoutMs` while over the mark is given up (StallWatch). Nothing is ever dropped silently.
 *
 * Longer than 300 lines on purpose: relay, flow control and the close handshake share one
 * connection's state, and splitting them would spread that state over several files.
 */
import type { Recover } from './history.ts';
import { closeCodeOf, ERROR_TABLE, type ErrorCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Cell } from '../metrics.ts';
import type { ResolvedRoute } from '../routing/schema.ts';
import type { Clock } from './clock.ts';
import { clampReason, clientCloseToUpstream, isSendableCloseCode, upstreamCloseToClient } from './close-codes.ts';
import { isPassiveLeg, legMember, type HeartbeatMember, type HeartbeatScheduler } from './heartbeat.ts';
import type { Leg, LegHandlers, Payload, SharedFrame } from './leg.ts';
import { TokenBucket } from './rate-limit.ts';
import { StallWatch } from './stall.ts';
import type { Deadlines } from './deadlines.ts';
import type { Registry } from './registry.ts';

/** Relay buffers above this pause the other side (bytes). */
export const HIGH_WATER_BYTES = 1 << 20;
/** After a close frame, a peer that does not finish the close handshake is dropped (ms). */
export const CLOSE_TIMEOUT_MS = 3000;

export type CloseCause = 'client' | 'upstream' | 'auth' | 'limit' | 'slow' | 'heartbeat' | 'drain' | 'admin' | 'age' | 'error';

/** Channel membership and fan-out, provided by core/channels.ts when a route has a channel. */
export interface ChannelHooks {
  join(session: Session): void;
  leave(session: Session): void;
  /** A client message on a hub route: to every member on every instance. */
  broadcast(session: Session, data: Payload, isBinary: boolean): void;
}

export interface SessionDeps {
  clock: Clock;
  heartbeat: HeartbeatScheduler;
  /** Token expiry and maximum age, on one timer per gateway. */
  deadlines: Deadlines;
  registry: Registry;
  log: Logger;
  channels?: ChannelHooks;
  counters: SessionCounters;
  /** Called once when the session is fully cleaned up. */
  onEnd?(session: Session, code: number, cause: CloseCause): void;
}

/** Pre-resolved metric cells for this route (no label lookups per message). */
export interface SessionCounters {
  msgIn: Cell;
  msgOut: Cell;
  bytesIn: Cell;
  bytesOut: Cell;
  open: Cell;
  hbClient: Cell;
  hbUpstream: Cell;
  close(code: number, cause: CloseCause): void;
}

export interface SessionInit {
  id: string;
  route: ResolvedRoute;
  client: Leg;
  upstream?: Leg;
  /** Whether the upstream leg only accepts WHATWG client close codes (1000, 3000–4999). */
  upstreamWhatwg?: boolean;
  userId?: string;
  channel?: string;
  /** History routes: the position the client asked to resume from (`?since=&epoch=`). */
  recover?: Recover;
  /** Token expiry, epoch ms. */
  expiresAtMs?: number;
  expiryGraceMs: number;
}

function size(data: Payload): number {
  return typeof data === 'string' ? data.length : data.byteLength;
}

export class Session {
  readonly id: string;
  readonly route: ResolvedRoute;
  readonly userId: string | undefined;
  readonly channel: string | undefined;
  readonly recover: Recover | undefined;
  readonly client: Leg;
  readonly upstream: Leg | undefined;
  readonly openedAt: number;
  state: 'open' | 'closing' | 'closed' = 'open';

  private readonly deps: SessionDeps;
  private readonly c: SessionCounters;
  private readonly upstreamWhatwg: boolean;
  /** @internal */ clientHb: HeartbeatMember | undefined;
  /** @internal */ upstreamHb: HeartbeatMember | undefined;
  /** Monotonic ms at which the token expires (+ grace) / the connection is too old; -1: never. */
  private expiresAt = -1;
  private maxAgeAt = -1;
  /** @internal Set by Deadlines. */
  deadlineAt: number | undefined = undefined;
  private clientClosed = false;
  private upstreamClosed = false;
  private killTimer: unknown;
  private upstreamPaused = false;
  private clientPaused = false;
  private bucket: TokenBucket | undefined;
  /** Lazily created on the first backpressure in each direction. */
  private clientStall: StallWatch | undefined;
  private upstreamStall: StallWatch | undefined;

  constructor(init: SessionInit, deps: SessionDeps) {
    this.id = init.id;
    this.route = init.route;
    this.userId = init.userId;
    this.channel = init.channel;
    this.recover = init.recover;
    this.client = init.client;
    this.upstream = init.upstream;
    this.upstreamWhatwg = init.upstreamWhatwg ?? false;
    this.deps = deps;
    this.c = deps.counters;
    this.openedAt = Math.floor(deps.clock.now()); // a small integer, not a boxed double
    this.start(init);
  }

  private start(init: SessionInit): void {
    const { clock, registry } = this.deps;
    registry.add(this);
    this.c.open.v++;
    const hb = this.route.heartbeat;
    if (hb) {
      this.clientHb = legMember(this.client, this, 'client', hb.keepaliveMessage);
      this.deps.heartbeat.add(this.clientHb, hb.intervalMs, hb.timeoutMs);
      if (this.upstream) {
        this.upstreamHb = legMember(this.upstream, this, 'upstream');
        this.deps.heartbeat.add(this.upstreamHb, hb.intervalMs, hb.timeoutMs);
      }
    }
    if (init.expiresAtMs !== undefined)
      this.expiresAt = Math.ceil(clock.now() + Math.max(0, init.expiresAtMs + init.expiryGraceMs - clock.wallNow()));
    if (this.route.maxConnectionAgeMs !== undefined) this.maxAgeAt = Math.ceil(this.openedAt + this.route.maxConnectionAgeMs);
    this.scheduleDeadline();
    if (this.route.maxMessagesPerSec !== undefined) this.bucket = new TokenBucket(this.route.maxMessagesPerSec, clock.now());
    if (this.channel !== undefined) this.deps.channels?.join(this);
    this.client.listen(new ClientHandlers(this));
    this.upstream?.listen(new UpstreamHandlers(this));
    // Frame-aware legs relay frames between themselves; the session keeps counting and limiting.
    if (this.upstream) this.client.pair?.(this.upstream);
  }

  /** One entry in the gateway-wide deadline timer for the earlier of expiry and maximum age. */
  private scheduleDeadline(): void {
    const at = this.expiresAt < 0 ? this.maxAgeAt : this.maxAgeAt < 0 ? this.expiresAt : Math.min(this.expiresAt, this.maxAgeAt);
    if (at >= 0) this.deps.deadlines.add(this, at - this.deps.clock.now());
  }

  /** @internal Called by Deadlines. */
  onDeadline(): void {
    if (this.state !== 'open') return;
    const now = this.deps.clock.now();
    if (this.expiresAt >= 0 && now >= this.expiresAt) this.fail('token_expired', 'auth');
    else if (this.maxAgeAt >= 0 && now >= this.maxAgeAt) this.fail('max_age', 'age');
    else this.scheduleDeadline();
  }

  // ---- client -> upstream / channel ------------------------------------------------------

  /** @internal */
  onClientMessage(data: Payload, isBinary: boolean): void {
    if (this.state !== 'open') return;
    if (this.clientHb) this.clientHb.rx = true;
    this.c.msgIn.v++;
    this.c.bytesIn.v += size(data);
    if (this.bucket && !this.bucket.take(this.deps.clock.now())) return this.fail('rate_limited', 'limit');
    const up = this.upstream;
    if (!up) {
      this.deps.channels?.broadcast(this, data, isBinary);
      return;
    }
    up.send(data, isBinary);
    this.checkUpstreamBuffer();
  }

  /** @internal Frame path: a data frame from the client, before the leg forwards it. */
  onClientFrame(bytes: number, first: boolean): boolean {
    if (this.state !== 'open') return true; // closing: the legs relay what precedes the closes
    if (this.clientHb) this.clientHb.rx = true;
    this.c.bytesIn.v += bytes;
    if (!first) return true;
    this.c.msgIn.v++;
    if (this.bucket && !this.bucket.take(this.deps.clock.now())) {
      this.fail('rate_limited', 'limit');
      return false;
    }
    return true;
  }

  /** @internal Frame path: a data frame from the upstream, before the leg forwards it. */
  onUpstreamFrame(bytes: number, first: boolean): boolean {
    if (this.state !== 'open') return true;
    if (this.upstreamHb) this.upstreamHb.rx = true;
    if (this.clientHb) this.clientHb.tx = true;
    this.c.bytesOut.v += bytes;
    if (first) this.c.msgOut.v++;
    return true;
  }

  /** @internal After bytes were written to the upstream: pause the client over the high-water mark. */
  checkUpstreamBuffer(): void {
    const up = this.upstream;
    if (!up || this.state !== 'open') return;
    const buffered = up.bufferedAmount;
    if (buffered <= HIGH_WATER_BYTES) return;
    if (buffered > this.route.maxBufferedBytes) return this.upstreamNotReading();
    if (!this.clientPaused) {
      this.clientPaused = true;
      this.client.pause();
      if (this.clientHb) this.clientHb.suspended = true;
    }
    if (this.route.sendTimeoutMs > 0)
      (this.upstreamStall ??= this.stallWatch(up, () => this.upstreamNotReading())).start();
  }

  private upstreamNotReading(): void {
    this.closeBoth(1014, 'Upstream is not reading', 1001, 'Gateway closing', 'upstream');
  }

  private stallWatch(leg: Leg, onStall: () => void): StallWatch {
    return new StallWatch(this.deps.clock, this.route.sendTimeoutMs, () => leg.bufferedAmount, onStall);
  }

  /** @internal */
  onUpstreamDrain(): void {
    this.upstreamStall?.stop();
    if (!this.clientPaused || this.state !== 'open') return;
    this.clientPaused = false;
    this.client.resume();
    if (this.clientHb) this.clientHb.suspended = isPassiveLeg(this.client);
  }

  // ---- upstream / channel -> client ------------------------------------------------------

  /** @internal */
  onUpstreamMessage(data: Payload, isBinary: boolean): void {
    if (this.state !== 'open') return;
    if (this.upstreamHb) this.upstreamHb.rx = true;
    this.sendToClient(data, isBinary, true);
  }

  /**
   * Deliver a message to the client. `pausable` traffic (relayed from the upstream) pauses the
   * upstream under backpressure; other traffic (broadcasts) only counts against the buffer cap.
   */
  sendToClient(data: Payload, isBinary: boolean, pausable = false): void {
    if (this.state !== 'open') return;
    this.client.send(data, isBinary);
    this.sent(size(data), pausable);
  }

  /** A broadcast: the same frame for every member (framed once where the runtime can). */
  sendShared(f: SharedFrame): void {
    if (this.state !== 'open') return;
    if (this.client.sendShared) this.client.sendShared(f);
    else this.client.send(f.data, f.isBinary);
    this.sent(f.data.byteLength, false);
  }

  /** Accounting and the per-connection buffer cap, after every send to the client. */
  private sent(bytes: number, pausable: boolean): void {
    if (this.clientHb) this.clientHb.tx = true;
    this.c.msgOut.v++;
    this.c.bytesOut.v += bytes;
    this.checkClientBuffer(pausable);
  }

  /** @internal After bytes were written to the client: pause the upstream over the high-water mark. */
  checkClientBuffer(pausable: boolean): void {
    if (this.state !== 'open') return;
    const buffered = this.client.bufferedAmount;
    if (buffered <= HIGH_WATER_BYTES) return;
    if (buffered > this.route.maxBufferedBytes) return this.fail('slow_consumer', 'slow');
    if (pausable && this.upstream && !this.upstreamPaused) {
      this.upstreamPaused = true;
      this.upstream.pause();
      if (this.upstreamHb) this.upstreamHb.suspended = true;
    }
    if (this.route.sendTimeoutMs > 0)
      (this.clientStall ??= this.stallWatch(this.client, () => this.fail('slow_consumer', 'slow'))).start();
  }

  /** @internal */
  onClientDrain(): void {
    this.clientStall?.stop();
    if (!this.upstreamPaused || this.state !== 'open') return;
    this.upstreamPaused = false;
    this.upstream?.resume();
    if (this.upstreamHb && this.upstream) this.upstreamHb.suspended = isPassiveLeg(this.upstream);
  }

  // ---- closing ---------------------------------------------------------------------------

  /** @internal */
  onClientClose(code: number, reason: string): void {
    this.clientClosed = true;
    if (this.state === 'open') {
      const upCode = clientCloseToUpstream(code, this.upstreamWhatwg);
      this.closeBoth(undefined, '', upCode, upCode === code ? reason : 'Client closed', 'client', code);
    }
    this.maybeDone();
  }

  /** @internal */
  onUpstreamClose(code: number, reason: string): void {
    this.upstreamClosed = true;
    if (this.state === 'open') {
      const clientCode = upstreamCloseToClient(code);
      this.closeBoth(clientCode, clientCode === code || code === 1005 ? reason : 'Upstream connection lost', undefined, '', 'upstream');
    }
    this.maybeDone();
  }

  /** @internal Called by the heartbeat scheduler. */
  onHeartbeatTimeout(leg: 'client' | 'upstream'): void {
    if (leg === 'client') {
      this.c.hbClient.v++;
      // The client is gone: no point waiting for a close handshake.
      this.closeBoth(closeCodeOf('heartbeat_timeout'), ERROR_TABLE.heartbeat_timeout.message, 1001, 'Client heartbeat timeout', 'heartbeat');
      this.client.terminate();
      this.clientClosed = true;
    } else {
      this.c.hbUpstream.v++;
      this.closeBoth(1014, 'Upstream heartbeat timeout', undefined, '', 'heartbeat');
      this.upstream?.terminate();
      this.upstreamClosed = true;
    }
    this.maybeDone();
  }

  /** Close for a gateway reason from the error table; the upstream gets 1001 (or 1000). */
  fail(code: ErrorCode, cause: CloseCause, reason?: string): void {
    this.closeBoth(closeCodeOf(code), reason ?? ERROR_TABLE[code].message, 1001, 'Gateway closing', cause);
  }

  /** Close with an explicit code (admin API, drain). */
  close(code: number, reason: string, cause: CloseCause): void {
    this.closeBoth(code, reason, 1001, 'Gateway closing', cause);
  }

  /**
   * Start closing: send close frames to the legs still open, run cleanup once, and drop legs
   * that do not finish the close handshake within CLOSE_TIMEOUT_MS.
   */
  private closeBoth(
    clientCode: number | undefined,
    clientReason: string,
    upstreamCode: number | undefined,
    upstreamReason: string,
    cause: CloseCause,
    receivedCode?: number,
  ): void {
    if (this.state !== 'open') return;
    this.state = 'closing';
    if (!this.clientClosed && clientCode !== undefined) {
      const code = isSendableCloseCode(clientCode) ? clientCode : 1011;
      this.client.close(code, clampReason(clientReason));
    }
    if (this.upstream && !this.upstreamClosed) {
      const code = clientCloseToUpstream(upstreamCode ?? 1001, this.upstreamWhatwg);
      this.upstream.close(code, clampReason(upstreamReason));
    }
    this.cleanup(clientCode ?? receivedCode ?? 1005, cause);
    if (!this.clientClosed || (this.upstream && !this.upstreamClosed)) {
      this.killTimer = this.deps.clock.setTimeout(() => {
        if (!this.clientClosed) this.client.terminate();
        if (this.upstream && !this.upstreamClosed) this.upstream.terminate();
        this.clientClosed = this.upstreamClosed = true;
        this.maybeDone();
      }, CLOSE_TIMEOUT_MS);
    }
  }

  private cleanup(code: number, cause: CloseCause): void {
    this.deps.deadlines.remove(this);
    if (this.clientHb) this.deps.heartbeat.remove(this.clientHb);
    if (this.upstreamHb) this.deps.heartbeat.remove(this.upstreamHb);
    this.clientStall?.stop();
    this.upstreamStall?.stop();
    this.deps.registry.remove(this);
    if (this.channel !== undefined) this.deps.channels?.leave(this);
    this.c.open.v--;
    this.c.close(code, cause);
    this.deps.log.info('close', { conn: this.id, route: this.route.name, code, cause });
    this.deps.onEnd?.(this, code, cause);
  }

  private maybeDone(): void {
    if (this.state === 'closed') return;
    if (this.clientClosed && (!this.upstream || this.upstreamClosed)) {
      this.state = 'closed';
      if (this.killTimer !== undefined) this.deps.clock.clearTimeout(this.killTimer);
    }
  }
}

/**
 * Leg handlers as small classes (prototype methods) rather than four closures per leg: they
 * live as long as the connection, so their size is per-connection memory.
 */
class ClientHandlers implements LegHandlers {
  constructor(private readonly s: Session) {}
  message(data: Payload, isBinary: boolean): void {
    this.s.onClientMessage(data, isBinary);
  }
  close(code: number, reason: string): void {
    this.s.onClientClose(code, reason);
  }
  pong(): void {
    if (this.s.clientHb) this.s.clientHb.rx = true;
  }
  drain(): void {
    this.s.onClientDrain();
  }
  frame(bytes: number, first: boolean): boolean {
    return this.s.onClientFrame(bytes, first);
  }
  relayed(): void {
    this.s.checkUpstreamBuffer();
  }
}

class UpstreamHandlers implements LegHandlers {
  constructor(private readonly s: Session) {}
  message(data: Payload, isBinary: boolean): void {
    this.s.onUpstreamMessage(data, isBinary);
  }
  close(code: number, reason: string): void {
    this.s.onUpstreamClose(code, reason);
  }
  pong(): void {
    if (this.s.upstreamHb) this.s.upstreamHb.rx = true;
  }
  drain(): void {
    this.s.onUpstreamDrain();
  }
  frame(bytes: number, first: boolean): boolean {
    return this.s.onUpstreamFrame(bytes, first);
  }
  relayed(): void {
    this.s.checkClientBuffer(true);
  }
}
