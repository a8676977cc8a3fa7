/**
 * wsgate's runtime-agnostic surface: what every runtime entry (wsgate/node, wsgate/bun,
 * wsgate/deno, wsgate/workerd) re-exports. `import … from 'wsgate'` picks the entry of the
 * runtime it runs on through the package's export conditions, where `createGateway` defaults to
 * that runtime's adapter; this module's own `createGateway` needs `runtime` to accept anything.
 *
 * @example
 * import { createGateway, defineRoute } from 'wsgate';
 * const app = createGateway({ routes: [defineRoute({ path: '/echo', upstream: 'ws://127.0.0.1:9000' })] });
 */
export { createGateway } from './gateway.ts';
export type { GatewayApp, GatewayControl } from './gateway.ts';
export type { GatewayOptions, LoadedRoute } from './options.ts';
export { defineRoute } from './routing/define-route.ts';
export type { RouteConfig, AuthConfig, HeartbeatConfig, HeartbeatPreset } from './routing/define-route.ts';
export { HEARTBEAT_PRESETS } from './routing/schema.ts';
export { ConfigError, GatewayError, ERROR_TABLE, type ConfigProblem, type ErrorCode } from './errors.ts';
export { CLOSE_CODE_ADVICE, type CloseCodeAdvice } from './core/close-codes.ts';
export { createMemoryStore, type MemoryStoreOptions } from './store/memory.ts';
export type { Store, PubSub, StoreCapabilities, StoreHealth } from './store/types.ts';
export type { Leg, RuntimeAdapter } from './core/leg.ts';
export type { PresenceStore, PresenceMember } from './store/presence-store.ts';
export type { HistoryStore, HistoryOptions, HistoryRead, HistoryEntry } from './store/history-store.ts';
