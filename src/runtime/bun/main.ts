/**
 * `bun src/runtime/bun/main.ts --routes routes [--port 8787] [--host 0.0.0.0] [--store URL]`
 * (npm run start:bun): the gateway on Bun.serve. Bun runs the TypeScript sources and `.ts`
 * route files natively.
 */
import { wasUpgraded } from '../../core/leg.ts';
import { drainFromSettings, drainOnSignals, startGateway } from '../entry.ts';
import { bunWebSocketHandlers, createBunAdapter, type BunEnv, type BunServer } from './adapter.ts';

declare const Bun: {
  serve(o: Record<string, unknown>): BunServer & { port: number; stop(closeActive?: boolean): Promise<void> | void };
};

const { app, opts } = await startGateway(createBunAdapter(), process.argv.slice(2), 'bun');
const routes = app.gateway.options.routes;
const maxPayloadLength = Math.max(...routes.map((r) => r.maxMessageBytes));
const server = Bun.serve({
  port: opts.port,
  hostname: opts.host,
  async fetch(req: Request, srv: BunServer) {
    const env: BunEnv = { server: srv };
    const res = await app.fetch(req, env);
    return wasUpgraded(res) ? undefined : res;
  },
  // Above every route's own cap, so the core closes a slow client (4408) before Bun would.
  websocket: bunWebSocketHandlers({ maxPayloadLength, backpressureLimit: Math.max(...routes.map((r) => r.maxBufferedBytes)) + maxPayloadLength + (1 << 20) }),
});
// --admin-port: /_wsgate/* and /metrics on their own listener.
const adminApp = app.gateway.adminApp;
const admin = adminApp ? Bun.serve({ port: opts.settings['admin-port'], hostname: String(opts.settings['admin-host']), fetch: (req: Request) => adminApp.fetch(req) }) : undefined;
if (admin) console.error(`wsgate admin listening on http://${String(opts.settings['admin-host'])}:${admin.port} (/_wsgate/*, /metrics)`);
drainOnSignals(app, async () => void (await Promise.all([server.stop(), admin?.stop()])), drainFromSettings(opts.settings));
const host = opts.host === '0.0.0.0' ? '127.0.0.1' : opts.host;
console.error(`wsgate listening on ws://${host}:${server.port} (bun, ${routes.length} routes)`);
