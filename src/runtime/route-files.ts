/**
 * Load route files from a folder (Node, Bun, Deno): every `*.ts`, `*.mts`, `*.js`, `*.mjs` file
 * whose default export is a route. Bun and Deno import TypeScript natively; the Node entry passes
 * its own importer (node/route-import.ts) for Nodes without type stripping and for
 * folders outside the project. Files starting with `_` or `.` are skipped (helpers).
 * Workers cannot read a folder; they use the generated manifest instead.
 */
import { readdir } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../errors.ts';
import type { LoadedRoute } from '../options.ts';
import { RouteError } from '../routing/schema.ts';

const EXTENSIONS = new Set(['.ts', '.mts', '.js', '.mjs']);

export interface LoadRouteOptions {
  /** Import one file (an absolute path; `query` is appended to its URL) and return its namespace. @default `import()` */
  importFile?: (file: string, query: string) => Promise<{ default?: unknown }>;
  /**
   * Import every file anew (SIGHUP reload), past the module cache. Helper modules the route
   * files import themselves stay cached.
   */
  fresh?: boolean;
}

const nativeImport = (file: string, query: string) => import(pathToFileURL(file).href + query) as Promise<{ default?: unknown }>;
let generation = 0;

export async function loadRouteFiles(dir: string, o: LoadRouteOptions = {}): Promise<LoadedRoute[]> {
  const importFile = o.importFile ?? nativeImport;
  const suffix = o.fresh ? `?reload=${++generation}` : '';
  const abs = resolve(dir);
  let names: string[];
  try {
    names = await readdir(abs);
  } catch (err) {
    const why = `cannot read the folder (${(err as NodeJS.ErrnoException).code ?? err})`;
    throw new ConfigError({ source: dir, field: '--routes', expected: 'a readable folder of route files', cause: err }, `--routes ${dir}: ${why}`);
  }
  const files = names.filter((n) => EXTENSIONS.has(extname(n)) && !n.startsWith('_') && !n.startsWith('.') && !n.endsWith('.d.ts')).sort();
  if (files.length === 0)
    throw new ConfigError(
      { source: dir, field: '--routes', expected: 'route files (*.ts, *.mts, *.js, *.mjs)' },
      `--routes ${dir}: no route files (*.ts, *.mjs, *.js) found`,
    );
  const out: LoadedRoute[] = [];
  for (const name of files) {
    const file = join(abs, name);
    let mod: { default?: unknown };
    try {
      mod = await importFile(file, suffix);
    } catch (err) {
      throw new ConfigError(
        { source: file, field: 'module', expected: 'a module that imports without error', cause: err },
        `${file}: cannot load: ${(err as Error).message}`,
      );
    }
    if (mod.default === undefined) throw new RouteError(file, 'default export', 'export default defineRoute({...})');
    out.push({ source: file, route: mod.default as LoadedRoute['route'] });
  }
  return out;
}
