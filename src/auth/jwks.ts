/**
 * A JWKS cache with stale-if-error (jose's createRemoteJWKSet has none).
 *
 * - One cache per JWKS URL + issuer, shared by every route (module-level registry).
 * - Concurrent cold fetches share one request.
 * - An unknown `kid` refetches at most once per `cooldownMs`; otherwise it is refused without a
 *   fetch. Rotation: a new key is accepted as soon as a refetch sees it, i.e. at most
 *   `cooldownMs` after the last fetch, or after `maxAgeMs` at the latest.
 * - After `maxAgeMs` the keys are refreshed in the background; while the endpoint fails, the old
 *   keys keep serving until `maxAgeMs + staleIfErrorMs` after the last success, then every
 *   verification fails closed with `jwks_unavailable`. A failed background refresh is retried
 *   at most once per `cooldownMs`.
 * - Cold-start failures (non-200, any redirect, bad JSON, timeout) → `jwks_unavailable`.
 * Only the configured URL is ever fetched: `jku`, `x5u` and embedded `jwk` headers are ignored.
 */
import type { createLocalJWKSet, FlattenedJWSInput, JWSHeaderParameters, JSONWebKeySet } from 'jose';
import { authError } from './errors.ts';

export interface JwksOptions {
  /** Minimum time between refetches triggered by an unknown kid or a failed refresh. @default 30000 */
  cooldownMs?: number;
  /** Keys older than this are refreshed. @default 600000 */
  maxAgeMs?: number;
  /** How long past `maxAgeMs` stale keys keep serving while refreshes fail. @default 3600000 */
  staleIfErrorMs?: number;
  /** Per-fetch timeout. @default 5000 */
  timeoutMs?: number;
  /** Largest JWKS body accepted. @default 1 MiB */
  maxBytes?: number;
  fetch?: typeof fetch;
  /** Clock in ms (wall clock is fine: only ages are compared). @default Date.now */
  now?: () => number;
}

export interface JwksStats {
  url: string;
  /** Time of the last successful fetch (ms), undefined before the first. */
  lastSuccessMs?: number;
  fetches: number;
  failures: number;
  /** True while the keys are usable (fresh or within the stale-if-error window). */
  usable: boolean;
}

type KeyGetter = ReturnType<typeof createLocalJWKSet>;
type Key = Awaited<ReturnType<KeyGetter>>;

export class JwksCache {
  readonly url: string;
  private readonly cooldownMs: number;
  private readonly maxAgeMs: number;
  private readonly staleIfErrorMs: number;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly fetchImpl: typeof fetch;
  private readonly now: () => number;
  private getter: KeyGetter | undefined;
  private lastSuccessMs: number | undefined;
  private lastAttemptMs = -Infinity;
  private inflight: Promise<void> | undefined;
  private fetches = 0;
  private failures = 0;

  constructor(url: string, opts: JwksOptions = {}) {
    this.url = url;
    this.cooldownMs = opts.cooldownMs ?? 30_000;
    this.maxAgeMs = opts.maxAgeMs ?? 600_000;
    this.staleIfErrorMs = opts.staleIfErrorMs ?? 3_600_000;
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    this.maxBytes = opts.maxBytes ?? 1 << 20;
    this.fetchImpl = opts.fetch ?? ((...args) => globalThis.fetch(...args));
    this.now = opts.now ?? Date.now;
  }

  /** Fetch now unless a fetch is already running (then share it). Rejects on failure. */
  refresh(): Promise<void> {
    this.inflight ??= this.load().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /** Resolves when no fetch is running (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.inflight) await this.inflight.catch(() => undefined);
  }

  stats(): JwksStats {
    const s: JwksStats = { url: this.url, fetches: this.fetches, failures: this.failures, usable: this.usable() };
    if (this.lastSuccessMs !== undefined) s.lastSuccessMs = this.lastSuccessMs;
    return s;
  }

  usable(): boolean {
    return this.getter !== undefined && this.age() <= this.maxAgeMs + this.staleIfErrorMs;
  }

  /**
   * For readiness probes: when the keys are not usable, start a background fetch (at most one
   * per second, never concurrent), so a gateway that never got a handshake still becomes ready.
   */
  prime(): boolean {
    const ok = this.usable();
    if (!ok && !this.inflight && this.now() - this.lastAttemptMs >= 1_000) this.refresh().catch(() => undefined);
    return ok;
  }

  private age(): number {
    return this.lastSuccessMs === undefined ? Infinity : this.now() - this.lastSuccessMs;
  }

  private async load(): Promise<void> {
    this.lastAttemptMs = this.now();
    this.fetches++;
    try {
      const res = await this.fetchImpl(this.url, {
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
        headers: { accept: 'application/json' },
      });
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => undefined);
        throw new Error(`JWKS answered HTTP ${res.status || res.type}`);
      }
      const declared = Number(res.headers.get('content-length') ?? 0);
      if (declared > this.maxBytes) throw new Error('JWKS body too large');
      const text = await res.text();
      if (text.length > this.maxBytes) throw new Error('JWKS body too large');
      const json = JSON.parse(text) as JSONWebKeySet;
      // createLocalJWKSet validates the shape ({ keys: [...] }) and throws on anything else.
      // Imported on first use (cold start): only gateways with a JWKS need it.
      this.getter = (await import('jose/jwks/local')).createLocalJWKSet(json);
      this.lastSuccessMs = this.now();
    } catch (err) {
      this.failures++;
      throw err;
    }
  }

  /** Kick a background refresh unless one runs or one failed within the cooldown. */
  private backgroundRefresh(): void {
    if (this.inflight || this.now() - this.lastAttemptMs < this.cooldownMs) return;
    this.refresh().catch(() => undefined);
  }

  /** Candidate keys for a protected header (more than one only when no `kid` narrows it down). */
  async getKeys(header: JWSHeaderParameters, token?: FlattenedJWSInput): Promise<Key[]> {
    if (!this.getter || this.age() > this.maxAgeMs + this.staleIfErrorMs) {
      try {
        await this.refresh();
      } catch {
        throw authError('jwks_unavailable');
      }
    } else if (this.age() > this.maxAgeMs) {
      this.backgroundRefresh();
    }
    try {
      return await this.lookup(header, token);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_JWKS_NO_MATCHING_KEY') throw err;
    }
    // Unknown kid: join a running fetch, or refetch at most once per cooldown.
    if (this.inflight) {
      await this.inflight.catch(() => undefined);
    } else if (this.now() - this.lastAttemptMs >= this.cooldownMs) {
      await this.refresh().catch(() => undefined);
    } else {
      throw authError('token_invalid', 'No signing key matches the token');
    }
    try {
      return await this.lookup(header, token);
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_JWKS_NO_MATCHING_KEY') throw authError('token_invalid', 'No signing key matches the token');
      throw err;
    }
  }

  private async lookup(header: JWSHeaderParameters, token?: FlattenedJWSInput): Promise<Key[]> {
    // Only alg and kid select a key: any jku/x5u/jwk in the header is dropped here.
    const selector: JWSHeaderParameters = { alg: header.alg };
    if (header.kid !== undefined) selector.kid = header.kid;
    try {
      return [await this.getter!(selector, token && { payload: token.payload, signature: token.signature })];
    } catch (err) {
      const e = err as { code?: string; [Symbol.asyncIterator]?: () => AsyncIterator<Key> };
      if (e.code !== 'ERR_JWKS_MULTIPLE_MATCHING_KEYS' || !e[Symbol.asyncIterator]) throw err;
      const keys: Key[] = [];
      for await (const k of e as AsyncIterable<Key>) if (keys.push(k) >= MAX_CANDIDATES) break;
      return keys;
    }
  }
}

/** Without a kid, at most this many keys of the right type are tried. */
const MAX_CANDIDATES = 4;

const registry = new Map<string, JwksCache>();

/** The shared cache for a JWKS URL (and issuer). The first caller's options win. */
export function getJwksCache(url: string, issuer: readonly string[] | undefined, opts?: JwksOptions): JwksCache {
  const key = `${url}\n${(issuer ?? []).join(',')}`;
  let cache = registry.get(key);
  if (!cache) registry.set(key, (cache = new JwksCache(url, opts)));
  return cache;
}

/** Freshness of every JWKS in use, for a gauge such as `wsgate_jwks_last_success_seconds{url}`. */
export function jwksStats(): JwksStats[] {
  return [...registry.values()].map((c) => c.stats());
}

/** Forget every cache (tests; configuration reload). */
export function clearJwksRegistry(): void {
  registry.clear();
}
