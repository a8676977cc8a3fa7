/**
 * One client connection after the upgrade: its upstream leg (none on hub routes), the relay in
 * both directions with flow control, heartbeats on both legs, token expiry and maximum age, and
 * the cleanup that leaves nothing behind (registry, timers, heartbeat, presence) however it ends.
 *
 * Each direction of the relay is a Pipe (pipe.ts): flow control (a leg past the high-water mark
 * pauses the other leg until it drains; unpausable traffic such as broadcasts is capped by
 * `maxBufferedBytes`, past it 4408; nothing is dropped silently), the stall watch and the
 * heartbeat member of the leg it ends at. Frame-aware legs (Node's frame relay) are paired at
 * start and forward data frames themselves; the session still counts and rate-limits each one
 * (`framed`). What stays here is what the directions do not share: rate limit, counters, hub
 * broadcast, broadcasts framed once (`sendShared`), close-code mapping, one close state machine.
 */
import { closeCodeOf, ERROR_TABLE, type ErrorCode } from '../errors.ts';
import type { ResolvedRoute } from '../routing/schema.ts';
import type { Clock } from './clock.ts';
import { clampReason, clientCloseToUpstream, isSendableCloseCode, upstreamCloseToClient } from './close-codes.ts';
import { legMember } from './heartbeat.ts';
import type { Recover } from './history.ts';
import type { Leg, Payload, SharedFrame } from './leg.ts';
import { Pipe, type PipeOwner, payloadSize } from './pipe.ts';
import { TokenBucket } from './rate-limit.ts';
import type { CloseCause, SessionCounters, SessionDeps, SessionInit } from './session-types.ts';

export { HIGH_WATER_BYTES } from './pipe.ts';
/** After a close frame, a peer that does not finish the close handshake is dropped (ms). */
export const CLOSE_TIMEOUT_MS = 3000;

export type { ChannelHooks, CloseCause, SessionCounters, SessionDeps, SessionInit } from './session-types.ts';

export class Session implements PipeOwner {
  readonly id: string;
  readonly route: ResolvedRoute;
  readonly userId: string | undefined;
  readonly channel: string | undefined;
  readonly recover: Recover | undefined;
  readonly openedAt: number;
  state: 'open' | 'closing' | 'closed' = 'open';
  /** The relay toward the client, and toward the upstream (none on hub routes). */
  readonly toClient: Pipe;
  readonly toUpstream: Pipe | undefined;

  private readonly deps: SessionDeps;
  private readonly c: SessionCounters;
  private readonly upstreamWhatwg: boolean;
  /** Monotonic ms at which the token expires (+ grace) / the connection is too old; -1: never. */
  private expiresAt = -1;
  private maxAgeAt = -1;
  /** @internal Set by Deadlines. */
  deadlineAt: number | undefined = undefined;
  private killTimer: unknown;
  private bucket: TokenBucket | undefined;

  constructor(init: SessionInit, deps: SessionDeps) {
    this.id = init.id;
    this.route = init.route;
    this.userId = init.userId;
    this.channel = init.channel;
    this.recover = init.recover;
    this.toClient = new Pipe(this, init.client);
    this.toUpstream = init.upstream ? new Pipe(this, init.upstream) : undefined;
    this.upstreamWhatwg = init.upstreamWhatwg ?? false;
    this.deps = deps;
    this.c = deps.counters;
    this.openedAt = Math.floor(deps.clock.now()); // a small integer, not a boxed double
    this.start(init);
  }

  get client(): Leg {
    return this.toClient.leg;
  }

  get upstream(): Leg | undefined {
    return this.toUpstream?.leg;
  }

  get clock(): Clock {
    return this.deps.clock;
  }

  private start(init: SessionInit): void {
    const { clock, registry } = this.deps;
    registry.add(this);
    this.c.open.v++;
    const hb = this.route.heartbeat;
    if (hb) {
      this.toClient.hb = legMember(this.client, this, 'client', hb.keepaliveMessage);
      this.deps.heartbeat.add(this.toClient.hb, hb.intervalMs, hb.timeoutMs);
      if (this.toUpstream) {
        this.toUpstream.hb = legMember(this.toUpstream.leg, this, 'upstream');
        this.deps.heartbeat.add(this.toUpstream.hb, hb.intervalMs, hb.timeoutMs);
      }
    }
    if (init.expiresAtMs !== undefined) this.expiresAt = Math.ceil(clock.now() + Math.max(0, init.expiresAtMs + init.expiryGraceMs - clock.wallNow()));
    if (this.route.maxConnectionAgeMs !== undefined) this.maxAgeAt = Math.ceil(this.openedAt + this.route.maxConnectionAgeMs);
    this.scheduleDeadline();
    if (this.route.maxMessagesPerSec !== undefined) this.bucket = new TokenBucket(this.route.maxMessagesPerSec, clock.now());
    if (this.channel !== undefined) this.deps.channels?.join(this);
    this.client.listen(this.toClient);
    if (!this.toUpstream) return;
    this.toUpstream.leg.listen(this.toUpstream);
    // Frame-aware legs relay frames between themselves; the session keeps counting and limiting.
    this.client.pair?.(this.toUpstream.leg);
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

  // ---- relay -----------------------------------------------------------------------------

  /** @internal */
  other(pipe: Pipe): Pipe | undefined {
    return pipe === this.toClient ? this.toUpstream : this.toClient;
  }

  /** @internal A message from a leg: the client's go upstream (or to the channel), the upstream's to the client. */
  received(from: Pipe, data: Payload, isBinary: boolean): void {
    if (this.state !== 'open') return;
    if (from.hb) from.hb.rx = true;
    if (from !== this.toClient) return this.sendToClient(data, isBinary, true);
    this.c.msgIn.v++;
    this.c.bytesIn.v += payloadSize(data);
    if (!this.withinRate()) return;
    if (this.toUpstream) this.toUpstream.send(data, isBinary, true);
    else this.deps.channels?.broadcast(this, data, isBinary);
  }

  /** @internal Frame relay: a data frame from a leg, before it is forwarded (false drops it). */
  framed(from: Pipe, bytes: number, first: boolean): boolean {
    if (this.state !== 'open') return true; // closing: the legs relay what precedes the closes
    if (from.hb) from.hb.rx = true;
    if (from !== this.toClient) {
      if (this.toClient.hb) this.toClient.hb.tx = true;
      this.c.bytesOut.v += bytes;
      if (first) this.c.msgOut.v++;
      return true;
    }
    this.c.bytesIn.v += bytes;
    if (!first) return true;
    this.c.msgIn.v++;
    return this.withinRate();
  }

  /** One client message against `maxMessagesPerSec`; over it the session fails (4429). */
  private withinRate(): boolean {
    if (!this.bucket || this.bucket.take(this.deps.clock.now())) return true;
    this.fail('rate_limited', 'limit');
    return false;
  }

  /**
   * Deliver a message to the client. `pausable` traffic (relayed from the upstream) pauses the
   * upstream under backpressure; other traffic (broadcasts) only counts against the buffer cap.
   */
  sendToClient(data: Payload, isBinary: boolean, pausable = false): void {
    if (this.state !== 'open') return;
    const to = this.toClient;
    if (to.hb) to.hb.tx = true;
    this.c.msgOut.v++;
    this.c.bytesOut.v += payloadSize(data);
    to.send(data, isBinary, pausable);
  }

  /** A broadcast: the same frame for every member (framed once where the runtime can). */
  sendShared(f: SharedFrame): void {
    if (this.state !== 'open') return;
    const to = this.toClient;
    if (to.hb) to.hb.tx = true;
    this.c.msgOut.v++;
    this.c.bytesOut.v += f.data.byteLength;
    if (to.leg.sendShared) to.leg.sendShared(f);
    else to.leg.send(f.data, f.isBinary);
    to.checkBuffer(false);
  }

  /** @internal A leg that stopped reading: a slow client gets 4408; a stuck upstream ends the session with 1014. */
  overflowed(to: Pipe): void {
    if (to === this.toClient) this.fail('slow_consumer', 'slow');
    else this.closeBoth(1014, 'Upstream is not reading', 1001, 'Gateway closing', 'upstream');
  }

  // ---- closing ---------------------------------------------------------------------------

  /** @internal A close from a leg: mapped (close-codes.ts) and passed to the other one. */
  legClosed(from: Pipe, code: number, reason: string): void {
    from.closed = true;
    if (this.state === 'open') {
      if (from === this.toClient) {
        const upCode = clientCloseToUpstream(code, this.upstreamWhatwg);
        this.closeBoth(undefined, '', upCode, upCode === code ? reason : 'Client closed', 'client', code);
      } else {
        const clientCode = upstreamCloseToClient(code);
        this.closeBoth(clientCode, clientCode === code || code === 1005 ? reason : 'Upstream connection lost', undefined, '', 'upstream');
      }
    }
    this.maybeDone();
  }

  /** @internal Called by the heartbeat scheduler. */
  onHeartbeatTimeout(leg: 'client' | 'upstream'): void {
    const dead = leg === 'client' ? this.toClient : this.toUpstream;
    if (leg === 'client') {
      this.c.hbClient.v++;
      // The client is gone: no point waiting for a close handshake.
      this.closeBoth(closeCodeOf('heartbeat_timeout'), ERROR_TABLE.heartbeat_timeout.message, 1001, 'Client heartbeat timeout', 'heartbeat');
    } else {
      this.c.hbUpstream.v++;
      this.closeBoth(1014, 'Upstream heartbeat timeout', undefined, '', 'heartbeat');
    }
    if (dead) {
      dead.leg.terminate();
      dead.closed = true;
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
    const { toClient, toUpstream } = this;
    if (!toClient.closed && clientCode !== undefined) {
      const code = isSendableCloseCode(clientCode) ? clientCode : 1011;
      toClient.leg.close(code, clampReason(clientReason));
    }
    if (toUpstream && !toUpstream.closed) {
      const code = clientCloseToUpstream(upstreamCode ?? 1001, this.upstreamWhatwg);
      toUpstream.leg.close(code, clampReason(upstreamReason));
    }
    this.cleanup(clientCode ?? receivedCode ?? 1005, cause);
    if (!this.bothClosed()) {
      this.killTimer = this.deps.clock.setTimeout(() => {
        for (const p of [toClient, toUpstream]) {
          if (p && !p.closed) p.leg.terminate();
          if (p) p.closed = true;
        }
        this.maybeDone();
      }, CLOSE_TIMEOUT_MS);
    }
  }

  private bothClosed(): boolean {
    return this.toClient.closed && (this.toUpstream === undefined || this.toUpstream.closed);
  }

  private cleanup(code: number, cause: CloseCause): void {
    this.deps.deadlines.remove(this);
    for (const p of [this.toClient, this.toUpstream]) {
      if (p?.hb) this.deps.heartbeat.remove(p.hb);
      p?.stop();
    }
    this.deps.registry.remove(this);
    if (this.channel !== undefined) this.deps.channels?.leave(this);
    this.c.open.v--;
    this.c.close(code, cause);
    this.deps.log.info('close', { conn: this.id, route: this.route.name, code, cause });
    this.deps.onEnd?.(this, code, cause);
  }

  private maybeDone(): void {
    if (this.state === 'closed') return;
    if (this.bothClosed()) {
      this.state = 'closed';
      if (this.killTimer !== undefined) this.deps.clock.clearTimeout(this.killTimer);
    }
  }
}
