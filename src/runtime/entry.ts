/**
 * What every non-Node entry point (src/runtime/bun/main.ts, src/runtime/deno/main.ts) shares
 * with `wsgate start`: the same flags and environment, route files from a folder, the optional
 * store, and the SIGTERM/SIGINT drain (readiness fails, connections close with 1001 over a
 * window, the process exits 0). Runs on Bun and Deno through their `node:` compatibility.
 */
import { parseArgs } from 'node:util';
import { createGateway, type GatewayApp } from '../gateway.ts';
import type { RuntimeAdapter } from '../core/leg.ts';
import { loadRouteFiles } from '../routing/load.ts';
import { createStore } from '../store/index.ts';

export interface EntryOptions {
  routes: string;
  port: number;
  host: string;
}

/** Parse `--routes DIR --port N --host H --store URL`, build the gateway; exits 2 on bad input. */
export async function startGateway(runtime: RuntimeAdapter, argv: string[], label: string): Promise<{ app: GatewayApp; opts: EntryOptions }> {
  const env = process.env;
  try {
    const { values } = parseArgs({
      args: argv,
      options: { routes: { type: 'string', default: 'routes' }, port: { type: 'string', default: '8787' }, host: { type: 'string', default: '0.0.0.0' }, store: { type: 'string' } },
    });
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port ${values.port}: expected an integer`);
    const routes = await loadRouteFiles(values.routes);
    const storeUrl = values.store ?? env.STORE_URL;
    const store = storeUrl ? await createStore(storeUrl) : undefined;
    const app = createGateway({ routes, env, runtime, ...(store ? { store } : {}), log: (env.LOG_LEVEL as 'info' | undefined) ?? 'info' });
    await app.gateway.warm().catch((err: Error) => console.error(`warning: ${err.message}`));
    return { app, opts: { routes: values.routes, port, host: values.host } };
  } catch (err) {
    console.error(`wsgate (${label}): ${(err as Error).message}`);
    process.exit(2);
  }
}

/** SIGTERM/SIGINT: drain (I1–I4), stop the listener, exit 0 (hard deadline included). */
export function drainOnSignals(app: GatewayApp, closeListener: () => Promise<void> | void, o: { windowMs?: number; deadlineMs?: number } = {}): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const windowMs = o.windowMs ?? 5000;
    const deadlineMs = o.deadlineMs ?? windowMs + 5000;
    console.error(`${signal}: draining ${app.gateway.registry.size} connections over ${windowMs} ms`);
    setTimeout(() => process.exit(0), deadlineMs + 2000);
    await app.gateway.drain({ windowMs, deadlineMs });
    await Promise.race([closeListener(), new Promise((r) => setTimeout(r, 1000))]);
    await app.gateway.dispose().catch(() => {});
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
