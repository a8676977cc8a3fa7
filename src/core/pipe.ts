/**
 * One direction of a session's relay, named by the leg it ends at: what is sent to that leg, its
 * flow control (past the high-water mark the other pipe's leg is paused, and resumed when this
 * leg drains), its stall watch (nginx `send_timeout`), its heartbeat member, and whether the
 * leg's close has arrived. A Session owns two, `toClient` and `toUpstream` (none on hub routes),
 * and keeps the one close state machine; the pipe is also its leg's handlers, so events from a
 * leg reach the session without per-leg closures. On frame-relaying legs (Node's frame relay)
 * the legs forward data frames between themselves: the pipe reports each frame to the session
 * (`frame`) and checks the receiving leg's buffer after each write (`relayed`).
 *
 * A class with few fields on purpose: two live as long as each connection.
 */
import type { Clock } from './clock.ts';
import { isPassiveLeg, type HeartbeatMember } from './heartbeat.ts';
import type { Leg, LegHandlers, Payload } from './leg.ts';
import { StallWatch } from './stall.ts';

/** Relay buffers above this pause the other side (bytes). */
export const HIGH_WATER_BYTES = 1 << 20;

/** What a pipe needs from the session that owns it. */
export interface PipeOwner {
  readonly state: 'open' | 'closing' | 'closed';
  readonly route: { readonly maxBufferedBytes: number; readonly sendTimeoutMs: number };
  readonly clock: Clock;
  /** The pipe in the other direction (undefined on hub routes). */
  other(pipe: Pipe): Pipe | undefined;
  /** A message arrived from this pipe's leg. */
  received(from: Pipe, data: Payload, isBinary: boolean): void;
  /** Frame relay: a data frame from this pipe's leg, before it is forwarded; false drops it. */
  framed(from: Pipe, bytes: number, first: boolean): boolean;
  /** This pipe's leg sent or answered its close. */
  legClosed(from: Pipe, code: number, reason: string): void;
  /** This pipe's leg went over `maxBufferedBytes`, or made no progress for `sendTimeoutMs`. */
  overflowed(to: Pipe): void;
}

/** A message's size for the byte counters (a text message counts UTF-16 units, not bytes). */
export function payloadSize(data: Payload): number {
  return typeof data === 'string' ? data.length : data.byteLength;
}

export class Pipe implements LegHandlers {
  /** The leg's heartbeat member, when the route has heartbeats. */
  hb: HeartbeatMember | undefined = undefined;
  /** The leg's close arrived, or the leg was terminated. */
  closed = false;
  /** Reading from this leg is paused: the other pipe's leg is over the high-water mark. */
  private paused = false;
  /** Created on this leg's first backpressure, so idle connections pay nothing. */
  private stall: StallWatch | undefined = undefined;

  constructor(
    private readonly owner: PipeOwner,
    readonly leg: Leg,
  ) {}

  /**
   * Send onto this leg. `pausable` traffic (relayed from the other leg) pauses the other leg
   * while this one is over the high-water mark; other traffic (broadcasts, keepalives) only
   * counts against the cap. Past `maxBufferedBytes` the owner is told (it closes), never dropped.
   */
  send(data: Payload, isBinary: boolean, pausable: boolean): void {
    this.leg.send(data, isBinary);
    this.checkBuffer(pausable);
  }

  /** After bytes were written to this leg (by `send`, a broadcast, or the frame relay). */
  checkBuffer(pausable: boolean): void {
    if (this.owner.state !== 'open') return;
    const buffered = this.leg.bufferedAmount;
    if (buffered <= HIGH_WATER_BYTES) return;
    const { route } = this.owner;
    if (buffered > route.maxBufferedBytes) return this.owner.overflowed(this);
    if (pausable) this.owner.other(this)?.pause();
    if (route.sendTimeoutMs > 0)
      (this.stall ??= new StallWatch(
        this.owner.clock,
        route.sendTimeoutMs,
        () => this.leg.bufferedAmount,
        () => this.owner.overflowed(this),
      )).start();
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.leg.pause();
    if (this.hb) this.hb.suspended = true; // no traffic is expected from a paused leg
  }

  private resume(): void {
    this.paused = false;
    this.leg.resume();
    if (this.hb) this.hb.suspended = isPassiveLeg(this.leg);
  }

  /** Stop watching for a stall (the session is closing). */
  stop(): void {
    this.stall?.stop();
  }

  // ---- LegHandlers: events from this pipe's leg -----------------------------------------

  message(data: Payload, isBinary: boolean): void {
    this.owner.received(this, data, isBinary);
  }

  close(code: number, reason: string): void {
    this.owner.legClosed(this, code, reason);
  }

  pong(): void {
    if (this.hb) this.hb.rx = true;
  }

  drain(): void {
    this.stall?.stop();
    const other = this.owner.other(this);
    if (other?.paused && this.owner.state === 'open') other.resume();
  }

  frame(bytes: number, first: boolean): boolean {
    return this.owner.framed(this, bytes, first);
  }

  /** This leg's frames were written to the other leg: check that leg's buffer. */
  relayed(): void {
    this.owner.other(this)?.checkBuffer(true);
  }
}
