/**
 * `bun src/runtime/bun/main.ts [--routes routes] [--port 8787] [...]` (npm run start:bun): the
 * gateway on Bun.serve, with the same settings as `wsgate start`. Bun runs the TypeScript
 * sources and `.ts` route files natively.
 */
import { drainFromSettings, drainOnSignals, startGateway } from '../entry.ts';
import { createBunAdapter } from './adapter.ts';
import { serveBun } from './serve.ts';

declare const Bun: {
  serve(o: { port: unknown; hostname: string; fetch(req: Request): Response | Promise<Response> }): { port: number; stop(): Promise<void> | void };
};

const { app, opts } = await startGateway(createBunAdapter(), process.argv.slice(2), 'bun');
const server = serveBun(app, { port: opts.port, hostname: opts.host });
// --admin-port: /_wsgate/* and /metrics on their own listener.
const adminApp = app.gateway.adminApp;
const admin = adminApp ? Bun.serve({ port: opts.settings['admin-port'], hostname: String(opts.settings['admin-host']), fetch: (req: Request) => adminApp.fetch(req) }) : undefined;
if (admin) console.error(`wsgate admin listening on http://${String(opts.settings['admin-host'])}:${admin.port} (/_wsgate/*, /metrics)`);
drainOnSignals(app, async () => void (await Promise.all([server.stop(), admin?.stop()])), { ...drainFromSettings(opts.settings), ...(opts.store ? { store: opts.store } : {}) });
const host = opts.host === '0.0.0.0' ? '127.0.0.1' : opts.host;
console.error(`wsgate listening on ws://${host}:${server.port} (bun, ${app.gateway.options.routes.length} routes)`);
