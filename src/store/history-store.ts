/**
 * Message history as a store capability, for channels whose route opts in (`history`). Every
 * message published with history gets the channel's next `offset` (1, 2, 3, …) and is kept, with
 * at most `size` messages per channel, until `ttlSec` after the channel's last publish. The
 * channel's `epoch` changes whenever its history is lost (expired, or the store restarted empty),
 * so an offset is only meaningful with its epoch.
 *
 * Append and fan-out are one atomic step (on Redis one script doing XADD + PUBLISH), so the
 * pub/sub stream of a channel arrives in offset order and a subscriber that sees offset n + 2
 * after n knows n + 1 is missing and can read it back.
 */

export interface HistoryOptions {
  size: number;
  ttlSec: number;
}

export interface HistoryEntry {
  offset: number;
  /** The published message: the wire JSON with `"o"` (offset) and `"ep"` (epoch) added. */
  message: string;
}

export interface HistoryRead {
  epoch: string;
  /** The channel's last offset (0: nothing published in this epoch). */
  top: number;
  /** Entries with offset > since, in order. */
  entries: HistoryEntry[];
  /** False when history no longer holds every offset after `since` (or the epoch changed). */
  complete: boolean;
}

export interface HistoryStore {
  /**
   * Append `wire` (a JSON object's text) to the channel's history and publish it on `topic` with
   * `"o"` and `"ep"` added, atomically. Resolves with the offset and epoch it got.
   */
  publish(channel: string, topic: string, wire: string, opts: HistoryOptions): Promise<{ offset: number; epoch: string }>;
  /** What history holds after `since` in `epoch` (undefined epoch: the current one). */
  read(channel: string, since: number, epoch: string | undefined, limit: number): Promise<HistoryRead>;
}

/** The published text: the wire object with offset and epoch first. */
export function stamp(wire: string, offset: number, epoch: string): string {
  return `{"o":${offset},"ep":${JSON.stringify(epoch)},${wire.slice(1)}`;
}

export const newEpoch = (): string => crypto.randomUUID().replace(/-/g, '').slice(0, 12);
