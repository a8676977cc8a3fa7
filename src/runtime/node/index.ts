/**
 * The Node entry (`wsgate` on Node, and `wsgate/node`): the runtime-agnostic surface with
 * `createGateway` defaulting to the Node adapter, plus the Node server, signals and route files.
 *
 * @example
 * import { createGateway, loadRouteFiles, serveNode, handleSignals } from 'wsgate';
 * const app = createGateway({ routes: await loadRouteFiles('./routes') });
 * handleSignals(app, await serveNode(app, { port: 8787 }));
 */
import { createGateway as createCoreGateway, type GatewayApp } from '../../gateway.ts';
import type { GatewayOptions } from '../../options.ts';
import { createNodeAdapter } from './adapter.ts';

/** createGateway with the Node runtime adapter as the default runtime. */
export function createGateway(options: GatewayOptions): GatewayApp {
  return createCoreGateway({ ...options, runtime: options.runtime ?? createNodeAdapter() });
}

export * from '../../index.ts';
export { loadRouteFiles } from './load-routes.ts';
export { serveNode, attachUpgrade, handleSignals, type NodeServeOptions, type NodeServer } from './serve.ts';
export { createNodeAdapter } from './adapter.ts';
export { createStore } from '../../store/index.ts';
export { createRedisStore, type RedisStoreOptions } from '../../store/redis.ts';
