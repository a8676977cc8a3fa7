/**
 * One-shot per-connection deadlines (token expiry, maximum age) on one timer for the whole
 * gateway, instead of a Node Timeout, a callback closure and a cancel closure per connection
 * (~0.4 KB of heap each). Owners due at the same millisecond share a bucket; a binary min-heap
 * of bucket times arms the single timer for the earliest one. Adding is O(log n) in the number
 * of distinct deadlines, removing O(1) (an emptied bucket is dropped at once; its time stays in
 * the heap until it comes up, and the heap is rebuilt when such times outnumber live ones).
 *
 * Times are the clock's monotonic milliseconds, rounded up to whole ms so an owner never fires
 * early.
 */
import type { Clock } from './clock.ts';

export interface DeadlineOwner {
  /** Called once when the owner's deadline has passed (the owner may add a later one). */
  onDeadline(): void;
  /** Set by Deadlines: the bucket the owner is in (undefined when none). */
  deadlineAt?: number | undefined;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

export class Deadlines {
  private readonly buckets = new Map<number, Set<DeadlineOwner>>();
  private readonly heap: number[] = [];
  private timer: unknown;
  private timerAt = Infinity;

  constructor(private readonly clock: Clock) {}

  /** Call `owner.onDeadline()` once `ms` from now; replaces the owner's previous deadline. */
  add(owner: DeadlineOwner, ms: number): void {
    this.remove(owner);
    const at = Math.ceil(this.clock.now() + Math.max(0, ms));
    let bucket = this.buckets.get(at);
    if (!bucket) {
      this.buckets.set(at, (bucket = new Set()));
      this.push(at); // may duplicate a time whose bucket was dropped: the second pop finds nothing
    }
    bucket.add(owner);
    owner.deadlineAt = at;
    if (at < this.timerAt) this.arm();
  }

  remove(owner: DeadlineOwner): void {
    const at = owner.deadlineAt;
    if (at === undefined) return;
    owner.deadlineAt = undefined;
    const bucket = this.buckets.get(at);
    if (!bucket) return;
    bucket.delete(owner);
    if (bucket.size > 0) return;
    this.buckets.delete(at);
    // A wave of closed connections must not leave their times behind until they come due.
    if (this.heap.length > 64 && this.heap.length > 2 * this.buckets.size) this.rebuild();
    else if (at === this.timerAt) this.arm(); // the armed time is gone: arm for the next one, or none
  }

  private rebuild(): void {
    this.heap.length = 0;
    for (const at of [...this.buckets.keys()].sort((a, b) => a - b)) this.heap.push(at); // sorted is a valid heap
    this.arm();
  }

  /** Owners waiting (for tests and metrics). */
  get size(): number {
    let n = 0;
    for (const b of this.buckets.values()) n += b.size;
    return n;
  }

  private arm(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    // Times whose bucket is gone (every owner removed) are dropped here.
    while (this.heap.length > 0 && !this.buckets.has(this.heap[0]!)) this.pop();
    if (this.heap.length === 0) return;
    const at = this.heap[0]!;
    this.timerAt = at;
    this.timer = this.clock.setTimeout(() => this.fire(), Math.min(MAX_TIMER_MS, Math.max(0, at - this.clock.now())));
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.clock.now();
    while (this.heap.length > 0 && this.heap[0]! <= now) {
      const at = this.pop();
      const bucket = this.buckets.get(at);
      this.buckets.delete(at);
      for (const owner of bucket ?? []) {
        if (owner.deadlineAt !== at) continue;
        owner.deadlineAt = undefined;
        owner.onDeadline();
      }
    }
    this.arm();
  }

  private push(v: number): void {
    const h = this.heap;
    h.push(v);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]! <= v) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = v;
  }

  private pop(): number {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && h[r]! < h[l]! ? r : l;
        if (h[c]! >= last) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }

  dispose(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    this.buckets.clear();
    this.heap.length = 0;
  }
}
