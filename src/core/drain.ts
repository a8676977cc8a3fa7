/**
 * Closing every open connection within a window, with a hard deadline that holds whatever the
 * number and kind of connections: closes run in small batches (the share due by now), each batch
 * within a CPU budget, yielding between batches so timers — the process's own hard exit among
 * them — keep firing. Connections still open at the deadline are closed without waiting.
 */
import type { Clock } from './clock.ts';
import type { Registry } from './registry.ts';

export interface DrainInput {
  registry: Registry;
  clock: Clock;
  /** Handshakes still in progress (they end with 503 or a close on their own). */
  inFlight(): number;
  windowMs: number;
  deadlineMs: number;
}

const TICK_MS = 20;
/** Longest run of closes without yielding. */
const BUDGET_MS = 8;

const REASON = 'Gateway is shutting down';

export async function drainSessions({ registry, clock, inFlight, windowMs, deadlineMs }: DrainInput): Promise<void> {
  const sessions = registry.all();
  const started = clock.now();
  const yieldNow = () => new Promise<void>((r) => clock.setTimeout(r, TICK_MS));
  let next = 0;
  for (;;) {
    const elapsed = clock.now() - started;
    if (elapsed >= deadlineMs || (registry.size === 0 && inFlight() === 0 && next >= sessions.length)) break;
    // Connection i is due at i × window / n: the first at once, none later than the window.
    const n = sessions.length;
    const due = windowMs <= 0 ? n : Math.min(n, Math.floor((n * elapsed) / windowMs) + 1);
    const budgetEnd = performance.now() + BUDGET_MS;
    while (next < due && performance.now() < budgetEnd) sessions[next++]!.close(1001, REASON, 'drain');
    await yieldNow();
  }
  // The deadline: whatever is left is closed now, still in budgeted batches.
  const rest = registry.all();
  for (let i = 0; i < rest.length; ) {
    const budgetEnd = performance.now() + BUDGET_MS;
    while (i < rest.length && performance.now() < budgetEnd) rest[i++]!.close(1001, REASON, 'drain');
    if (i < rest.length) await new Promise<void>((r) => clock.setTimeout(r, 0));
  }
}
