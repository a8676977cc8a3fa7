/**
 * `/healthz` (the process answers), `/readyz` (send traffic here?) and `/metrics` (Prometheus).
 * Not ready while draining, while a JWKS has never been fetched (B16), or while the store has not
 * connected since start-up (G3). A store that was up and is now away reports `degraded` but stays
 * ready: local delivery still works, and failing readiness on every instance at once would turn a
 * broker outage into a full outage.
 */
import type { Hono } from 'hono';
import type { Verifier } from '../auth/index.ts';
import { jwksStats } from '../auth/index.ts';
import type { Registry } from '../core/registry.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { Store } from '../store/types.ts';

export interface ProbeDeps {
  isDraining(): boolean;
  store: Store | undefined;
  metrics: GatewayMetrics;
  registry: Registry;
  verifiers(): Array<Verifier | undefined>;
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

  app.get('/metrics', (c) => {
    const m = deps.metrics;
    m.storeHealthy.set({}, storeState() === 'degraded' ? 0 : 1);
    m.draining.set({}, deps.isDraining() ? 1 : 0);
    const mem = (globalThis as { process?: { memoryUsage?: () => { heapUsed: number; rss: number } } }).process?.memoryUsage?.();
    if (mem) {
      m.heap.set({}, mem.heapUsed);
      m.rss.set({}, mem.rss);
    }
    const now = Date.now();
    for (const s of jwksStats()) if (s.lastSuccessMs) m.jwksAge.set({ url: s.url }, Math.round((now - s.lastSuccessMs) / 1000));
    return c.text(m.registry.render(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
  });
}
