/**
 * `deno run -A --no-lock --node-modules-dir=manual src/runtime/deno/main.ts [--routes routes]
 * [--port 8787] [...]` (npm run start:deno): the gateway on Deno.serve, with the same settings as
 * `wsgate start`. npm dependencies resolve from the project's node_modules (installed by npm;
 * Deno downloads nothing); `.ts` route files load natively.
 */
import { drainFromSettings, drainOnSignals, startGateway } from '../entry.ts';
import { createDenoAdapter } from './adapter.ts';
import { serveDeno } from './serve.ts';

declare const Deno: {
  serve(o: { port: number; hostname: string; onListen(addr: { port: number }): void }, handler: (req: Request) => Response | Promise<Response>): { shutdown(): Promise<void> };
};

const { app, opts } = await startGateway(createDenoAdapter(), process.argv.slice(2), 'deno');
const host = opts.host === '0.0.0.0' ? '127.0.0.1' : opts.host;
const server = serveDeno(app, { port: opts.port, hostname: opts.host });
void server.listening.then((port) => console.error(`wsgate listening on ws://${host}:${port} (deno, ${app.gateway.options.routes.length} routes)`));
// --admin-port: /_wsgate/* and /metrics on their own listener.
const adminApp = app.gateway.adminApp;
const adminHost = String(opts.settings['admin-host']);
const admin = adminApp
  ? Deno.serve(
      { port: opts.settings['admin-port'] as number, hostname: adminHost, onListen: ({ port }) => console.error(`wsgate admin listening on http://${adminHost}:${port} (/_wsgate/*, /metrics)`) },
      (req) => adminApp.fetch(req),
    )
  : undefined;
drainOnSignals(app, async () => void (await Promise.all([server.shutdown(), admin?.shutdown()])), { ...drainFromSettings(opts.settings), ...(opts.store ? { store: opts.store } : {}) });
