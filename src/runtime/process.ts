/**
 * What the gateway reads from the process on runtimes that have one (Node, Bun and Deno 2 all
 * provide the Node `process` global): the environment and memory figures. The adapters hand these
 * to the core through the RuntimeAdapter, so nothing outside src/runtime/ touches `process`.
 */
import type { RuntimeAdapter } from '../core/leg.ts';

export const processFacts: Pick<RuntimeAdapter, 'env' | 'memoryUsage'> = {
  env: () => process.env,
  memoryUsage: () => {
    const m = process.memoryUsage();
    return { heapUsed: m.heapUsed, rss: m.rss };
  },
};
