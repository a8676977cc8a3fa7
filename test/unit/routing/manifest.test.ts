/**
 * Workers cannot read a folder: src/routing/manifest.ts imports every route file statically.
 * This fails when the manifest drifts from routes/ (a file added, renamed or removed without
 * running `node src/routing/gen-manifest.mjs`), and checks that the manifest's routes are the
 * ones loadRouteFiles finds.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error — a plain .mjs script without type declarations
import { MANIFEST, renderManifest, routeFiles } from '../../../src/routing/gen-manifest.mjs';
import { loadRouteFiles } from '../../../src/runtime/route-files.ts';
import { routeManifest } from '../../../src/routing/manifest.ts';
import { resolveRoute } from '../../../src/routing/schema.ts';

const ROOT = new URL('../../..', import.meta.url).pathname;

describe('route manifest (Workers)', () => {
  it('is up to date with routes/ (run: node src/routing/gen-manifest.mjs)', () => {
    expect(readFileSync(MANIFEST as string, 'utf8')).toBe((renderManifest as () => string)());
  });

  it('lists the same routes, in the same order, as loadRouteFiles', async () => {
    const loaded = await loadRouteFiles(join(ROOT, 'routes'));
    expect(routeManifest.map((r) => r.source)).toEqual(loaded.map((r) => `routes/${r.source.split('/').pop()}`));
    expect(routeManifest.map((r) => resolveRoute(r.route, r.source).path)).toEqual(loaded.map((r) => resolveRoute(r.route, r.source).path));
  });

  it('detects drift: a new route file changes the rendered manifest', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wsgate-manifest-'));
    for (const f of routeFiles() as string[]) writeFileSync(join(dir, f), '');
    const before = (renderManifest as (d: string) => string)(dir);
    writeFileSync(join(dir, 'zeta.ts'), '');
    writeFileSync(join(dir, '_helper.ts'), ''); // skipped, as by loadRouteFiles
    const after = (renderManifest as (d: string) => string)(dir);
    expect(after).not.toBe(before);
    expect(after).toContain("'../../routes/zeta.ts'");
    expect(after).not.toContain('_helper');
  });
});
