/**
 * The Workers entry (`wsgate` under the `workerd` condition, and `wsgate/workerd`): the
 * runtime-agnostic surface, `createWorker(routes)` and the `ChannelObject` Durable Object that
 * hub routes need. Nothing here pulls Node-only code into a Worker bundle.
 *
 * @example
 * // src/worker.ts of a wrangler project (main = "src/worker.ts"; bind CHANNELS to ChannelObject)
 * import { createWorker, ChannelObject } from 'wsgate/workerd';
 * import echo from '../routes/echo.ts';
 * export { ChannelObject };
 * export default createWorker([echo]);
 */
import { createGateway as createCoreGateway, type GatewayApp } from '../../gateway.ts';
import type { GatewayOptions } from '../../options.ts';
import { createWorkerdAdapter } from './adapter.ts';

/** createGateway with the workerd adapter (no hub hand-off) as the default runtime; `createWorker` wires hubs too. */
export function createGateway(options: GatewayOptions): GatewayApp {
  return createCoreGateway({ ...options, runtime: options.runtime ?? createWorkerdAdapter() });
}

export * from '../../index.ts';
export { createWorker, type WorkerEnv } from './worker.ts';
export { ChannelObject } from './channel-object.ts';
export { createWorkerdAdapter } from './adapter.ts';
