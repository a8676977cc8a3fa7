/**
 * The presence tracker: this instance's members in the store (presence-store.ts) and, per channel
 * with local members, a view of who is there on every instance — user → instance → connections —
 * from which every client-visible event is derived:
 *
 * - a joiner gets `{"type":"presence","channel","users"}` (the view, itself included) first, and
 *   from then on `join`/`leave` deltas; events go only to sessions that had their snapshot;
 * - `join` when a user appears in the view (on any instance), `leave` when it has no connection
 *   left on any instance: a second tab, or the same user on another instance, is no event;
 * - other instances' changes arrive as deltas (`n` = that user's connections on that instance
 *   after the change, so a repeated delta is harmless) and an instance whose lease lapsed (it
 *   died) is dropped from every view by the sweep: one lease read, whatever the channel count;
 * - after a broker outage the view is re-read from the store; no absence counts as a leave while
 *   the store is degraded nor for 2 × ttl after (every instance rewrites its members on its own
 *   schedule), and users who really left meanwhile are announced once that grace is over.
 *
 * Lease: 0.8 × ttl, renewed every ttl/4, swept every ttl/10, so a dead instance's users are
 * announced left within 0.9 × ttl of its last renewal (the README's "within the presence TTL").
 */
import type { PresenceMember, PresenceStore } from '../store/presence-store.ts';
import type { StoreHealth } from '../store/types.ts';
import type { Wire } from './channel-wire.ts';
import type { Clock } from './clock.ts';
import { PresenceView, type PresenceUser } from './presence-view.ts';
import type { Session } from './session.ts';

export type { PresenceUser } from './presence-view.ts';

export interface TrackerDeps {
  presence: PresenceStore;
  instance: string;
  ttlSec: number;
  clock: Clock;
  health(): StoreHealth;
  /** Subscribe the channel's topic; resolves once deltas from other instances can arrive. */
  subscribe(channel: string): Promise<void>;
  /** Send a delta to the other instances. */
  send(channel: string, w: Wire): Promise<void>;
  /**
   * Whether any route shows presence events (`presenceEvents`): deltas exist only for them, so
   * when none does, joins and leaves are store writes alone, not one publish each. Asked per
   * change (routes can be reloaded). @default always
   */
  announce?: () => boolean;
  warn(event: string, err: unknown): void;
}

export const userOf = (s: Session): string => s.userId ?? `anon:${s.id.slice(0, 8)}`;

export class PresenceTracker {
  /** channel → connId → user, this instance's members. */
  readonly local = new Map<string, Map<string, string>>();
  private readonly counts = new Map<string, Map<string, number>>();
  private readonly views = new Map<string, PresenceView>();
  private readonly leaseMs: number;
  private readonly graceMs: number;
  private leaveGraceUntil = 0;
  /** Deltas may have been lost in an outage: re-read every view once its grace is over. */
  private resyncAfterGrace = false;
  private renewRound = 0;
  /** When a delta last came from each instance (a lease read begun earlier may predate its lease). */
  private readonly heardFrom = new Map<string, number>();
  private readonly timers: unknown[];

  constructor(private readonly d: TrackerDeps) {
    const ttlMs = d.ttlSec * 1000;
    this.leaseMs = ttlMs * 0.8;
    this.graceMs = 2 * ttlMs;
    this.timers = [d.clock.setInterval(() => void this.renew(), Math.max(50, ttlMs / 4)), d.clock.setInterval(() => void this.sweep(), Math.max(50, ttlMs / 10))];
  }

  /** Set when the instance drains (see leave). */
  quiet = false;

  join(session: Session): void {
    const channel = session.channel!;
    const user = userOf(session);
    const view = this.view(channel);
    if (session.route.presence) {
      let m = this.local.get(channel);
      if (!m) this.local.set(channel, (m = new Map()));
      m.set(session.id, user);
      const n = this.bump(channel, user, 1);
      view.set(user, this.d.instance, n);
      void this.d.presence
        .join(channel, this.d.instance, session.id, user, this.leaseMs)
        // A lapsed lease (first join, or the store restarted): readers may have pruned the others.
        .then((lapsed) => (lapsed && (this.local.size > 1 || m.size > 1) ? this.restore() : undefined))
        .then(() => (this.d.announce?.() === false ? undefined : this.d.send(channel, { k: 'p', i: this.d.instance, e: 'join', from: user, n })))
        .catch((err) => this.d.warn('presence_write_failed', err));
    }
    if (!session.route.presenceEvents) return;
    if (view.ready) view.tell(session);
    else view.waiting.add(session);
  }

  /** `last`: no member of any route is left on the channel here (drop the view). */
  leave(session: Session, last: boolean): void {
    const channel = session.channel!;
    const user = userOf(session);
    const view = this.views.get(channel);
    view?.told.delete(session);
    view?.waiting.delete(session);
    // Draining: no store write and no `leave` to the members still here, one by one (with
    // thousands of members that is quadratic work); dispose() drops this instance's entries in
    // one call, and other instances see the users go then.
    if (this.quiet) return;
    const m = this.local.get(channel);
    if (session.route.presence && m?.delete(session.id)) {
      if (m.size === 0) this.local.delete(channel);
      const n = this.bump(channel, user, -1);
      if (view) view.set(user, this.d.instance, n);
      void this.d.presence
        .leave(channel, this.d.instance, session.id)
        .then(() => (this.d.announce?.() === false ? undefined : this.d.send(channel, { k: 'p', i: this.d.instance, e: 'leave', from: user, n })))
        .catch((err) => this.d.warn('presence_write_failed', err));
    }
    if (last) {
      this.views.delete(channel);
      this.counts.delete(channel);
    }
  }

  /** A delta from another instance. */
  onDelta(channel: string, w: Wire): void {
    const view = this.views.get(channel);
    if (!view || w.from === undefined || w.i === this.d.instance) return;
    const now = this.d.clock.now();
    this.heardFrom.set(w.i, now);
    view.heard.set(`${w.i}\n${w.from}`, now);
    if (!view.ready) view.queue.push(w);
    else view.set(w.from, w.i, w.n ?? (w.e === 'join' ? 1 : 0));
  }

  /** The broker was lost and is back: the store may have lost our members, deltas were lost. */
  onGap(channel: string): void {
    this.holdLeaves();
    void this.renew();
    void this.resync(channel);
  }

  async users(channel: string): Promise<PresenceUser[]> {
    const counts = new Map<string, number>();
    for (const m of await this.d.presence.members(channel)) counts.set(m.user, (counts.get(m.user) ?? 0) + 1);
    return [...counts].map(([user, connections]) => ({ user, connections })).sort((a, b) => a.user.localeCompare(b.user));
  }

  async dispose(): Promise<void> {
    for (const t of this.timers) this.d.clock.clearInterval(t);
    const local = new Map(this.local);
    this.local.clear();
    this.views.clear();
    if (local.size > 0) await this.d.presence.drop(this.d.instance, local).catch(() => {});
  }

  // ---- views

  private view(channel: string): PresenceView {
    let view = this.views.get(channel);
    if (view) return view;
    view = new PresenceView(channel);
    this.views.set(channel, view);
    void this.load(channel, view);
    return view;
  }

  /** First member here: subscribe, then read who is there (deltas meanwhile are queued). */
  private async load(channel: string, view: PresenceView): Promise<void> {
    try {
      await this.d.subscribe(channel);
      const members = await this.d.presence.members(channel);
      if (this.views.get(channel) !== view) return;
      for (const m of members) {
        if (m.instance === this.d.instance) continue;
        let u = view.users.get(m.user);
        if (!u) view.users.set(m.user, (u = new Map()));
        u.set(m.instance, (u.get(m.instance) ?? 0) + 1);
      }
    } catch (err) {
      this.d.warn('presence_read_failed', err);
    }
    if (this.views.get(channel) !== view) return;
    for (const w of view.queue) view.set(w.from!, w.i, w.n ?? (w.e === 'join' ? 1 : 0));
    view.queue = [];
    view.ready = true;
    for (const s of view.waiting) view.tell(s);
    view.waiting.clear();
  }

  private bump(channel: string, user: string, by: number): number {
    let c = this.counts.get(channel);
    if (!c) this.counts.set(channel, (c = new Map()));
    const n = (c.get(user) ?? 0) + by;
    if (n > 0) c.set(user, n);
    else c.delete(user);
    return Math.max(0, n);
  }

  // ---- leases, sweeps, outages

  private holdLeaves(): void {
    this.leaveGraceUntil = Math.max(this.leaveGraceUntil, this.d.clock.now() + this.graceMs);
    this.resyncAfterGrace = true;
  }
  private inGrace(): boolean {
    return this.d.health() !== 'ok' || this.d.clock.now() < this.leaveGraceUntil;
  }

  private async renew(): Promise<void> {
    if (this.local.size === 0) return;
    // Each channel's structure is kept alive once per ttl (a quarter of them per renewal; they
    // live 3 leases), so one renewal never touches every channel of a large instance.
    const round = this.renewRound++ % 4;
    const channels = [...this.local.keys()].filter((_, i) => i % 4 === round);
    try {
      if (await this.d.presence.renew(this.d.instance, this.leaseMs, channels)) await this.restore();
    } catch (err) {
      this.holdLeaves();
      this.d.warn('presence_renew_failed', err);
    }
  }

  /** Rewrite our members, then tell the others (they may have dropped us as dead meanwhile). */
  private async restore(): Promise<void> {
    await this.d.presence.restore(this.d.instance, this.leaseMs, this.local);
    if (this.d.announce?.() === false) return;
    for (const [channel, counts] of this.counts)
      for (const [user, n] of counts) void this.d.send(channel, { k: 'p', i: this.d.instance, e: 'join', from: user, n });
  }

  /** Drop instances whose lease lapsed from every view: one store read, whatever the channels. */
  private async sweep(): Promise<void> {
    if (this.d.health() !== 'ok') this.holdLeaves();
    if (this.views.size === 0) return;
    if (this.inGrace()) return;
    if (this.resyncAfterGrace) {
      this.resyncAfterGrace = false;
      for (const channel of this.views.keys()) void this.resync(channel);
      return;
    }
    let live: Set<string>;
    const startedAt = this.d.clock.now();
    try {
      live = new Set(await this.d.presence.instances());
    } catch (err) {
      this.holdLeaves();
      return this.d.warn('presence_read_failed', err);
    }
    if (this.inGrace()) return;
    for (const view of this.views.values()) {
      if (!view.ready) continue;
      for (const [user, per] of [...view.users])
        for (const instance of [...per.keys()])
          if (instance !== this.d.instance && !live.has(instance) && (this.heardFrom.get(instance) ?? 0) < startedAt) view.set(user, instance, 0);
    }
    // Forget deltas older than any read still in flight could be.
    const old = startedAt - this.leaseMs;
    for (const [instance, at] of this.heardFrom) if (at < old) this.heardFrom.delete(instance);
    for (const view of this.views.values()) for (const [k, at] of view.heard) if (at < old) view.heard.delete(k);
  }

  /** Re-read a channel after deltas may have been lost; absences count only outside the grace. */
  private async resync(channel: string): Promise<void> {
    const view = this.views.get(channel);
    if (!view?.ready) return;
    let members: PresenceMember[];
    const startedAt = this.d.clock.now();
    try {
      members = await this.d.presence.members(channel);
    } catch {
      return; // the sweep retries once the store is back (resyncAfterGrace)
    }
    if (this.views.get(channel) !== view) return;
    const fresh = new Map<string, Map<string, number>>();
    for (const m of members) {
      if (m.instance === this.d.instance) continue;
      let u = fresh.get(m.user);
      if (!u) fresh.set(m.user, (u = new Map()));
      u.set(m.instance, (u.get(m.instance) ?? 0) + 1);
    }
    // A delta that arrived while the read was in flight is newer than the read.
    const stale = (instance: string, user: string) => (view.heard.get(`${instance}\n${user}`) ?? 0) >= startedAt;
    for (const [user, per] of fresh) for (const [instance, n] of per) if (!stale(instance, user)) view.set(user, instance, n);
    if (this.inGrace()) return;
    for (const [user, per] of [...view.users])
      for (const instance of [...per.keys()])
        if (instance !== this.d.instance && !fresh.get(user)?.has(instance) && !stale(instance, user)) view.set(user, instance, 0);
  }
}
