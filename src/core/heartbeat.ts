/**
 * Heartbeats for every leg of every session, driven by one timer per distinct interval rather
 * than one per connection: 10k idle connections cost one wake-up per tick, and pings spread over
 * the interval because each member keeps its own phase.
 *
 * Rules per member (a leg): anything received (pong or message) proves liveness; the owner only
 * sets `rx`/`tx` flags, and the tick turns them into times. When nothing
 * was received for `intervalMs`, a ping goes out; if nothing arrives within `timeoutMs` after it,
 * `onDead` runs once. A member can be `suspended` (its reading is paused for flow control, so
 * its pongs cannot be read): it is not declared dead while suspended.
 */
import type { Clock } from './clock.ts';
import type { Leg } from './leg.ts';

export interface HeartbeatMember {
  ping(): void;
  onDead(): void;
  /** Optional data-frame keepalive, sent when nothing was sent for the interval. */
  keepalive?(): void;
  suspended?: boolean;
  /** Set by the owner on any inbound traffic (pong or message): a plain flag, no clock read per message. */
  rx: boolean;
  /** Set by the owner on any outbound data message. */
  tx: boolean;
  /** Set by the scheduler: whole milliseconds since the scheduler started (small integers, not boxed doubles). */
  lastSeen: number;
  lastSent: number;
  pingSentAt: number;
  /** Set by the scheduler: the group the member is in, so `remove` needs no per-member closure. */
  group?: unknown;
}

interface Group {
  key: string;
  intervalMs: number;
  timeoutMs: number;
  members: Set<HeartbeatMember>;
  timer: unknown;
}

export class HeartbeatScheduler {
  private readonly groups = new Map<string, Group>();
  /** Times are kept as whole ms since this epoch: Smis for the first ~24 days of uptime, not heap numbers. */
  private readonly epoch: number;
  constructor(private readonly clock: Clock) {
    this.epoch = clock.now();
  }

  private now(): number {
    return Math.floor(this.clock.now() - this.epoch);
  }

  /** Start heartbeats for `member`; `remove(member)` stops them. */
  add(member: HeartbeatMember, intervalMs: number, timeoutMs: number): void {
    const key = `${intervalMs}/${timeoutMs}`;
    let group = this.groups.get(key);
    if (!group) {
      const g: Group = { key, intervalMs, timeoutMs, members: new Set(), timer: undefined };
      // Tick often enough that a ping is at most a quarter of the shorter period late.
      const tick = Math.max(25, Math.floor(Math.min(intervalMs, timeoutMs) / 4));
      g.timer = this.clock.setInterval(() => this.tick(g), tick);
      this.groups.set(key, g);
      group = g;
    }
    const now = this.now();
    member.lastSeen = now;
    member.lastSent = now;
    member.pingSentAt = -1;
    member.rx = false;
    member.tx = false;
    member.group = group;
    group.members.add(member);
  }

  remove(member: HeartbeatMember): void {
    const g = member.group as Group | undefined;
    if (!g) return;
    member.group = undefined;
    g.members.delete(member);
    if (g.members.size === 0 && this.groups.get(g.key) === g) {
      this.clock.clearInterval(g.timer);
      this.groups.delete(g.key);
    }
  }

  get size(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.members.size;
    return n;
  }

  private tick(g: Group): void {
    const now = this.now();
    for (const m of g.members) {
      if (m.rx) {
        m.rx = false;
        m.lastSeen = now;
        m.pingSentAt = -1;
      }
      if (m.tx) {
        m.tx = false;
        m.lastSent = now;
      }
      if (m.keepalive && now - m.lastSent >= g.intervalMs) {
        m.lastSent = now;
        m.keepalive();
      }
      if (m.suspended) {
        m.pingSentAt = -1;
        m.lastSeen = now;
        continue;
      }
      if (m.pingSentAt >= 0) {
        if (now - m.pingSentAt >= g.timeoutMs) {
          g.members.delete(m);
          m.group = undefined;
          m.onDead();
        }
        continue;
      }
      if (now - m.lastSeen >= g.intervalMs) {
        m.pingSentAt = now;
        m.ping();
      }
    }
  }

  dispose(): void {
    for (const g of this.groups.values()) this.clock.clearInterval(g.timer);
    this.groups.clear();
  }
}

/** The app-level ping sent on 'app-keepalive' legs when the route sets no `keepaliveMessage`. */
export const APP_KEEPALIVE_MESSAGE = '{"type":"ping"}';

/**
 * Whether the scheduler leaves a leg alone: it cannot ping and has no app-level fallback, so a
 * dead peer is found by the runtime's own idle handling ('runtime') or by TCP/close events only
 * ('none'). See Leg.heartbeatFallback.
 */
export function isPassiveLeg(leg: Leg): boolean {
  return !leg.canPing && leg.heartbeatFallback !== 'app-keepalive';
}

/** Who is told when a leg's peer stopped answering. */
export interface HeartbeatOwner {
  onHeartbeatTimeout(leg: 'client' | 'upstream'): void;
}

/**
 * A heartbeat member for one leg. On an 'app-keepalive' leg the "ping" is a data message (the
 * keepalive) and any inbound message is the answer, so a silent peer is declared dead as usual.
 */
export function legMember(leg: Leg, owner: HeartbeatOwner, which: 'client' | 'upstream', keepaliveMessage?: string): HeartbeatMember {
  return new LegMember(leg, owner, which, keepaliveMessage);
}

/**
 * One per leg for the connection's life: a class holding its owner, so neither its methods nor
 * its death callback are per-leg closures (each would cost a closure and a context per leg).
 */
class LegMember implements HeartbeatMember {
  rx = false;
  tx = false;
  lastSeen = 0;
  lastSent = 0;
  pingSentAt = -1;
  group: unknown = undefined;
  suspended: boolean;
  keepalive: (() => void) | undefined;

  constructor(
    private readonly leg: Leg,
    private readonly owner: HeartbeatOwner,
    private readonly which: 'client' | 'upstream',
    private readonly keepaliveMessage: string | undefined,
  ) {
    this.suspended = isPassiveLeg(leg);
    if (keepaliveMessage !== undefined) this.keepalive = this.sendKeepalive;
  }

  onDead(): void {
    this.owner.onHeartbeatTimeout(this.which);
  }

  ping(): void {
    const leg = this.leg;
    if (!leg.canPing && leg.heartbeatFallback === 'app-keepalive') leg.send(this.keepaliveMessage ?? APP_KEEPALIVE_MESSAGE, false);
    else leg.ping();
  }

  private sendKeepalive(): void {
    this.leg.send(this.keepaliveMessage!, false);
  }
}
