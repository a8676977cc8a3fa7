/**
 * How long to wait for a child process (gateway, runtime, tool) to become ready: not a fixed
 * guess, but a bound scaled by what this machine measures now. A bare `node -e 0` is timed (at
 * most once every 30 s per test worker); a loaded machine (other jobs, CPU burners) starts it
 * slower, and the bound grows with it. Callers poll for the real condition and return as soon as
 * it holds, so a generous bound costs nothing when things go well.
 */
import { spawnSync } from 'node:child_process';

let measured: { at: number; ms: number } | undefined;

/** Milliseconds a bare Node process takes to start and exit on this machine right now. */
export function nodeStartMs(): number {
  if (measured && Date.now() - measured.at < 30_000) return measured.ms;
  const t0 = performance.now();
  spawnSync(process.execPath, ['-e', '0'], { stdio: 'ignore', timeout: 30_000 });
  measured = { at: Date.now(), ms: performance.now() - t0 };
  return measured.ms;
}

/**
 * The readiness bound: a gateway start is a few hundred Node starts' worth of work at most
 * (loading and transpiling the sources), never below 30 s, capped at 75 s so a test (90 s, see
 * vitest.config.ts) still reports the readiness failure itself.
 */
export function readyBoundMs(): number {
  return Math.round(Math.min(75_000, Math.max(30_000, 150 * nodeStartMs())));
}
