/**
 * The README's operator table and the settings table (src/cli-options.ts) cannot drift: every
 * setting has a row with its flag, its environment variable and its default, and every row of
 * the README table is a setting. `wsgate start --help` (a real process) lists every flag too.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SERVER_SETTINGS } from '../../src/cli-options.ts';
import { ROOT, runToEnd } from '../helpers/cli.ts';

/** Rows of the README table whose header is `| flag | env | default | meaning |`. */
function operatorRows(): string[][] {
  const lines = readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n');
  const start = lines.findIndex((l) => /^\| flag \| env \| default \| meaning \|/.test(l));
  expect(start, 'README has an operator table with columns flag | env | default | meaning').toBeGreaterThan(-1);
  const rows: string[][] = [];
  for (let i = start + 2; i < lines.length && lines[i]!.startsWith('|'); i++) rows.push(lines[i]!.split(' | ').map((c) => c.replace(/^\| ?| ?\|$/g, '').trim()));
  return rows;
}

describe('operator settings table', () => {
  it('every setting has a README row with its flag, environment variable and default; no row is stale', () => {
    const rows = operatorRows();
    for (const s of SERVER_SETTINGS) {
      const row = rows.find((r) => r[0]!.startsWith(`\`--${s.flag}`));
      expect(row, `README row for --${s.flag}`).toBeDefined();
      expect(row![1], `env of --${s.flag}`).toBe(`\`${s.env}\``);
      if (s.default !== undefined) expect(row![2], `default of --${s.flag}`).toContain(`\`${s.default}\``);
      if (s.devDefault !== undefined) expect(row![2], `dev default of --${s.flag}`).toContain(`\`${s.devDefault}\``);
      expect(row![3]!.length, `meaning of --${s.flag}`).toBeGreaterThan(10);
    }
    const flags = new Set(SERVER_SETTINGS.map((s) => s.flag));
    for (const r of rows) expect(flags.has(/^`--([a-z-]+)/.exec(r[0]!)?.[1] ?? ''), `README row ${r[0]} is a setting`).toBe(true);
  });

  it('`wsgate start --help` lists every flag with its environment variable', async () => {
    const { code, stdout } = await runToEnd(['start', '--help']);
    expect(code).toBe(0);
    for (const s of SERVER_SETTINGS) expect(stdout).toMatch(new RegExp(`--${s.flag}\\b.*${s.env}`));
  });
});
