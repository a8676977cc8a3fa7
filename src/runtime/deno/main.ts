/**
 * `deno run -A --no-lock --node-modules-dir=manual src/runtime/deno/main.ts [--routes routes]
 * [--port 8787] [...]` (npm run start:deno): the gateway on Deno.serve, with the same settings as
 * `wsgate start`. npm dependencies resolve from the project's node_modules (installed by npm;
 * Deno downloads nothing); `.ts` route files load natively.
 */
import { drainFromSettings, drainOnSignals, startGateway } from '../entry.ts';
import { createDenoAdapter } from './adapter.ts';
import { serveDeno } from './serve.ts';

const { app, opts } = await startGateway(createDenoAdapter(), process.argv.slice(2), 'deno');
const host = opts.host === '0.0.0.0' ? '127.0.0.1' : opts.host;
const server = serveDeno(app, { port: opts.port, hostname: opts.host });
drainOnSignals(app, () => server.shutdown(), { ...drainFromSettings(opts.settings), ...(opts.store ? { store: opts.store } : {}) });
void server.listening.then((port) => console.error(`wsgate listening on ws://${host}:${port} (deno, ${app.gateway.options.routes.length} routes)`));
