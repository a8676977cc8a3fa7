/**
 * The Bun entry (`wsgate` on Bun, and `wsgate/bun`): the runtime-agnostic surface with
 * `createGateway` defaulting to the Bun adapter, plus `serveBun` and route files.
 *
 * @example
 * import { createGateway, loadRouteFiles, serveBun } from 'wsgate';
 * serveBun(createGateway({ routes: await loadRouteFiles('./routes') }), { port: 8787 });
 */
import { createGateway as createCoreGateway, type GatewayApp } from '../../gateway.ts';
import type { GatewayOptions } from '../../options.ts';
import { createBunAdapter } from './adapter.ts';

/** createGateway with the Bun runtime adapter as the default runtime. */
export function createGateway(options: GatewayOptions): GatewayApp {
  return createCoreGateway({ ...options, runtime: options.runtime ?? createBunAdapter() });
}

export * from '../../index.ts';
export { loadRouteFiles } from '../route-files.ts';
export { serveBun, type BunServeOptions, type BunGatewayServer } from './serve.ts';
export { createBunAdapter } from './adapter.ts';
export { drainOnSignals } from '../entry.ts';
export { createStore } from '../../store/index.ts';
export { createRedisStore, type RedisStoreOptions } from '../../store/redis.ts';
