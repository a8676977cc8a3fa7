/**
 * The default connection cap of a gateway process, from its file-descriptor limit
 * (RLIMIT_NOFILE), counted in sockets: a relayed connection holds two descriptors (client +
 * upstream leg), a hub connection one, and a reserve stays free for the listener, the store, JWKS fetches, logs and the sockets of handshakes
 * being refused with 503. Past the cap the gateway answers 503 `overloaded` itself, instead of the
 * kernel refusing accepts (resets) or dials (which would look like a failing upstream).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** The soft RLIMIT_NOFILE of this process, or undefined when it cannot be read (or is unlimited). */
export function readFdLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m) return m[1] === 'unlimited' ? undefined : Number(m[1]);
  } catch {
    /* not Linux: ask the shell, which inherits the same limit */
  }
  try {
    const out = execFileSync('/bin/sh', ['-c', 'ulimit -n'], { encoding: 'utf8', timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return /^\d+$/.test(out) ? Number(out) : undefined;
  } catch {
    return undefined;
  }
}

/** Descriptors kept free: at least 64, or an eighth of the limit. */
export function fdReserve(limit: number): number {
  return Math.max(64, Math.ceil(limit / 8));
}

/**
 * The sockets open connections may hold: limit - reserve, at least 2 (one relayed connection);
 * unlimited when the limit is unknown. A relayed connection holds two, a hub connection one.
 */
export function socketBudgetForFdLimit(limit: number | undefined): number {
  if (limit === undefined) return Number.POSITIVE_INFINITY;
  return Math.max(2, limit - fdReserve(limit));
}
