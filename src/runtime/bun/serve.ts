/**
 * Serve a gateway on Bun: `Bun.serve` with the gateway's fetch and WebSocket handlers. The
 * upgrade answer of `accept` is the runtime's own 101, so `fetch` returns nothing for it.
 */
import { wasUpgraded } from '../../core/leg.ts';
import type { GatewayApp } from '../../gateway.ts';
import { bunWebSocketHandlers, type BunEnv, type BunServer } from './adapter.ts';

declare const Bun: {
  serve(o: Record<string, unknown>): BunServer & { port: number; stop(closeActive?: boolean): Promise<void> | void };
};

export interface BunServeOptions {
  port?: number;
  hostname?: string;
  /** The gateway, when `app` is an application's own Hono app that mounts it (`app.route('/ws', gateway)`). @default app */
  gateway?: GatewayApp;
}

export interface BunGatewayServer {
  port: number;
  stop(): Promise<void> | void;
}

/**
 * @example
 * import { createGateway, serveBun } from 'wsgate';
 * const app = createGateway({ routes: [echo] });
 * serveBun(app, { port: 8787 });
 */
export function serveBun(app: { fetch: GatewayApp['fetch'] }, o: BunServeOptions = {}): BunGatewayServer {
  const gateway = (o.gateway ?? (app as Partial<GatewayApp>)).gateway;
  if (!gateway) throw new Error('serveBun: pass { gateway } when app is not the gateway itself (its routes size the WebSocket limits)');
  const routes = gateway.options.routes;
  const maxPayloadLength = Math.max(...routes.map((r) => r.maxMessageBytes));
  const server = Bun.serve({
    port: o.port ?? 8787,
    hostname: o.hostname ?? '0.0.0.0',
    async fetch(req: Request, srv: BunServer) {
      const env: BunEnv = { server: srv };
      const res = await app.fetch(req, env);
      return wasUpgraded(res) ? undefined : res;
    },
    // Above every route's own cap, so the core closes a slow client (4408) before Bun would.
    websocket: bunWebSocketHandlers({ maxPayloadLength, backpressureLimit: Math.max(...routes.map((r) => r.maxBufferedBytes)) + maxPayloadLength + (1 << 20) }),
  });
  return { port: server.port, stop: () => server.stop() };
}
