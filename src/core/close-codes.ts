/**
 * Which close codes may be put on the wire, and how codes that cannot be sent are mapped when
 * relaying a close from one leg to the other. RFC 6455 §7.4: 1005, 1006 and 1015 are reserved for
 * reporting and must never be sent; 1004 is reserved; only 1000–1014 and 3000–4999 are defined.
 * Bun and Deno send whatever code they are given (measured), so the core validates everywhere.
 */

export function isSendableCloseCode(code: number): boolean {
  if (!Number.isInteger(code)) return false;
  if (code >= 3000 && code <= 4999) return true;
  return code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006;
}

/** Close codes a WHATWG WebSocket client (undici, Deno, browsers) may send: 1000 or 3000–4999. */
export function isWhatwgClientCloseCode(code: number): boolean {
  return code === 1000 || (code >= 3000 && code <= 4999);
}

/**
 * Map a close received from the upstream to what the client gets:
 * 1005 (no status) → 1000, 1006/1015/0 or anything unsendable (lost, TLS failure, Deno's 0) → 1014.
 */
export function upstreamCloseToClient(code: number): number {
  if (code === 1005) return 1000;
  return isSendableCloseCode(code) ? code : 1014;
}

/**
 * Map a close received from the client to what the upstream gets. An abnormal client drop
 * (1006/0) becomes 1001 "going away"; 1005 becomes 1000. When the upstream leg is a WHATWG
 * client, 1001–1014 cannot be sent and become 1000 (the reason keeps the original code).
 */
export function clientCloseToUpstream(code: number, whatwgLeg: boolean): number {
  let mapped = code === 1005 ? 1000 : isSendableCloseCode(code) ? code : 1001;
  if (whatwgLeg && !isWhatwgClientCloseCode(mapped)) mapped = 1000;
  return mapped;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Close reasons are limited to 123 bytes of UTF-8 (a 125-byte control frame minus the code). */
export function clampReason(reason: string): string {
  if (reason.length <= 41) return reason; // 41 chars * 3 bytes < 123: cannot overflow
  const bytes = encoder.encode(reason);
  if (bytes.byteLength <= 123) return reason;
  let end = 123;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--; // do not split a code point
  return decoder.decode(bytes.subarray(0, end));
}

/** One row of the close-code documentation: what a client should do when it sees these codes. */
export interface CloseCodeAdvice {
  codes: readonly number[];
  meaning: string;
  /** Whether (and how) to reconnect; 4000–4499 always start with "yes", 4500–4999 with "no". */
  reconnect: string;
}

/**
 * The close codes the gateway itself sends after the upgrade, with the reconnect advice for each.
 * The README's "Close codes after the upgrade" table is checked against this list by a test, and
 * every close code in ERROR_TABLE must appear here.
 */
export const CLOSE_CODE_ADVICE: readonly CloseCodeAdvice[] = [
  { codes: [1000, 1001], meaning: 'normal / going away (gateway shutdown, upstream going away)', reconnect: 'yes' },
  {
    codes: [1002, 1007],
    meaning:
      "protocol error / invalid UTF-8 from the client (on Node's frame relay a client's invalid text is failed by the upstream endpoint and its 1007 relayed, as through nginx)",
    reconnect: 'fix the client',
  },
  { codes: [1009], meaning: 'message over `maxMessageBytes`', reconnect: 'no, same message fails again' },
  { codes: [1011], meaning: 'internal gateway error', reconnect: 'yes, with backoff' },
  { codes: [1012], meaning: 'upstream restarting (relayed)', reconnect: 'yes' },
  { codes: [1014], meaning: 'upstream failed: dropped (1006), TLS error (1015), protocol error, or missed pongs', reconnect: 'yes, with backoff' },
  { codes: [4401], meaning: 'token expired during the session', reconnect: 'yes, with a fresh token' },
  { codes: [4408], meaning: 'slow consumer: send buffer over `maxBufferedBytes`, or no progress for `sendTimeoutMs`', reconnect: 'yes' },
  { codes: [4409], meaning: 'heartbeat timeout (no pong)', reconnect: 'yes' },
  { codes: [4410], meaning: '`maxConnectionAgeMs` reached', reconnect: 'yes, at once' },
  { codes: [4429], meaning: '`maxMessagesPerSec` exceeded', reconnect: 'yes, after a pause' },
  { codes: [4903], meaning: 'closed by an administrator (`DELETE /_wsgate/connections/:id`)', reconnect: 'no' },
];
