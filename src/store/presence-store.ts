/**
 * Presence as a store capability. Every store keeps, per channel, one structure of connection
 * fields `<instance>\n<connId>` → user, and one store-wide table of instance leases
 * (instance → expiry, on the store's own clock). A member is present while its instance's lease
 * holds, so:
 *
 * - a join or a leave is one field write, whatever the channel's size (no rewrite of an entry);
 * - renewal is one lease write per instance, whatever the number of its channels and members
 *   (plus a keep-alive of its channels' structures, batched into the same round trip);
 * - a read is one round trip (one script on Redis), and a dead instance's members vanish from
 *   reads as soon as its lease expires; readers prune its fields.
 *
 * Nothing here lists the keyspace.
 */

export interface PresenceMember {
  conn: string;
  user: string;
  instance: string;
}

export interface PresenceStore {
  /**
   * Add a connection of `instance` to `channel`. When the instance holds no lease yet (first
   * join, or it lapsed) one is taken for `leaseMs` and the answer is true (see `renew`).
   */
  join(channel: string, instance: string, conn: string, user: string, leaseMs: number): Promise<boolean>;
  /** Remove a connection. */
  leave(channel: string, instance: string, conn: string): Promise<void>;
  /**
   * Renew the instance's lease for `leaseMs` and keep its channels' structures alive. Resolves
   * true when the lease had lapsed or was missing (the store restarted, or the instance was
   * paused past its lease): readers may have pruned its members, so it must `restore` them.
   */
  renew(instance: string, leaseMs: number, channels: readonly string[]): Promise<boolean>;
  /** Write every member of `instance` again (after a lapse or a store restart). */
  restore(instance: string, leaseMs: number, members: ReadonlyMap<string, ReadonlyMap<string, string>>): Promise<void>;
  /** Members of `channel` whose instance holds a lease: one round trip. */
  members(channel: string): Promise<PresenceMember[]>;
  /** How many such members, without transferring them. */
  count(channel: string): Promise<number>;
  /** Instances whose lease holds: one round trip, independent of the number of channels. */
  instances(): Promise<string[]>;
  /** Graceful shutdown: drop the instance's lease and its `members` (channel → conn → user). */
  drop(instance: string, members: ReadonlyMap<string, ReadonlyMap<string, string>>): Promise<void>;
}

export const field = (instance: string, conn: string): string => `${instance}\n${conn}`;
export function parseField(f: string): { instance: string; conn: string } {
  const i = f.indexOf('\n');
  return { instance: f.slice(0, i), conn: f.slice(i + 1) };
}
