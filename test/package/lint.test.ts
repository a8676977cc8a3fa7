/**
 * The package as registries and type checkers see it: publint (package.json fields, exports,
 * files) and Are The Types Wrong (every entry's types resolve, ESM-only by design: CommonJS
 * consumers use `import()`, or `require()` on Nodes that load ES modules with it).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;
const run = promisify(execFile);
const bin = (name: string) => `${ROOT}node_modules/.bin/${name}`;

describe('package lint', () => {
  it('publint reports no problem', async () => {
    const { stdout } = await run(bin('publint'), ['--strict', '--pack', 'npm'], { cwd: ROOT, timeout: 120_000 });
    expect(stdout).toMatch(/All good!/);
  }, 150_000);

  it('attw (esm-only profile) reports no problem for any entry', async () => {
    // The tarball of the current build (npm test built it; packing without scripts skips a rebuild).
    const dir = mkdtempSync(join(tmpdir(), 'wsgate-attw-'));
    try {
      const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, timeout: 120_000 });
      const tarball = join(dir, (JSON.parse(packed.stdout) as Array<{ filename: string }>)[0]!.filename);
      // Exit code 1 on any problem (the promise rejects with attw's table as the message).
      const { stdout } = await run(bin('attw'), [tarball, '--profile', 'esm-only', '--format', 'table-flipped'], { cwd: ROOT, timeout: 120_000 });
      for (const entry of ['"wsgate"', '"wsgate/node"', '"wsgate/bun"', '"wsgate/deno"', '"wsgate/workerd"', '"wsgate/route"', '"wsgate/stores/redis"']) expect(stdout).toContain(entry);
      expect(stdout).not.toMatch(/❌|💀 Resolution failed.*node16 \(from ESM\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);
});
