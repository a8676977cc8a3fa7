/**
 * `bun src/runtime/bun/main.ts [--routes routes] [--port 8787] [...]` (npm run start:bun): the
 * gateway on Bun.serve, with the same settings as `wsgate start`. Bun runs the TypeScript
 * sources and `.ts` route files natively.
 */
import { drainFromSettings, drainOnSignals, startGateway } from '../entry.ts';
import { createBunAdapter } from './adapter.ts';
import { serveBun } from './serve.ts';

const { app, opts } = await startGateway(createBunAdapter(), process.argv.slice(2), 'bun');
const server = serveBun(app, { port: opts.port, hostname: opts.host });
drainOnSignals(app, () => server.stop(), { ...drainFromSettings(opts.settings), ...(opts.store ? { store: opts.store } : {}) });
const host = opts.host === '0.0.0.0' ? '127.0.0.1' : opts.host;
console.error(`wsgate listening on ws://${host}:${server.port} (bun, ${app.gateway.options.routes.length} routes)`);
