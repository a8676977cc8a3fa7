/**
 * The connections on this instance, by id, by user (per route, for per-user caps) and by channel
 * (for local fan-out). The maps are private: callers look up through methods, so only `add` and
 * `remove` change them. Everything a session adds it removes in `remove`; tests assert the
 * indexes return to empty (`indexSizes()`) after storms of connects, resets and closes.
 */
import type { Session } from './session.ts';

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(value);
}

function removeFrom<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}

/** Sockets a connection on `route` holds: the client's, plus the upstream leg on a relay route. */
export const socketsOf = (route: { upstreams: readonly unknown[] }): number => (route.upstreams.length > 0 ? 2 : 1);

const NONE: ReadonlySet<Session> = new Set();

export class Registry {
  private readonly byId = new Map<string, Session>();
  private readonly byUser = new Map<string, Set<Session>>();
  private readonly byChannel = new Map<string, Set<Session>>();
  private readonly perRoute = new Map<string, number>();
  private held = 0;

  add(s: Session): void {
    this.byId.set(s.id, s);
    if (s.userId !== undefined) addTo(this.byUser, s.userId, s);
    if (s.channel !== undefined) addTo(this.byChannel, s.channel, s);
    this.perRoute.set(s.route.name, (this.perRoute.get(s.route.name) ?? 0) + 1);
    this.held += socketsOf(s.route);
  }

  remove(s: Session): void {
    if (!this.byId.delete(s.id)) return;
    this.held -= socketsOf(s.route);
    if (s.userId !== undefined) removeFrom(this.byUser, s.userId, s);
    if (s.channel !== undefined) removeFrom(this.byChannel, s.channel, s);
    const n = (this.perRoute.get(s.route.name) ?? 1) - 1;
    if (n === 0) this.perRoute.delete(s.route.name);
    else this.perRoute.set(s.route.name, n);
  }

  /** Open connections of `userId` on the route named `routeName`. */
  countUser(userId: string, routeName: string): number {
    let n = 0;
    for (const s of this.byUser.get(userId) ?? []) if (s.route.name === routeName) n++;
    return n;
  }

  /** The connection with this id, if it is open on this instance. */
  get(id: string): Session | undefined {
    return this.byId.get(id);
  }

  /** Every open connection (a snapshot: safe to close them while iterating). */
  all(): Session[] {
    return [...this.byId.values()];
  }

  /** The open connections of `userId`, on every route. */
  ofUser(userId: string): ReadonlySet<Session> {
    return this.byUser.get(userId) ?? NONE;
  }

  /** The channels with at least one open connection on this instance. */
  channelNames(): IterableIterator<string> {
    return this.byChannel.keys();
  }

  /** The open connections on `channel` on this instance. */
  inChannel(channel: string): ReadonlySet<Session> {
    return this.byChannel.get(channel) ?? NONE;
  }

  /** How many keys each index holds; all 0 once every connection is gone. */
  indexSizes(): { ids: number; users: number; channels: number; routes: number } {
    return { ids: this.byId.size, users: this.byUser.size, channels: this.byChannel.size, routes: this.perRoute.size };
  }

  openByRoute(): ReadonlyMap<string, number> {
    return this.perRoute;
  }

  get size(): number {
    return this.byId.size;
  }

  /** Sockets the open connections hold: two per relayed connection, one per hub connection. */
  get sockets(): number {
    return this.held;
  }
}
