// JSON-lines logging: every line parses, carries time/level/event first, merges the fields.
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';

describe('logger', () => {
  it('writes one JSON object per event at or above its level, fields merged, undefined left out', () => {
    const lines: string[] = [];
    const log = createLogger('info', (l) => lines.push(l));
    log.debug('hidden');
    log.info('open', { conn: 'c1', route: '/r/:x', ip: '127.0.0.1', sub: undefined, n: 3, ok: true, none: null });
    log.warn('odd "event"\nname');
    log.error('with_keys', { event: 'field wins', level: 'x' });
    expect(lines).toHaveLength(3);
    const [a, b, c] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(Object.keys(a!)).toEqual(['time', 'level', 'event', 'conn', 'route', 'ip', 'n', 'ok', 'none']);
    expect(a).toMatchObject({ level: 'info', event: 'open', conn: 'c1', route: '/r/:x', ip: '127.0.0.1', n: 3, ok: true, none: null });
    expect(new Date(a!.time as string).toISOString()).toBe(a!.time);
    expect(Math.abs(Date.parse(a!.time as string) - Date.now())).toBeLessThan(60_000);
    expect(b).toEqual({ time: b!.time, level: 'warn', event: 'odd "event"\nname' });
    expect(c).toEqual({ time: c!.time, level: 'x', event: 'field wins' }); // as before: fields override
  });

  it('silent writes nothing', () => {
    const lines: string[] = [];
    const log = createLogger('silent', (l) => lines.push(l));
    log.error('e');
    expect(lines).toEqual([]);
  });
});
