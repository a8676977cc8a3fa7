/**
 * wsgate's public surface on Node (Bun and Deno use the same, through their own entry points).
 *
 * @example
 * import { createGateway, loadRouteFiles, serveNode } from 'wsgate';
 * const app = createGateway({ routes: await loadRouteFiles('./routes') });
 * await serveNode(app, { port: 8787 });
 */
import { createGateway as createCoreGateway, type GatewayApp } from './gateway.ts';
import type { GatewayOptions } from './options.ts';
import { createNodeAdapter } from './runtime/node/adapter.ts';

/** createGateway with the Node runtime adapter as the default runtime. */
export function createGateway(options: GatewayOptions): GatewayApp {
  return createCoreGateway({ ...options, runtime: options.runtime ?? createNodeAdapter() });
}

export type { GatewayApp, GatewayControl } from './gateway.ts';
export type { GatewayOptions, LoadedRoute } from './options.ts';
export { defineRoute } from './routing/define-route.ts';
export type { RouteConfig, AuthConfig, HeartbeatConfig, HeartbeatPreset } from './routing/define-route.ts';
export { HEARTBEAT_PRESETS } from './routing/schema.ts';
export { loadRouteFiles } from './routing/load.ts';
export { GatewayError, ERROR_TABLE, type ErrorCode } from './errors.ts';
export { serveNode, attachUpgrade, handleSignals } from './runtime/node/serve.ts';
export { createNodeAdapter } from './runtime/node/adapter.ts';
export { createStore, createMemoryStore, createRedisStore } from './store/index.ts';
export type { Store, PubSub } from './store/types.ts';
export type { PresenceStore, PresenceMember } from './store/presence-store.ts';
export type { HistoryStore, HistoryOptions, HistoryRead, HistoryEntry } from './store/history-store.ts';
