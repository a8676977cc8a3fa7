/**
 * Module hooks registered by route-import.ts, only once a route file needed them:
 * - resolve: a `wsgate` specifier that the normal resolution cannot find resolves to the running
 *   copy of wsgate (a route folder outside any project that installed wsgate);
 * - load: a route file imported with `?wsgate-esm` is an ES module whatever its folder's
 *   package.json says (a `.ts` route written with `import`/`export` in a CommonJS-scoped folder,
 *   which Node's type stripping would otherwise run as CommonJS).
 * Everything else resolves and loads as usual.
 */
import { readFile } from 'node:fs/promises';

let aliases: Record<string, string> = {};

export function initialize(data: { aliases: Record<string, string> }): void {
  aliases = data.aliases;
}

type Resolved = { url: string; format?: string | null; shortCircuit?: boolean };
type Loaded = { format: string; source?: string | ArrayBuffer | Uint8Array | null; shortCircuit?: boolean };

export async function resolve(specifier: string, context: unknown, next: (s: string, c: unknown) => Promise<Resolved>): Promise<Resolved> {
  try {
    return await next(specifier, context);
  } catch (err) {
    const target = aliases[specifier];
    if (target) return { url: target, shortCircuit: true };
    throw err;
  }
}

const FORCED: Record<string, string> = { commonjs: 'module', 'commonjs-typescript': 'module-typescript' };

export async function load(url: string, context: { format?: string | null }, next: (u: string, c: unknown) => Promise<Loaded>): Promise<Loaded> {
  const loaded = await next(url, context);
  if (!url.includes('?wsgate-esm')) return loaded;
  const format = FORCED[loaded.format];
  if (!format) return loaded;
  // CommonJS results come without source (Node reads it itself); an ES module needs it here.
  const source = loaded.source ?? (await readFile(new URL(url)));
  return { format, source, shortCircuit: true };
}
