/**
 * The frame relay's byte-level helpers against simple references: the in-place XOR (any offset,
 * alignment and key phase) against a byte loop, and the incremental UTF-8 check (any split of a
 * text into pieces) against Node's whole-buffer isUtf8.
 */
import { isUtf8 } from 'node:buffer';
import { randomBytes, randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Utf8Stream, xorRange } from '../../../../src/runtime/node/frame-codec.ts';

function naiveXor(b: Buffer, start: number, end: number, key: number, phase: number): number {
  for (let i = start; i < end; i++) {
    b[i] = b[i]! ^ ((key >>> (phase * 8)) & 0xff);
    phase = (phase + 1) & 3;
  }
  return phase;
}

/** Check `buf` split at random points; returns the stream's verdict. */
function streamed(buf: Buffer, cuts: number): boolean {
  const points = [...new Set(Array.from({ length: cuts }, () => randomInt(0, buf.length + 1)))].sort((a, b) => a - b);
  const u = new Utf8Stream();
  let from = 0;
  for (const p of [...points, buf.length]) {
    if (!u.push(buf, from, p, p === buf.length)) return false;
    from = p;
  }
  return true;
}

describe('xorRange', () => {
  it('matches a byte-by-byte XOR for random offsets, lengths and phases', () => {
    for (let n = 0; n < 500; n++) {
      const base = randomBytes(300);
      const off = randomInt(0, 8);
      const b = base.subarray(off); // unaligned views too
      const start = randomInt(0, 40);
      const end = start + randomInt(0, b.length - start);
      const key = randomBytes(4).readInt32LE(0);
      const phase = randomInt(0, 4);
      const a = Buffer.from(b);
      const p1 = xorRange(b, start, end, key, phase);
      const p2 = naiveXor(a, start, end, key, phase);
      expect(p1).toBe(p2);
      expect(b.equals(a)).toBe(true);
    }
  });
});

describe('Utf8Stream', () => {
  const samples = ['', 'plain ascii', 'héllo wörld', '€uro 中文 text', '😀 emoji 🎉', 'mix é€😀\u0000z'];
  const invalid = [
    [0xc0, 0xaf], // overlong
    [0xed, 0xa0, 0x80], // surrogate
    [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
    [0xe2, 0x82], // truncated at the end of the message
    [0x80], // stray continuation
    [0xff],
    [0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64],
  ];

  it('accepts valid text however it is split', () => {
    for (const s of samples) for (let k = 0; k < 50; k++) expect(streamed(Buffer.from(s.repeat(3)), randomInt(0, 12))).toBe(true);
  });

  it('rejects invalid sequences however they are split, with text around them', () => {
    for (const bad of invalid)
      for (let k = 0; k < 50; k++) expect(streamed(Buffer.concat([Buffer.from('ok é '), Buffer.from(bad), Buffer.from(k % 2 ? ' tail €' : '')]), randomInt(0, 10))).toBe(false);
  });

  it('agrees with isUtf8 on random byte strings split at random points', () => {
    for (let n = 0; n < 3000; n++) {
      const b = Buffer.from(Array.from({ length: randomInt(0, 12) }, () => [0x41, 0x80, 0xbf, 0xc2, 0xe0, 0xed, 0xf0, 0xf4, 0xa0, 0x90][randomInt(0, 10)]!));
      expect(streamed(b, randomInt(0, 6))).toBe(isUtf8(b));
    }
  });
});
