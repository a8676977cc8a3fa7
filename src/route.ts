/**
 * `wsgate/route`: only what a route file needs, on any runtime and in any bundle — the
 * `defineRoute` identity helper and the route types. No runtime code comes with it.
 *
 * @example
 * import { defineRoute } from 'wsgate/route';
 * export default defineRoute({ path: '/echo', upstream: 'ws://127.0.0.1:9000' });
 */
export { defineRoute } from './routing/define-route.ts';
export type { RouteConfig, AuthConfig, HeartbeatConfig, HeartbeatPreset } from './routing/define-route.ts';
