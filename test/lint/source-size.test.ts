// House rule: one idea per file, no source file over 300 lines (past that a file is hiding a
// second idea that deserves its own name).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = new URL('../../src', import.meta.url).pathname;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : /\.(ts|mts|mjs)$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

describe('source files', () => {
  it('none is over 300 lines', () => {
    const files = sources(SRC);
    expect(files.length).toBeGreaterThan(50);
    const long = files.map((f) => [f.slice(SRC.length + 1), readFileSync(f, 'utf8').split('\n').length - 1] as const).filter(([, n]) => n > 300);
    expect(long).toEqual([]);
  });
});
