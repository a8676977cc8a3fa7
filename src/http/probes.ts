/**
 * `/healthz` (the process answers), `/readyz` (send traffic here?) and `/metrics` (Prometheus;
 * optionally behind a token, or on the admin listener only).
 * Not ready while draining, while a JWKS has never been fetched, or while the store has not
 * connected since start-up. A store that was up and is now away reports `degraded` but stays
 * ready: local delivery still works, and failing readiness on every instance at once would turn a
 * broker outage into a full outage.
 */
import type { Hono } from 'hono';
import type { Verifier } from '../auth/index.ts';
import { jwksStats } from '../auth/index.ts';
import type { Registry } from '../core/registry.ts';
import { GatewayError } from '../errors.ts';
import { bearerMatches } from './admin.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { Store } from '../store/types.ts';

export interface ProbeDeps {
  isDraining(): boolean;
  store: Store | undefined;
  metrics: GatewayMetrics;
  registry: Registry;
  verifiers(): Array<Verifier | undefined>;
  /** Heap and resident set size, where the runtime reports them (RuntimeAdapter.memoryUsage), else undefined. */
  memoryUsage(): { heapUsed: number; rss: number } | undefined;
}

export function mountProbes(app: Hono, deps: ProbeDeps): void {
  let storeEverUp = deps.store === undefined || deps.store.health() === 'ok';
  const storeState = () => {
    if (!deps.store) return 'none';
    const h = deps.store.health();
    if (h === 'ok') storeEverUp = true;
    return h;
  };

  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.get('/readyz', (c) => {
    const store = storeState();
    const keysReady = deps.verifiers().every((v) => v === undefined || v.ready());
    const reasons: string[] = [];
    if (deps.isDraining()) reasons.push('draining');
    if (!keysReady) reasons.push('signing keys unavailable');
    if (!storeEverUp) reasons.push('store never connected');
    const body = { status: reasons.length ? 'not_ready' : store === 'degraded' ? 'degraded' : 'ready', store, reasons, connections: deps.registry.size };
    return c.json(body, reasons.length ? 503 : 200);
  });

}

/** `/metrics`: open, or behind `Authorization: Bearer <token>` when a metrics token is set. */
export function mountMetrics(app: Hono, deps: ProbeDeps, token: string | undefined): void {
  app.get('/metrics', (c) => {
    if (token !== undefined && !bearerMatches(c.req.header('authorization'), token))
      throw new GatewayError('admin_unauthorized', 'Metrics token required', { 'www-authenticate': 'Bearer realm="wsgate-metrics"' });
    const m = deps.metrics;
    m.storeHealthy.set({}, deps.store?.health() === 'degraded' ? 0 : 1);
    m.draining.set({}, deps.isDraining() ? 1 : 0);
    const mem = deps.memoryUsage?.();
    if (mem) {
      m.heap.set({}, mem.heapUsed);
      m.rss.set({}, mem.rss);
    }
    const now = Date.now();
    for (const s of jwksStats()) if (s.lastSuccessMs) m.jwksAge.set({ url: s.url }, Math.round((now - s.lastSuccessMs) / 1000));
    return c.text(m.registry.render(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
  });
}
