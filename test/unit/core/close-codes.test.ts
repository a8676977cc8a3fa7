/**
 * Close-code rules and mappings: what may be sent (RFC 6455 §7.4), how each direction maps what cannot, reasons within 123 bytes.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLOSE_CODE_ADVICE, clampReason, clientCloseToUpstream, isSendableCloseCode, isWhatwgClientCloseCode, upstreamCloseToClient } from '../../../src/core/close-codes.ts';
import { closeCodeOf, ERROR_TABLE } from '../../../src/errors.ts';

describe('isSendableCloseCode', () => {
  it('accepts 1000–1003, 1007–1014 and 3000–4999', () => {
    for (const c of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4429, 4999]) expect(isSendableCloseCode(c), String(c)).toBe(true);
  });
  it('rejects reserved and undefined codes', () => {
    for (const c of [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535, -1, 1000.5, NaN]) expect(isSendableCloseCode(c), String(c)).toBe(false);
  });
});

describe('upstreamCloseToClient', () => {
  it('passes sendable codes unchanged', () => {
    for (const c of [1000, 1001, 1011, 1012, 1013, 4001, 4999, 3000]) expect(upstreamCloseToClient(c)).toBe(c);
  });
  it('1005 → 1000; 1006, 1015, 0 (Deno) and other unsendable codes → 1014', () => {
    expect(upstreamCloseToClient(1005)).toBe(1000);
    for (const c of [1006, 1015, 0, 1004, 999, 5000]) expect(upstreamCloseToClient(c), String(c)).toBe(1014);
  });
});

describe('clientCloseToUpstream', () => {
  it('passes sendable codes unchanged to a ws upstream leg', () => {
    for (const c of [1000, 1001, 1011, 4000, 4999]) expect(clientCloseToUpstream(c, false)).toBe(c);
  });
  it('1005 → 1000, abnormal drops (1006, 0) → 1001', () => {
    expect(clientCloseToUpstream(1005, false)).toBe(1000);
    expect(clientCloseToUpstream(1006, false)).toBe(1001);
    expect(clientCloseToUpstream(0, false)).toBe(1001);
  });
  it('a WHATWG upstream leg only gets 1000 or 3000–4999', () => {
    for (const c of [1000, 1001, 1005, 1006, 1009, 1011, 1012, 3000, 4000, 4999]) {
      const m = clientCloseToUpstream(c, true);
      expect(isWhatwgClientCloseCode(m), `${c} → ${m}`).toBe(true);
    }
    expect(clientCloseToUpstream(4000, true)).toBe(4000);
    expect(clientCloseToUpstream(1001, true)).toBe(1000);
  });
});

describe('clampReason', () => {
  it('keeps short reasons and cuts long ones to 123 bytes without splitting a code point', () => {
    expect(clampReason('bye')).toBe('bye');
    const long = '€'.repeat(100); // 300 bytes
    const cut = clampReason(long);
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(123);
    expect(cut).toBe('€'.repeat(41));
    const ascii = 'a'.repeat(500);
    expect(clampReason(ascii)).toBe('a'.repeat(123));
    const mixed = 'a' + '😀'.repeat(40);
    const m = clampReason(mixed);
    expect(Buffer.byteLength(m)).toBeLessThanOrEqual(123);
    expect(m.includes('\ufffd')).toBe(false);
  });
});

describe('error table close codes', () => {
  it('every close code in the table is sendable, and the documented ones hold', () => {
    for (const [name, spec] of Object.entries(ERROR_TABLE)) if ('close' in spec) expect(isSendableCloseCode(spec.close), name).toBe(true);
    expect(closeCodeOf('message_too_big')).toBe(1009);
    expect(closeCodeOf('slow_consumer')).toBe(4408);
    expect(closeCodeOf('rate_limited')).toBe(4429);
    expect(closeCodeOf('heartbeat_timeout')).toBe(4409);
    expect(closeCodeOf('token_expired')).toBe(4401);
    expect(closeCodeOf('max_age')).toBe(4410);
    expect(closeCodeOf('bad_request')).toBe(1011); // no close code → 1011
  });
});

describe('close-code reconnect advice (CLOSE_CODE_ADVICE)', () => {
  it("the README's close-code table is exactly CLOSE_CODE_ADVICE", () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const section = readme.split('## Close codes after the upgrade')[1]?.split('\n## ')[0] ?? '';
    const rows = section
      .split('\n')
      .filter((l) => /^\| \d/.test(l))
      .map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));
    expect(rows.length).toBeGreaterThan(0);
    expect(rows).toEqual(CLOSE_CODE_ADVICE.map((a) => [a.codes.join(' / '), a.meaning, a.reconnect]));
  });

  it('every close code the error table uses has advice, and the advice follows the 4000–4499 / 4500–4999 ranges', () => {
    const advised = new Set(CLOSE_CODE_ADVICE.flatMap((a) => a.codes));
    for (const [name, spec] of Object.entries(ERROR_TABLE)) if ('close' in spec) expect(advised.has(spec.close), `${name} → ${spec.close}`).toBe(true);
    for (const a of CLOSE_CODE_ADVICE)
      for (const c of a.codes) {
        if (c >= 4000 && c <= 4499) expect(a.reconnect, String(c)).toMatch(/^yes/);
        if (c >= 4500 && c <= 4999) expect(a.reconnect, String(c)).toMatch(/^no/);
      }
  });
});
