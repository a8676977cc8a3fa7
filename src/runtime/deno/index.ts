/**
 * The Deno entry (`wsgate` on Deno, and `wsgate/deno`): the runtime-agnostic surface with
 * `createGateway` defaulting to the Deno adapter, plus `serveDeno` and route files.
 *
 * @example
 * import { createGateway, loadRouteFiles, serveDeno } from 'wsgate';
 * serveDeno(createGateway({ routes: await loadRouteFiles('./routes') }), { port: 8787 });
 */
import { createGateway as createCoreGateway, type GatewayApp } from '../../gateway.ts';
import type { GatewayOptions } from '../../options.ts';
import { createDenoAdapter } from './adapter.ts';

/** createGateway with the Deno runtime adapter as the default runtime. */
export function createGateway(options: GatewayOptions): GatewayApp {
  return createCoreGateway({ ...options, runtime: options.runtime ?? createDenoAdapter() });
}

export * from '../../index.ts';
export { loadRouteFiles } from '../route-files.ts';
export { serveDeno, type DenoServeOptions, type DenoGatewayServer } from './serve.ts';
export { createDenoAdapter } from './adapter.ts';
export { drainOnSignals } from '../entry.ts';
export { createStore } from '../../store/index.ts';
export { createRedisStore, type RedisStoreOptions } from '../../store/redis.ts';
