// The runtime boundary is held by the linter (.biome.jsonc + .biome/runtime-globals.grit), not by
// discipline: a forbidden import or global outside src/runtime/ fails `npm run lint`. Each case
// lints a probe file in a temporary copy of the lint configuration, so the tree is never touched.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;
const BIOME = join(ROOT, 'node_modules/.bin/biome');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wsgate-lint-'));
  for (const f of ['.biome.jsonc', '.gitignore', '.biome']) cpSync(join(ROOT, f), join(dir, f), { recursive: true });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Lint one probe file at `path` (relative to the project root); the rules that fired on it. */
function lint(path: string, source: string): { ok: boolean; rules: string[]; messages: string[] } {
  const file = join(dir, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, source);
  try {
    const r = spawnSync(BIOME, ['lint', '--colors=off', '--reporter=json', path], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    const report = JSON.parse(r.stdout) as { diagnostics: Array<{ category: string; severity: string; message: string }> };
    const errors = report.diagnostics.filter((d) => d.severity === 'error');
    return { ok: r.status === 0, rules: errors.map((d) => d.category), messages: errors.map((d) => d.message) };
  } finally {
    rmSync(file);
  }
}

const CLEAN = 'export const now = (): number => Date.now();\n';

describe('the runtime boundary (npm run lint)', () => {
  it('a clean core file passes', () => {
    expect(lint('src/core/__lint_probe.ts', CLEAN)).toEqual({ ok: true, rules: [], messages: [] });
  });

  it.each([
    ['node:fs', "import { readFile } from 'node:fs';\nexport const r = readFile;\n"],
    ['node:fs/promises', "import { readFile } from 'node:fs/promises';\nexport const r = readFile;\n"],
    ['ws', "import { WebSocketServer } from 'ws';\nexport const W = WebSocketServer;\n"],
    ['ioredis', "export const load = () => import('ioredis');\n"],
  ])('importing %s from src/core fails', (_name, source) => {
    const r = lint('src/core/__lint_probe.ts', source);
    expect(r.ok).toBe(false);
    expect(r.rules).toContain('lint/style/noRestrictedImports');
  });

  it.each([['src/core'], ['src/auth'], ['src/routing'], ['src/http'], ['src/store']])('%s may not import from src/runtime/', (folder) => {
    const r = lint(`${folder}/__lint_probe.ts`, "import { createNodeAdapter } from '../runtime/node/adapter.ts';\nexport const a = createNodeAdapter;\n");
    expect(r.ok).toBe(false);
    expect(r.rules).toEqual(['lint/style/noRestrictedImports']);
  });

  it.each([
    ['process', 'export const env = process.env;\n', 'lint/style/noRestrictedGlobals'],
    ['Deno', 'export const env = Deno.env;\n', 'lint/style/noRestrictedGlobals'],
    ['Bun', 'export const v = Bun.version;\n', 'lint/style/noRestrictedGlobals'],
    ['globalThis.process through a cast', 'export const p = (globalThis as { process?: unknown }).process;\n', 'plugin'],
    ['globalThis.Deno', 'export const d = (globalThis as unknown as { Deno: unknown }).Deno;\n', 'plugin'],
  ])('reading %s outside src/runtime/ fails', (_name, source, rule) => {
    const r = lint('src/http/__lint_probe.ts', source);
    expect(r.ok).toBe(false);
    expect(r.rules).toContain(rule);
  });

  it('the same imports and globals are allowed inside src/runtime/', () => {
    const source = "import { readFile } from 'node:fs';\nimport { WebSocketServer } from 'ws';\nexport const all = [readFile, WebSocketServer, process.env];\n";
    expect(lint('src/runtime/node/__lint_probe.ts', source)).toEqual({ ok: true, rules: [], messages: [] });
  });

  it('the Redis store driver may import ioredis, but not an adapter', () => {
    expect(lint('src/store/redis.ts', "import type { Redis } from 'ioredis';\nexport type R = Redis;\n").ok).toBe(true);
    expect(lint('src/store/redis.ts', "import { workerd } from '../runtime/workerd/types.ts';\nexport const w = workerd;\n").rules).toEqual([
      'lint/style/noRestrictedImports',
    ]);
  });
});
