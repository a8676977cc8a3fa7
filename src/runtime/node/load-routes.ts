/** `loadRouteFiles` on Node: the shared folder loader with Node's route-file importer. */
import type { LoadedRoute } from '../../options.ts';
import { loadRouteFiles as loadWith } from '../route-files.ts';
import { importRouteFile } from './route-import.ts';

/**
 * @example
 * const app = createGateway({ routes: await loadRouteFiles('./routes') });
 */
export function loadRouteFiles(dir: string, o: { fresh?: boolean } = {}): Promise<LoadedRoute[]> {
  return loadWith(dir, { importFile: importRouteFile, ...o });
}
