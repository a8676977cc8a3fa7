/**
 * The types around a Session: what it needs from the gateway (SessionDeps), what it is opened
 * with (SessionInit), its metric cells, and the channel hooks of a route with a channel.
 */
import type { Logger } from '../log.ts';
import type { Cell } from '../metrics.ts';
import type { ResolvedRoute } from '../routing/schema.ts';
import type { Clock } from './clock.ts';
import type { Deadlines } from './deadlines.ts';
import type { HeartbeatScheduler } from './heartbeat.ts';
import type { Recover } from './history.ts';
import type { Leg, Payload } from './leg.ts';
import type { Registry } from './registry.ts';
import type { Session } from './session.ts';

export type CloseCause = 'client' | 'upstream' | 'auth' | 'limit' | 'slow' | 'heartbeat' | 'drain' | 'admin' | 'age' | 'error';

/** Channel membership and fan-out, provided by core/channels.ts when a route has a channel. */
export interface ChannelHooks {
  join(session: Session): void;
  leave(session: Session): void;
  /** A client message on a hub route: to every member on every instance. */
  broadcast(session: Session, data: Payload, isBinary: boolean): void;
}

export interface SessionDeps {
  clock: Clock;
  heartbeat: HeartbeatScheduler;
  /** Token expiry and maximum age, on one timer per gateway. */
  deadlines: Deadlines;
  registry: Registry;
  log: Logger;
  channels?: ChannelHooks;
  counters: SessionCounters;
  /** Called once when the session is fully cleaned up. */
  onEnd?(session: Session, code: number, cause: CloseCause): void;
}

/** Pre-resolved metric cells for this route (no label lookups per message). */
export interface SessionCounters {
  msgIn: Cell;
  msgOut: Cell;
  bytesIn: Cell;
  bytesOut: Cell;
  open: Cell;
  hbClient: Cell;
  hbUpstream: Cell;
  close(code: number, cause: CloseCause): void;
}

export interface SessionInit {
  id: string;
  route: ResolvedRoute;
  client: Leg;
  upstream?: Leg;
  /** Whether the upstream leg only accepts WHATWG client close codes (1000, 3000–4999). */
  upstreamWhatwg?: boolean;
  userId?: string;
  channel?: string;
  /** History routes: the position the client asked to resume from (`?since=&epoch=`). */
  recover?: Recover;
  /** Token expiry, epoch ms. */
  expiresAtMs?: number;
  expiryGraceMs: number;
}
