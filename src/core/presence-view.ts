/**
 * One channel's presence as this instance sees it: user → instance → connections, and the
 * sessions it reports to. Client events are derived here and only here: `join` when a user
 * appears (on any instance), `leave` when it has no connection left anywhere; a session gets the
 * snapshot first (`tell`) and deltas from then on.
 */
import type { Wire } from './channel-wire.ts';
import type { Session } from './session.ts';

export interface PresenceUser {
  user: string;
  connections: number;
}

const encoder = new TextEncoder();

export class PresenceView {
  ready = false;
  readonly users = new Map<string, Map<string, number>>();
  /** Deltas that arrived while the view was loading, applied after the store's snapshot. */
  queue: Wire[] = [];
  /** Sessions that had their snapshot (they get deltas), and those waiting for it. */
  readonly told = new Set<Session>();
  readonly waiting = new Set<Session>();
  /** When a delta last came for `<instance>\n<user>` (monotonic ms): reads begun earlier are stale for it. */
  readonly heard = new Map<string, number>();

  constructor(readonly channel: string) {}

  /** Set `user`'s connections on `instance`; announce when the user appears or disappears. */
  set(user: string, instance: string, n: number): void {
    let per = this.users.get(user);
    const was = per !== undefined;
    if (n > 0) {
      if (!per) this.users.set(user, (per = new Map()));
      per.set(instance, n);
    } else if (per) {
      per.delete(instance);
      if (per.size === 0) this.users.delete(user);
    }
    const is = this.users.has(user);
    if (was !== is) this.announce(is ? 'join' : 'leave', user);
  }

  /** Send the snapshot; from now on the session gets deltas. */
  tell(s: Session): void {
    this.told.add(s);
    if (s.state !== 'open') return;
    const users: PresenceUser[] = [];
    for (const [user, per] of this.users) {
      let connections = 0;
      for (const n of per.values()) connections += n;
      users.push({ user, connections });
    }
    users.sort((a, b) => (a.user < b.user ? -1 : a.user > b.user ? 1 : 0));
    s.sendToClient(JSON.stringify({ type: 'presence', channel: this.channel, users }), false);
  }

  private announce(type: 'join' | 'leave', user: string): void {
    if (this.told.size === 0) return;
    const bytes = encoder.encode(JSON.stringify({ type, channel: this.channel, user }));
    for (const s of this.told) s.sendToClient(bytes, false);
  }
}
