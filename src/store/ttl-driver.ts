/**
 * Adds `ttl` (seconds, as in unstorage's `setItem(key, value, { ttl })`) to a driver that ignores
 * it, such as unstorage's memory driver. Expiry is lazy (checked on read and list) plus an
 * amortised sweep on writes, so no timer keeps the process alive and tests drive time through
 * the injected clock instead of sleeping.
 */
import type { Driver, TransactionOptions } from 'unstorage';

export interface TtlDriverOptions {
  /** Milliseconds clock. @default Date.now */
  now?: () => number;
  /** Sweep every expired key at most this often (ms), on writes. @default 1000 */
  sweepIntervalMs?: number;
}

export function withTtl(inner: Driver, options: TtlDriverOptions = {}): Driver {
  const now = options.now ?? Date.now;
  const sweepEvery = options.sweepIntervalMs ?? 1000;
  const expiresAt = new Map<string, number>();
  let lastSweep = now();

  const expired = (key: string): boolean => {
    const at = expiresAt.get(key);
    return at !== undefined && at <= now();
  };
  const drop = async (key: string): Promise<void> => {
    expiresAt.delete(key);
    await inner.removeItem?.(key, {});
  };
  const sweep = async (): Promise<void> => {
    const t = now();
    if (t - lastSweep < sweepEvery) return;
    lastSweep = t;
    for (const [key, at] of expiresAt) if (at <= t) await drop(key);
  };
  const remember = (key: string, opts: TransactionOptions | undefined): void => {
    const ttl: unknown = opts?.ttl;
    if (typeof ttl === 'number' && ttl > 0) expiresAt.set(key, now() + ttl * 1000);
    else expiresAt.delete(key);
  };
  const readThrough = async <T>(key: string, read: () => T | Promise<T>, missing: T): Promise<T> => {
    if (expired(key)) {
      await drop(key);
      return missing;
    }
    return read();
  };

  return {
    ...inner,
    name: `${inner.name ?? 'driver'}+ttl`,
    flags: { ...inner.flags, ttl: true },
    hasItem: (key, opts) => readThrough(key, () => inner.hasItem(key, opts), false),
    getItem: (key, opts) => readThrough(key, () => inner.getItem(key, opts), null),
    getItemRaw: (key, opts) => readThrough(key, () => inner.getItemRaw?.(key, opts) ?? null, null),
    async setItem(key, value, opts) {
      remember(key, opts);
      await inner.setItem?.(key, value, opts);
      await sweep();
    },
    async setItemRaw(key, value: unknown, opts) {
      remember(key, opts);
      await inner.setItemRaw?.(key, value, opts);
      await sweep();
    },
    async removeItem(key, opts) {
      expiresAt.delete(key);
      await inner.removeItem?.(key, opts);
    },
    async getKeys(base, opts) {
      const keys = await inner.getKeys(base, opts);
      const live: string[] = [];
      for (const key of keys) {
        if (expired(key)) await drop(key);
        else live.push(key);
      }
      return live;
    },
    async clear(base, opts) {
      if (!base) {
        expiresAt.clear();
        await inner.clear?.(base, opts);
        return;
      }
      // unstorage's memory driver clears everything whatever the base: remove key by key.
      for (const key of await inner.getKeys(base, {})) {
        if (key.startsWith(base)) await drop(key);
      }
    },
    async dispose() {
      expiresAt.clear();
      await inner.dispose?.();
    },
  };
}
