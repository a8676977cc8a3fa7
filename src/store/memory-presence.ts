/**
 * Presence for the memory store (presence-store.ts), on the store's injected clock. The same
 * shape as on Redis: per channel a map of `<instance>\n<conn>` → user, and a lease per instance;
 * reads skip and prune the members of instances whose lease lapsed.
 */
import { field, parseField, type PresenceMember, type PresenceStore } from './presence-store.ts';

export function createMemoryPresence(now: () => number = Date.now): PresenceStore {
  const channels = new Map<string, Map<string, string>>();
  const leases = new Map<string, number>();
  const live = (instance: string): boolean => (leases.get(instance) ?? 0) > now();

  function hold(instance: string, leaseMs: number): boolean {
    const lapsed = !live(instance);
    leases.set(instance, now() + leaseMs);
    return lapsed;
  }
  function prune(channel: string): Map<string, string> | undefined {
    const m = channels.get(channel);
    if (!m) return undefined;
    for (const f of m.keys()) if (!live(parseField(f).instance)) m.delete(f);
    if (m.size === 0) channels.delete(channel);
    return channels.get(channel);
  }

  return {
    async join(channel, instance, conn, user, leaseMs) {
      const lapsed = !live(instance);
      if (lapsed) hold(instance, leaseMs);
      let m = channels.get(channel);
      if (!m) channels.set(channel, (m = new Map()));
      m.set(field(instance, conn), user);
      return lapsed;
    },
    async leave(channel, instance, conn) {
      const m = channels.get(channel);
      m?.delete(field(instance, conn));
      if (m?.size === 0) channels.delete(channel);
    },
    async renew(instance, leaseMs) {
      return hold(instance, leaseMs);
    },
    async restore(instance, leaseMs, members) {
      hold(instance, leaseMs);
      for (const [channel, conns] of members) {
        let m = channels.get(channel);
        if (!m) channels.set(channel, (m = new Map()));
        for (const [conn, user] of conns) m.set(field(instance, conn), user);
      }
    },
    async members(channel) {
      const out: PresenceMember[] = [];
      for (const [f, user] of prune(channel) ?? []) out.push({ ...parseField(f), user });
      return out;
    },
    async count(channel) {
      return prune(channel)?.size ?? 0;
    },
    async instances() {
      for (const i of [...leases.keys()]) if (!live(i)) leases.delete(i);
      return [...leases.keys()];
    },
    async drop(instance, members) {
      leases.delete(instance);
      for (const [channel, conns] of members) {
        const m = channels.get(channel);
        if (!m) continue;
        for (const conn of conns.keys()) m.delete(field(instance, conn));
        if (m.size === 0) channels.delete(channel);
      }
    },
  };
}
