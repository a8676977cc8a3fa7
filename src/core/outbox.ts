/**
 * The outage outbox: while the store is away, publishes from this instance (client broadcasts
 * and the publish API) wait here, in order, and are sent when it is back — so the other
 * instances get them late instead of never. Local members got them at once.
 *
 * Bounded by count and age (`OUTBOX_LIMITS`): a publish that finds it full is refused (the
 * publish API answers 503 `store_unavailable`), an entry older than the age limit is dropped at
 * flush time; either way the channel's first flushed message is preceded by a gap notice, so the
 * other instances tell their members that messages are missing. While anything waits, new
 * publishes queue behind it: per-publisher order holds.
 */
import type { Wire } from './channel-wire.ts';

export const OUTBOX_LIMITS = { maxMessages: 1000, maxAgeMs: 60_000 };
/** How long the store must be back before the outbox is sent (see broadcast.ts flush). */
export const OUTBOX_SETTLE_MS = 1500;

interface Entry {
  channel: string;
  w: Wire;
  at: number;
  /** Channels whose messages were refused (outbox full) right after this one. */
  lostAfter?: Set<string>;
}

export class Outbox {
  private readonly entries: Entry[] = [];
  /** Channels that lost messages (overflow or age) since their last flushed message. */
  private readonly lost = new Set<string>();
  private flushing = false;

  constructor(
    private readonly now: () => number,
    private readonly limits = OUTBOX_LIMITS,
  ) {}

  get size(): number {
    return this.entries.length;
  }

  /** Queue; false when full (the message is lost for the other instances). */
  push(channel: string, w: Wire): boolean {
    if (this.entries.length >= this.limits.maxMessages) {
      const last = this.entries.at(-1);
      if (last) (last.lostAfter ??= new Set()).add(channel);
      else this.lost.add(channel);
      return false;
    }
    this.entries.push({ channel, w, at: this.now() });
    return true;
  }

  /**
   * Send everything in order with `send`; stops at the first failure (kept for the next try).
   * `notice` tells a channel's other instances that messages were lost, before its next message.
   */
  async flush(send: (channel: string, w: Wire) => Promise<void>, notice: (channel: string) => Promise<void>): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.entries.length > 0) {
        const e = this.entries[0]!;
        if (this.now() - e.at > this.limits.maxAgeMs) {
          this.entries.shift();
          this.lost.add(e.channel);
          for (const c of e.lostAfter ?? []) this.lost.add(c);
          continue;
        }
        if (this.lost.has(e.channel)) {
          await notice(e.channel);
          this.lost.delete(e.channel);
        }
        await send(e.channel, e.w);
        this.entries.shift();
        for (const c of e.lostAfter ?? []) this.lost.add(c); // noticed before that channel's next message, or at the end
      }
      for (const channel of [...this.lost]) {
        await notice(channel);
        this.lost.delete(channel);
      }
    } catch {
      // The store went away again: the rest waits for the next flush.
    } finally {
      this.flushing = false;
    }
  }
}
