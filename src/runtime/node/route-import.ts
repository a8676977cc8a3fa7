/**
 * Importing one route file on Node, whatever the file and the Node:
 * - `.js`/`.mjs` files, and `.ts`/`.mts` files on a Node that strips types itself (22.18+, 23.6+,
 *   24), load with a plain `import()`;
 * - `.ts`/`.mts` files on an older Node (20, early 22) load through tsx, imported only then (an
 *   optional peer dependency: a clear error names it when it is missing);
 * - a route file outside any project that has wsgate installed (`--routes /etc/wsgate/routes`)
 *   still resolves `import … from 'wsgate'` (and `wsgate/route`, …) to this running copy of
 *   wsgate: a resolve hook is registered the first time a route file cannot find it, for ES
 *   modules and for the CommonJS `require` that tsx compiles a CommonJS-scoped `.ts` file to.
 */
import { readFileSync } from 'node:fs';
import Module, { register } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const TS_FILE = /\.(ts|mts|cts)$/;

/**
 * This package's own entries, resolved through its package name (a self-reference): right from
 * the published build, from the bundled CLI (dist/bin.js) and from the sources alike.
 */
function ownEntry(specifier: string, fallback: string): string {
  try {
    return import.meta.resolve(specifier);
  } catch {
    return new URL(`${fallback}${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url).href;
  }
}

const NODE_ENTRY = ownEntry('wsgate/node', './index');

/** What `wsgate` specifiers in a route file resolve to when the file's own folder cannot find wsgate. */
export const WSGATE_ALIASES: Readonly<Record<string, string>> = {
  wsgate: NODE_ENTRY,
  'wsgate/node': NODE_ENTRY,
  'wsgate/route': ownEntry('wsgate/route', '../../route'),
  'wsgate/stores/redis': ownEntry('wsgate/stores/redis', '../../store/redis'),
};

interface TsxApi {
  tsImport(specifier: string, parent: string): Promise<unknown>;
}

let tsx: Promise<TsxApi> | undefined;
let hooks = false;
let cjsAlias = false;

/** Whether this Node strips TypeScript types itself (`process.features.typescript`, Node 22.10+). */
export function nodeStripsTypes(): boolean {
  const f = (process.features as { typescript?: string | false }).typescript;
  return f === 'strip' || f === 'transform';
}

function loadTsx(file: string): Promise<TsxApi> {
  tsx ??= (import('tsx/esm/api' as string) as Promise<TsxApi>).catch((err: NodeJS.ErrnoException) => {
    tsx = undefined;
    if (err.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    throw new Error(
      `${file}: a TypeScript route file, and Node ${process.version} cannot load TypeScript by itself. ` +
        'Install tsx next to wsgate (npm install tsx), run Node 22.18 or later, or write the route as .js/.mjs',
    );
  });
  return tsx;
}

function missingWsgate(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException;
  return (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') && /['"]wsgate(\/[\w/-]+)?['"]/.test(e.message ?? '');
}

/** ES modules: the hooks of alias-hooks.ts (wsgate fallback, forced ESM for `?wsgate-esm`). */
function registerHooks(): void {
  if (hooks) return;
  hooks = true;
  // Next to the Node entry: alias-hooks.js in the build (.ts when run from the sources).
  register(new URL(`./alias-hooks${NODE_ENTRY.endsWith('.ts') ? '.ts' : '.js'}`, NODE_ENTRY).href, { data: { aliases: WSGATE_ALIASES } });
}

/** `import` syntax in a file Node (or tsx) ran as CommonJS: its folder's package.json is not `"type": "module"`. */
function esmAsCommonJs(err: unknown): boolean {
  return err instanceof SyntaxError && /Cannot use import statement outside a module|Unexpected token 'export'/.test(err.message);
}

/** A CommonJS-compiled route exposes `module.exports` as `default`: unwrap its own `default`. */
function unwrap(mod: { default?: unknown }): { default?: unknown } {
  const d = mod.default as { default?: unknown; path?: unknown } | undefined;
  return d && typeof d === 'object' && !('path' in d) && 'default' in d ? { default: d.default } : mod;
}

/** CommonJS (`require('wsgate')` in a tsx-compiled CommonJS-scoped route file): the same fallback. */
function aliasCjs(): void {
  if (cjsAlias) return;
  cjsAlias = true;
  const M = Module as unknown as { _resolveFilename(request: string, ...rest: unknown[]): string };
  const original = M._resolveFilename;
  M._resolveFilename = function (request: string, ...rest: unknown[]) {
    try {
      return original.call(this, request, ...rest);
    } catch (err) {
      const target = WSGATE_ALIASES[request];
      if (target) return fileURLToPath(target);
      throw err;
    }
  };
}

/** The `type` of the package.json nearest to `file` ('commonjs' when there is none). */
function packageType(file: string): string {
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    try {
      return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { type?: string }).type ?? 'commonjs';
    } catch {
      if (dirname(dir) === dir) return 'commonjs';
    }
  }
}

/**
 * A `.ts` file written as an ES module in a CommonJS-scoped folder: Node's type stripping would
 * run it as CommonJS (and warn), so it is imported as an ES module from the start.
 */
function esmInCommonJsScope(file: string): boolean {
  return file.endsWith('.ts') && packageType(file) !== 'module' && /^\s*(import|export)\s/m.test(readFileSync(file, 'utf8'));
}

/** Import a route file (absolute path) and return its module namespace. */
export async function importRouteFile(file: string, query = ''): Promise<{ default?: unknown }> {
  const url = pathToFileURL(file).href + query;
  const viaTsx = TS_FILE.test(file) && !nodeStripsTypes();
  if (!viaTsx && esmInCommonJsScope(file)) {
    registerHooks();
    aliasCjs();
    return unwrap((await import(`${url}?wsgate-esm`)) as { default?: unknown });
  }
  const load = async (u: string) => (viaTsx ? (await loadTsx(file)).tsImport(u, import.meta.url) : import(u)) as Promise<{ default?: unknown }>;
  try {
    return unwrap(await load(url));
  } catch (err) {
    if (missingWsgate(err)) {
      registerHooks();
      aliasCjs();
      // A failed import stays failed for its URL: the retry uses a fresh one.
      return unwrap(await load(`${url}?wsgate-alias`).catch((e: unknown) => (esmAsCommonJs(e) && !viaTsx ? import(`${url}?wsgate-esm`) : Promise.reject(e))));
    }
    if (esmAsCommonJs(err) && !viaTsx) {
      registerHooks();
      aliasCjs();
      return unwrap((await import(`${url}?wsgate-esm`)) as { default?: unknown });
    }
    throw err;
  }
}
