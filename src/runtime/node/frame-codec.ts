/**
 * The small pieces of RFC 6455 framing the frame-aware relay needs: header sizes, masking keys,
 * an in-place XOR over a byte range, encoding of the few frames the gateway writes itself
 * (control frames, injected messages), and an incremental UTF-8 check for text relayed to clients.
 * Payloads are never decoded or copied here except control payloads (at most 125 bytes).
 */
import { isUtf8 } from 'node:buffer';
import { randomFillSync } from 'node:crypto';
import { isSendableCloseCode } from '../../core/close-codes.ts';

export const OP_CONT = 0;
export const OP_TEXT = 1;
export const OP_BINARY = 2;
export const OP_CLOSE = 8;
export const OP_PING = 9;
export const OP_PONG = 10;

/** Bytes of a frame header given its first two bytes (length field and masking key included). */
export function headerLength(b1: number): number {
  const len7 = b1 & 0x7f;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
}

// Masking keys come from one pooled crypto-random buffer (as ws does): a randomFillSync per frame
// would cost a syscall-sized call for 4 bytes.
const POOL = Buffer.allocUnsafe(8192);
let poolAt = POOL.length;

/** A fresh crypto-random masking key as a little-endian int32 (RFC 6455 §5.3). */
export function newMaskKey(): number {
  if (poolAt + 4 > POOL.length) {
    randomFillSync(POOL);
    poolAt = 0;
  }
  const k = POOL.readInt32LE(poolAt);
  poolAt += 4;
  return k;
}

/** A Sec-WebSocket-Key (16 random bytes, base64) from the same pool: one dial per handshake. */
export function newHandshakeKey(): string {
  if (poolAt + 16 > POOL.length) {
    randomFillSync(POOL);
    poolAt = 0;
  }
  const k = POOL.toString('base64', poolAt, poolAt + 16);
  poolAt += 16;
  return k;
}

/** The key rotated so that byte `phase` comes first (little-endian int32). */
function rotate(key: number, phase: number): number {
  if (phase === 0) return key;
  const s = phase * 8;
  return (key >>> s) | (key << (32 - s));
}

/**
 * XOR `b[start, end)` in place with `key` (little-endian int32) starting at key byte `phase`;
 * returns the phase after the range. Aligned 32-bit words do the bulk of the work.
 */
export function xorRange(b: Buffer, start: number, end: number, key: number, phase: number): number {
  let i = start;
  while (i < end && ((b.byteOffset + i) & 3) !== 0) {
    b[i] = b[i]! ^ ((key >>> (phase * 8)) & 0xff);
    phase = (phase + 1) & 3;
    i++;
  }
  const words = (end - i) >>> 2;
  if (words > 0) {
    const k = rotate(key, phase);
    const u = new Int32Array(b.buffer, b.byteOffset + i, words);
    const n4 = words & ~3;
    let w = 0;
    for (; w < n4; w += 4) {
      u[w] = u[w]! ^ k;
      u[w + 1] = u[w + 1]! ^ k;
      u[w + 2] = u[w + 2]! ^ k;
      u[w + 3] = u[w + 3]! ^ k;
    }
    for (; w < words; w++) u[w] = u[w]! ^ k;
    i += words << 2;
  }
  while (i < end) {
    b[i] = b[i]! ^ ((key >>> (phase * 8)) & 0xff);
    phase = (phase + 1) & 3;
    i++;
  }
  return phase;
}

/** One whole frame (FIN set); masked with a fresh key when `mask` (frames the gateway sends as a client). */
export function encodeFrame(opcode: number, payload: Uint8Array, mask: boolean): Buffer {
  const len = payload.byteLength;
  const lenBytes = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const hl = 2 + lenBytes + (mask ? 4 : 0);
  const out = Buffer.allocUnsafe(hl + len);
  out[0] = 0x80 | opcode;
  out[1] = (mask ? 0x80 : 0) | (len < 126 ? len : len < 65536 ? 126 : 127);
  if (lenBytes === 2) out.writeUInt16BE(len, 2);
  else if (lenBytes === 8) {
    out.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    out.writeUInt32BE(len >>> 0, 6);
  }
  out.set(payload, hl);
  if (mask) {
    const key = newMaskKey();
    out.writeInt32LE(key, hl - 4);
    xorRange(out, hl, hl + len, key, 0);
  }
  return out;
}

/** A close frame; `code` 1005 means no status (an empty payload). */
export function encodeClose(code: number, reason: string, mask: boolean): Buffer {
  if (code === 1005) return encodeFrame(OP_CLOSE, Buffer.alloc(0), mask);
  const r = Buffer.from(reason);
  const p = Buffer.allocUnsafe(2 + r.length);
  p.writeUInt16BE(code, 0);
  r.copy(p, 2);
  return encodeFrame(OP_CLOSE, p, mask);
}

/** A received close payload: code and reason, or the close code to fail with (1002/1007). */
export function parseClose(p: Buffer): { code: number; reason: string } | { fail: number } {
  if (p.length === 0) return { code: 1005, reason: '' };
  if (p.length === 1) return { fail: 1002 };
  const code = p.readUInt16BE(0);
  if (!isSendableCloseCode(code)) return { fail: 1002 };
  const r = p.subarray(2);
  if (!isUtf8(r)) return { fail: 1007 };
  return { code, reason: r.toString() };
}

/** Whether `b` can be the byte at `pos` (1..3) of a sequence starting with `lead` (RFC 3629 table). */
function validAt(lead: number, pos: number, b: number): boolean {
  if (pos === 1) {
    if (lead === 0xe0) return b >= 0xa0 && b <= 0xbf;
    if (lead === 0xed) return b >= 0x80 && b <= 0x9f;
    if (lead === 0xf0) return b >= 0x90 && b <= 0xbf;
    if (lead === 0xf4) return b >= 0x80 && b <= 0x8f;
  }
  return (b & 0xc0) === 0x80;
}

function seqLength(lead: number): number {
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

/**
 * UTF-8 validation of a text message that arrives in pieces (frames split across TCP chunks,
 * fragments). The bulk goes through Node's isUtf8 (simdutf); a code point cut at a piece boundary
 * is carried (at most 3 bytes, in three small integers) and checked byte by byte, so an invalid
 * prefix fails at once rather than at the end of the message.
 */
export class Utf8Stream {
  private lead = 0;
  private need = 0;
  private have = 0;

  reset(): void {
    this.lead = this.need = this.have = 0;
  }

  /** Check `b[start, end)`; `final` when it ends the message. False when invalid. */
  push(b: Buffer, start: number, end: number, final: boolean): boolean {
    let s = start;
    while (this.need > 0 && s < end) {
      if (!validAt(this.lead, this.have, b[s]!)) return false;
      s++;
      if (++this.have === this.need) this.need = this.have = 0;
    }
    if (s < end) {
      // Find a sequence cut by the end of the range: look back over at most 3 bytes.
      let cut = end;
      for (let k = 1; k <= 3 && end - k >= s; k++) {
        const c = b[end - k]!;
        if ((c & 0xc0) === 0x80) continue;
        if (c >= 0xc0) {
          const n = seqLength(c);
          if (n === 0) return false;
          if (n > k) cut = end - k;
        }
        break;
      }
      if (cut > s && !isUtf8(b.subarray(s, cut))) return false;
      if (cut < end) {
        this.lead = b[cut]!;
        this.need = seqLength(this.lead);
        this.have = 1;
        for (let j = cut + 1; j < end; j++, this.have++) if (!validAt(this.lead, this.have, b[j]!)) return false;
      }
    }
    return !(final && this.need > 0);
  }
}
