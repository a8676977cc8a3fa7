// The default log writer on Node: JSON lines on stdout, the lines of one event-loop turn in one
// write (in order), nothing lost when the process exits right after logging.
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/log.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

afterEach(() => vi.restoreAllMocks());

describe('default writer (Node)', () => {
  it('writes the lines of one turn in one stdout write, in order, after the turn', async () => {
    const writes: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (writes.push(String(chunk)), true));
    const log = createLogger('info');
    log.info('a', { n: 1 });
    log.debug('filtered');
    log.warn('b', { n: 2 });
    log.error('c');
    expect(writes).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(writes).toHaveLength(1);
    const lines = writes[0]!.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ level: 'info', event: 'a', n: 1, time: expect.any(String) }),
      expect.objectContaining({ level: 'warn', event: 'b', n: 2 }),
      expect.objectContaining({ level: 'error', event: 'c' }),
    ]);
    log.info('d');
    await new Promise((r) => setImmediate(r));
    expect(writes).toHaveLength(2);
    expect(JSON.parse(writes[1]!)).toMatchObject({ event: 'd' });
  });

  it('lines logged right before process.exit() are written', async () => {
    const code = `import { createLogger } from './src/log.ts'; const l = createLogger('info'); for (let i = 0; i < 3; i++) l.info('line', { i }); process.exit(0);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exitCode = await new Promise((r) => child.on('exit', r));
    expect(exitCode).toBe(0);
    expect(out.trim().split('\n').map((l) => (JSON.parse(l) as { i: number }).i)).toEqual([0, 1, 2]);
  });

  it('a custom writer gets each line at once', () => {
    const lines: string[] = [];
    createLogger('debug', (l) => lines.push(l)).debug('x');
    expect(lines).toHaveLength(1);
  });
});
