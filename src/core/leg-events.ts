/**
 * What every runtime's Leg shares, whatever its socket:
 * - `LegEvents`: messages and a close that arrive before the session calls `listen` are kept and
 *   delivered then, in order; after a close nothing more is delivered;
 * - `exceedsLimit` and `TOO_BIG`: the route's message-size check for runtimes whose server cannot
 *   enforce a per-route limit itself (Bun's limit is server-wide; WHATWG sockets and workerd have
 *   none), with the one close reason every runtime uses.
 * Node's `ws` checks the limit from the frame header (`maxPayload`) before buffering a payload.
 */
import { ERROR_TABLE } from '../errors.ts';
import type { LegHandlers, Payload } from './leg.ts';

type Pending = ['message', Payload, boolean] | ['close', number, string];

/**
 * The early-event buffer of a Leg. A class, not a closure-built object literal: one shared shape
 * and prototype methods cost far less per connection than a dictionary-mode literal with getters.
 */
export class LegEvents {
  handlers: LegHandlers | undefined;
  closed = false;
  private pending: Pending[] | undefined = [];

  message(data: Payload, isBinary: boolean): void {
    if (this.closed) return;
    if (this.handlers) this.handlers.message(data, isBinary);
    else this.pending?.push(['message', data, isBinary]);
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.handlers) this.handlers.close(code, reason);
    else this.pending?.push(['close', code, reason]);
  }

  listen(h: LegHandlers): void {
    this.handlers = h;
    const queued = this.pending ?? [];
    this.pending = undefined;
    for (const item of queued) {
      if (item[0] === 'message') h.message(item[1], item[2]);
      else h.close(item[1], item[2]);
    }
  }
}

/** The close for a message over the route's `maxMessageBytes` on every runtime: `message_too_big` in the error table (1009). */
export const TOO_BIG = { code: ERROR_TABLE.message_too_big.close, reason: ERROR_TABLE.message_too_big.message } as const;

const encoder = new TextEncoder();

/** Whether `data` is larger than `max` bytes (a text message counts its UTF-8 bytes). */
export function exceedsLimit(data: string | { byteLength: number }, max: number | undefined): boolean {
  if (max === undefined) return false;
  if (typeof data !== 'string') return data.byteLength > max;
  // UTF-8 takes 1 to 3 bytes per UTF-16 unit: encode only when the length cannot decide.
  if (data.length * 3 <= max) return false;
  if (data.length > max) return true;
  return encoder.encode(data).byteLength > max;
}
