// The Node adapter's log writer: JSON lines on stdout, the lines of up to LOG_FLUSH_MS in one
// write (in order), nothing lost when the process exits right after logging.
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../../../src/log.ts';
import { LOG_FLUSH_MS, stdoutLines } from '../../../../src/runtime/node/stdout-lines.ts';

const afterFlush = () => new Promise((r) => setTimeout(r, LOG_FLUSH_MS + 20));

const ROOT = new URL('../../../..', import.meta.url).pathname;

afterEach(() => vi.restoreAllMocks());

describe('the Node adapter log writer (stdoutLines)', () => {
  it('writes the lines of a flush interval in one stdout write, in order, shortly after', async () => {
    const writes: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (writes.push(String(chunk)), true));
    const log = createLogger('info', stdoutLines());
    log.info('a', { n: 1 });
    log.debug('filtered');
    log.warn('b', { n: 2 });
    log.error('c');
    expect(writes).toEqual([]);
    await new Promise((r) => setImmediate(r));
    log.info('a2');
    await afterFlush();
    expect(writes).toHaveLength(1);
    const lines = writes[0]!.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ level: 'info', event: 'a', n: 1, time: expect.any(String) }),
      expect.objectContaining({ level: 'warn', event: 'b', n: 2 }),
      expect.objectContaining({ level: 'error', event: 'c' }),
      expect.objectContaining({ level: 'info', event: 'a2' }),
    ]);
    log.info('d');
    await afterFlush();
    expect(writes).toHaveLength(2);
    expect(JSON.parse(writes[1]!)).toMatchObject({ event: 'd' });
  });

  it.each([
    ['process.exit()', 'process.exit(0);'],
    ['the event loop running empty (the flush timer does not keep it alive)', ''],
  ])('lines logged right before %s are written', async (_name, end) => {
    const code = `import { createLogger } from './src/log.ts'; import { stdoutLines } from './src/runtime/node/stdout-lines.ts'; const l = createLogger('info', stdoutLines()); for (let i = 0; i < 3; i++) l.info('line', { i }); ${end}`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exitCode = await new Promise((r) => child.on('exit', r));
    expect(exitCode).toBe(0);
    expect(out.trim().split('\n').map((l) => (JSON.parse(l) as { i: number }).i)).toEqual([0, 1, 2]);
  });

  it('a burst past 64 KiB is written at once, without waiting for the timer; nothing lost, in order', async () => {
    const writes: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (writes.push(String(chunk)), true));
    const log = createLogger('info', stdoutLines());
    const big = 'x'.repeat(1024);
    for (let i = 0; i < 70; i++) log.info('big', { big, i });
    expect(writes).toHaveLength(1);
    await afterFlush();
    expect(writes).toHaveLength(2);
    const seq = writes.join('').trim().split('\n').map((l) => (JSON.parse(l) as { i: number }).i);
    expect(seq).toEqual([...Array(70).keys()]);
  });

  it('a custom writer gets each line at once', () => {
    const lines: string[] = [];
    createLogger('debug', (l) => lines.push(l)).debug('x');
    expect(lines).toHaveLength(1);
  });
});
