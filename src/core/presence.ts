/**
 * Presence leases in the store's KV. Each instance writes one entry per channel it has members
 * in — `presence:<channel>:<instance>` → `{ at, conns: { connId: userId } }` — renewed every
 * ttl/3 and written with a KV ttl. Readers merge every instance's entry and ignore entries not
 * renewed within the ttl, so a killed instance's users vanish within one ttl (RELIABILITY G4)
 * even on a KV without expiry. One writer per key: no cross-instance write races.
 */
import type { Storage } from 'unstorage';

export interface PresenceEntry {
  at: number;
  conns: Record<string, string>;
}

export interface PresenceUser {
  user: string;
  connections: number;
}

export class PresenceLeases {
  /** channel -> (connId -> userId) for this instance. */
  readonly local = new Map<string, Map<string, string>>();

  constructor(
    private readonly kv: Storage,
    private readonly instance: string,
    private readonly ttlSec: number,
    private readonly wallNow: () => number,
  ) {}

  private key(channel: string): string {
    return `presence:${encodeURIComponent(channel)}:${this.instance}`;
  }

  add(channel: string, connId: string, user: string): void {
    let m = this.local.get(channel);
    if (!m) this.local.set(channel, (m = new Map()));
    m.set(connId, user);
  }

  remove(channel: string, connId: string): void {
    const m = this.local.get(channel);
    if (!m) return;
    m.delete(connId);
    if (m.size === 0) this.local.delete(channel);
  }

  /** Write this instance's entry for `channel` (or remove it when empty). */
  async write(channel: string): Promise<void> {
    const m = this.local.get(channel);
    if (!m || m.size === 0) {
      await this.kv.removeItem(this.key(channel));
      return;
    }
    const entry: PresenceEntry = { at: this.wallNow(), conns: Object.fromEntries(m) };
    await this.kv.setItem(this.key(channel), JSON.stringify(entry), { ttl: this.ttlSec });
  }

  async renewAll(): Promise<void> {
    await Promise.all([...this.local.keys()].map((ch) => this.write(ch)));
  }

  /** Every live entry for `channel`, across instances. */
  async entries(channel: string): Promise<Array<{ instance: string; entry: PresenceEntry }>> {
    const prefix = `presence:${encodeURIComponent(channel)}:`;
    const keys = (await this.kv.getKeys(prefix)).filter((k) => k.startsWith(prefix) && !k.slice(prefix.length).includes(':'));
    const now = this.wallNow();
    const out: Array<{ instance: string; entry: PresenceEntry }> = [];
    for (const key of keys) {
      const raw = await this.kv.getItem(key);
      const entry = (typeof raw === 'string' ? JSON.parse(raw) : raw) as PresenceEntry | null;
      if (!entry || typeof entry.at !== 'number' || now - entry.at > this.ttlSec * 1000) continue;
      out.push({ instance: key.slice(prefix.length), entry });
    }
    return out;
  }

  /** Users on the channel with their connection counts (two tabs are one user). */
  async users(channel: string): Promise<PresenceUser[]> {
    const counts = new Map<string, number>();
    for (const { entry } of await this.entries(channel))
      for (const user of Object.values(entry.conns)) counts.set(user, (counts.get(user) ?? 0) + 1);
    return [...counts].map(([user, connections]) => ({ user, connections })).sort((a, b) => a.user.localeCompare(b.user));
  }

  async dispose(): Promise<void> {
    await Promise.all([...this.local.keys()].map((ch) => this.kv.removeItem(this.key(ch)).catch(() => {})));
    this.local.clear();
  }
}
