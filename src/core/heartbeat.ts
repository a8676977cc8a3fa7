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
  /** Set by the scheduler. */
  lastSeen: number;
  lastSent: number;
  pingSentAt: number;
}

interface Group {
  intervalMs: number;
  timeoutMs: number;
  members: Set<HeartbeatMember>;
  timer: unknown;
}

export class HeartbeatScheduler {
  private readonly groups = new Map<string, Group>();
  constructor(private readonly clock: Clock) {}

  add(member: HeartbeatMember, intervalMs: number, timeoutMs: number): () => void {
    const key = `${intervalMs}/${timeoutMs}`;
    let group = this.groups.get(key);
    if (!group) {
      const g: Group = { intervalMs, timeoutMs, members: new Set(), timer: undefined };
      // Tick often enough that a ping is at most a quarter of the shorter period late.
      const tick = Math.max(25, Math.floor(Math.min(intervalMs, timeoutMs) / 4));
      g.timer = this.clock.setInterval(() => this.tick(g), tick);
      this.groups.set(key, g);
      group = g;
    }
    const now = this.clock.now();
    member.lastSeen = now;
    member.lastSent = now;
    member.pingSentAt = 0;
    member.rx = false;
    member.tx = false;
    group.members.add(member);
    const g = group;
    return () => {
      g.members.delete(member);
      if (g.members.size === 0 && this.groups.get(key) === g) {
        this.clock.clearInterval(g.timer);
        this.groups.delete(key);
      }
    };
  }

  get size(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.members.size;
    return n;
  }

  private tick(g: Group): void {
    const now = this.clock.now();
    for (const m of g.members) {
      if (m.rx) {
        m.rx = false;
        m.lastSeen = now;
        m.pingSentAt = 0;
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
        m.pingSentAt = 0;
        m.lastSeen = now;
        continue;
      }
      if (m.pingSentAt > 0) {
        if (now - m.pingSentAt >= g.timeoutMs) {
          g.members.delete(m);
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

/**
 * A heartbeat member for one leg. On an 'app-keepalive' leg the "ping" is a data message (the
 * keepalive) and any inbound message is the answer, so a silent peer is declared dead as usual.
 */
export function legMember(leg: Leg, onDead: () => void, keepaliveMessage?: string): HeartbeatMember {
  return new LegMember(leg, onDead, keepaliveMessage);
}

/** One per leg for the connection's life: a class, so its methods are shared, not per-leg closures. */
class LegMember implements HeartbeatMember {
  rx = false;
  tx = false;
  lastSeen = 0;
  lastSent = 0;
  pingSentAt = 0;
  suspended: boolean;
  keepalive: (() => void) | undefined;

  constructor(
    private readonly leg: Leg,
    readonly onDead: () => void,
    private readonly keepaliveMessage: string | undefined,
  ) {
    this.suspended = isPassiveLeg(leg);
    if (keepaliveMessage !== undefined) this.keepalive = this.sendKeepalive;
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
