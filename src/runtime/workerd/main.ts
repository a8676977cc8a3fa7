/**
 * This repository's own Worker (`main` in wrangler.toml): the routes of routes/, through the
 * generated manifest (Workers cannot read a folder).
 *
 *   npm run dev:workers          wrangler dev on :8788 (dev page and a random dev secret)
 *   npx wrangler deploy          deploy as configured in wrangler.toml
 */
import { routeManifest } from '../../routing/manifest.ts';
import { createWorker } from './worker.ts';

export { ChannelObject } from './index.ts';
export default createWorker(routeManifest);
