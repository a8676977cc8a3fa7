/**
 * Send timeout for a leg that is over the high-water mark — nginx's `send_timeout` semantics:
 * the peer is given up only when its send buffer made no progress for `ms` (checked every `ms`).
 * A slow but moving reader keeps its connection; one that stopped reading does not, so the
 * traffic paused on its account (an upstream, a client) is not held up forever.
 *
 * Created lazily, on a connection's first backpressure, so idle connections pay nothing.
 */
import type { Clock } from './clock.ts';

export class StallWatch {
  private timer: unknown;
  private last = 0;

  constructor(
    private readonly clock: Clock,
    private readonly ms: number,
    private readonly buffered: () => number,
    private readonly onStall: () => void,
  ) {}

  get armed(): boolean {
    return this.timer !== undefined;
  }

  /** Over the high-water mark: start watching (no-op while already watching). */
  start(): void {
    if (this.timer !== undefined) return;
    this.last = this.buffered();
    this.arm();
  }

  /** Drained: stop watching. */
  stop(): void {
    if (this.timer === undefined) return;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    this.timer = this.clock.setTimeout(() => this.check(), this.ms);
  }

  private check(): void {
    const now = this.buffered();
    if (now < this.last) {
      this.last = now;
      this.arm();
      return;
    }
    this.timer = undefined;
    this.onStall();
  }
}
