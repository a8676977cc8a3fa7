// The leg base every runtime shares: early events are buffered until the session listens, and one
// size check with one close reason applies the route's message limit where the server cannot.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { LegHandlers } from '../../../src/core/leg.ts';
import { exceedsLimit, LegEvents, TOO_BIG } from '../../../src/core/leg-events.ts';

function recorder() {
  const seen: unknown[] = [];
  const h: LegHandlers = {
    message: (d, b) => seen.push(['message', d, b]),
    close: (c, r) => seen.push(['close', c, r]),
    drain: () => seen.push(['drain']),
    pong: () => seen.push(['pong']),
  };
  return { seen, h };
}

describe('LegEvents', () => {
  it('delivers what arrived before listen, in order, then passes events straight through', () => {
    const ev = new LegEvents();
    ev.message('a', false);
    ev.message(new Uint8Array([1]), true);
    const { seen, h } = recorder();
    ev.listen(h);
    expect(seen).toEqual([
      ['message', 'a', false],
      ['message', new Uint8Array([1]), true],
    ]);
    ev.message('b', false);
    ev.close(1000, 'bye');
    expect(seen.slice(2)).toEqual([
      ['message', 'b', false],
      ['close', 1000, 'bye'],
    ]);
  });

  it('a close before listen is delivered after the messages before it; nothing after a close is', () => {
    const ev = new LegEvents();
    ev.message('a', false);
    ev.close(1006, '');
    ev.message('late', false);
    ev.close(1000, 'second');
    const { seen, h } = recorder();
    ev.listen(h);
    expect(seen).toEqual([
      ['message', 'a', false],
      ['close', 1006, ''],
    ]);
    expect(ev.closed).toBe(true);
  });
});

describe('exceedsLimit', () => {
  it('counts bytes, and UTF-8 bytes for text', () => {
    expect(exceedsLimit(new Uint8Array(10), 10)).toBe(false);
    expect(exceedsLimit(new Uint8Array(11), 10)).toBe(true);
    expect(exceedsLimit(new ArrayBuffer(11), 10)).toBe(true);
    expect(exceedsLimit('x'.repeat(10), 10)).toBe(false);
    expect(exceedsLimit('x'.repeat(11), 10)).toBe(true);
    expect(exceedsLimit('é'.repeat(5), 10)).toBe(false); // 10 bytes
    expect(exceedsLimit('é'.repeat(6), 10)).toBe(true); // 6 units, 12 bytes
    expect(exceedsLimit('€'.repeat(4), 10)).toBe(true); // 4 units, 12 bytes
    expect(exceedsLimit('😀'.repeat(3), 10)).toBe(true); // 6 units, 12 bytes
    expect(exceedsLimit('x'.repeat(1000), undefined)).toBe(false);
  });

  it('closes with the error table entry for message_too_big', () => {
    expect(TOO_BIG).toEqual({ code: 1009, reason: 'Message exceeds the route limit' });
  });
});

describe('every runtime adapter uses the shared leg base', () => {
  // Read as text: the Bun and workerd adapters cannot be imported under Node.
  const src = (path: string) => readFileSync(new URL(`../../../src/${path}`, import.meta.url), 'utf8');
  it.each([
    ['Node (ws)', 'runtime/node/ws-leg.ts'],
    ['Node (frame relay)', 'runtime/node/frame-writer.ts'],
    ['Bun', 'runtime/bun/adapter.ts'],
    ['Deno and WHATWG upstreams', 'core/whatwg-leg.ts'],
    ['workerd', 'runtime/workerd/ws-leg.ts'],
  ])('%s buffers early events with LegEvents and keeps no buffer of its own', (_name, path) => {
    const text = src(path);
    expect(text).toMatch(/import \{[^}]*\bLegEvents\b[^}]*\} from '[./]+(core\/)?leg-events\.ts'/);
    expect(text).toContain('new LegEvents()');
    expect(text).not.toMatch(/\bpending\b/);
  });
});
