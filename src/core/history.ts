/**
 * History and recovery for channels whose route has `history` (store side: history-store.ts).
 *
 * - Ordering: every instance delivers a history channel's messages in offset order, its own
 *   included (they come back over pub/sub, stamped). An offset that skips ahead means pub/sub
 *   lost messages (an outage, a reconnect): they are read back from the history and delivered
 *   first; only when the history no longer holds them do members get
 *   `{"type":"gap","channel","offset","epoch"}` (offset = where live delivery resumes from).
 * - Recovery: a connection that joins with `?since=<offset>&epoch=<epoch>` gets the messages
 *   after that offset from the history, in order, while live messages for it are held back; then
 *   the held ones it has not seen. Every joiner then gets `{"type":"history","channel","offset",
 *   "epoch"}`: the offset its live messages continue after (what to reconnect with if nothing
 *   arrives meanwhile). When the history no longer holds `since` (or the epoch changed) it gets
 *   `gap` with the current offset instead of the messages.
 */
import { GatewayError } from '../errors.ts';
import type { ResolvedRoute } from '../routing/schema.ts';
import type { HistoryOptions, HistoryStore } from '../store/history-store.ts';
import type { Wire } from './channel-wire.ts';
import type { Session } from './session.ts';

export interface Recover {
  since: number;
  epoch?: string;
}

/** `?since=&epoch=` on a history route's handshake URL; a bad value is a 400 before the upgrade. */
export function parseRecover(params: URLSearchParams): Recover | undefined {
  const since = params.get('since');
  if (since === null) return undefined;
  if (!/^\d{1,15}$/.test(since)) throw new GatewayError('bad_request', 'since must be a message offset (a non-negative integer)');
  const epoch = params.get('epoch');
  if (epoch !== null && !/^[A-Za-z0-9_-]{1,64}$/.test(epoch)) throw new GatewayError('bad_request', 'epoch must be the epoch a message carried');
  return { since: Number(since), ...(epoch ? { epoch } : {}) };
}

/** Which history options apply to a channel name: the first route whose template matches. */
export function historyResolver(routes: readonly ResolvedRoute[]): (channel: string) => HistoryOptions | undefined {
  const patterns = routes
    .filter((r) => r.channel !== undefined && r.history !== undefined)
    .map((r) => ({ re: new RegExp(`^${r.channel!.split(/\{[A-Za-z0-9_.]+\}/).map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's'), opts: r.history! }));
  return (channel) => patterns.find((p) => p.re.test(channel))?.opts;
}

interface Seq {
  epoch: string | undefined;
  next: number;
  /** Settles once `start` learned where the channel's offsets stand (or failed to). */
  ready: Promise<void>;
  isReady: boolean;
  setReady: () => void;
  filling: boolean;
  /** Before `ready`: everything; after: messages past a hole, by offset. */
  early: Wire[];
  ahead: Map<number, Wire>;
}

export interface HistoryDeps {
  history: HistoryStore;
  /** Deliver to every local member (that is not recovering). */
  deliver(channel: string, w: Wire): void;
  /** Deliver to one session. */
  deliverTo(channel: string, w: Wire, s: Session): void;
  members(channel: string): Iterable<Session>;
  warn(event: string, err: unknown): void;
}

/** At most this many messages per history read (route `history.size` is capped at 100,000). */
const READ_LIMIT = 100_000;

/** System events (gap, history) go to hub routes, and to relay routes with `presenceEvents`. */
const wantsEvents = (s: Session): boolean => s.route.upstreams.length === 0 || s.route.presenceEvents;

export class ChannelHistory {
  private readonly seqs = new Map<string, Seq>();
  /** Sessions catching up: live messages for them wait here. */
  readonly recovering = new Map<Session, Wire[]>();

  constructor(private readonly d: HistoryDeps) {}

  /** The channel's subscription is active: learn where its offsets stand. */
  async start(channel: string): Promise<void> {
    const seq = this.seq(channel);
    // Subscribed again after a failed subscription: read back what was missed meanwhile.
    if (seq.isReady) return this.onBrokerGap(channel);
    try {
      const r = await this.d.history.read(channel, Number.MAX_SAFE_INTEGER, undefined, 0);
      seq.epoch = r.epoch;
      // Messages that arrived before this read but after the subscription are still owed.
      const owed = seq.early.filter((w) => w.ep === r.epoch).map((w) => w.o!);
      seq.next = Math.min(r.top + 1, ...owed);
    } catch (err) {
      this.d.warn('history_read_failed', err);
    }
    seq.isReady = true;
    seq.setReady();
    const early = seq.early;
    seq.early = [];
    for (const w of early) this.onMessage(channel, w);
  }

  stop(channel: string): void {
    this.seqs.delete(channel);
  }

  /** A stamped message from pub/sub (any instance, this one included). */
  onMessage(channel: string, w: Wire): void {
    const seq = this.seq(channel);
    if (!seq.isReady) return void seq.early.push(w);
    const o = w.o!;
    if (w.ep !== seq.epoch) {
      // The history was lost (expired, or the store restarted empty): say so, start over.
      if (seq.epoch !== undefined && seq.next > 1) this.gap(channel, o - 1, w.ep!);
      seq.epoch = w.ep;
      seq.next = o;
      seq.ahead.clear();
    }
    if (o < seq.next) return; // seen already
    if (o > seq.next) {
      seq.ahead.set(o, w);
      return void this.fill(channel, seq);
    }
    this.d.deliver(channel, w);
    seq.next++;
    this.drain(channel, seq);
  }

  /** Pub/sub was lost and is back: read what it dropped. */
  onBrokerGap(channel: string): void {
    const seq = this.seqs.get(channel);
    if (seq?.isReady) void this.fill(channel, seq, true);
  }

  /** A joiner on a history route: catch up from `recover`, then announce its position. */
  async join(channel: string, s: Session, recover: Recover | undefined): Promise<void> {
    const seq = this.seq(channel);
    if (recover) this.recovering.set(s, []);
    await seq.ready;
    let last = seq.next - 1;
    let epoch = seq.epoch;
    if (recover) {
      try {
        const r = await this.d.history.read(channel, recover.since, recover.epoch, READ_LIMIT);
        if (r.complete) {
          for (const e of r.entries) this.d.deliverTo(channel, JSON.parse(e.message) as Wire, s);
          last = r.entries.at(-1)?.offset ?? recover.since;
        } else {
          if (wantsEvents(s)) s.sendToClient(JSON.stringify({ type: 'gap', channel, offset: r.top, epoch: r.epoch }), false);
          last = r.top;
        }
        epoch = r.epoch;
      } catch (err) {
        this.d.warn('history_read_failed', err);
        if (wantsEvents(s)) s.sendToClient(JSON.stringify({ type: 'gap', channel }), false);
      }
      // Live messages that arrived meanwhile, minus those the history already gave.
      const held = this.recovering.get(s) ?? [];
      this.recovering.delete(s);
      for (const w of held) {
        if (w.ep === epoch && w.o! <= last) continue;
        this.d.deliverTo(channel, w, s);
        last = w.o!;
        epoch = w.ep;
      }
    }
    if (epoch !== undefined && s.state === 'open' && wantsEvents(s)) s.sendToClient(JSON.stringify({ type: 'history', channel, offset: last, epoch }), false);
  }

  private seq(channel: string): Seq {
    let seq = this.seqs.get(channel);
    if (seq) return seq;
    let setReady = () => {};
    const ready = new Promise<void>((r) => (setReady = r));
    seq = { epoch: undefined, next: 1, ready, isReady: false, setReady, filling: false, early: [], ahead: new Map() };
    this.seqs.set(channel, seq);
    return seq;
  }

  private drain(channel: string, seq: Seq): void {
    for (let w = seq.ahead.get(seq.next); w; w = seq.ahead.get(seq.next)) {
      seq.ahead.delete(seq.next);
      this.d.deliver(channel, w);
      seq.next++;
    }
  }

  private async fill(channel: string, seq: Seq, always = false): Promise<void> {
    if (seq.filling || (!always && seq.ahead.size === 0)) return;
    seq.filling = true;
    try {
      const r = await this.d.history.read(channel, seq.next - 1, seq.epoch, READ_LIMIT);
      if (this.seqs.get(channel) !== seq) return;
      if (r.complete) {
        for (const e of r.entries) {
          if (e.offset < seq.next) continue;
          if (e.offset > seq.next) break;
          seq.ahead.delete(e.offset);
          this.d.deliver(channel, JSON.parse(e.message) as Wire);
          seq.next++;
        }
      } else {
        // The history no longer holds them: members are told, live delivery resumes.
        const resume = seq.ahead.size > 0 ? Math.min(...seq.ahead.keys()) : r.top + 1;
        if (r.epoch === seq.epoch || seq.ahead.size === 0) this.gap(channel, resume - 1, r.epoch);
        seq.epoch = r.epoch;
        seq.next = resume;
      }
    } catch (err) {
      // The store is away: members are told, live delivery resumes past the hole.
      this.d.warn('history_read_failed', err);
      if (seq.ahead.size > 0) {
        seq.next = Math.min(...seq.ahead.keys());
        this.gap(channel, seq.next - 1, seq.epoch ?? '');
      }
    } finally {
      seq.filling = false;
    }
    this.drain(channel, seq);
    if (seq.ahead.size > 0) void this.fill(channel, seq);
  }

  private gap(channel: string, offset: number, epoch: string): void {
    const msg = JSON.stringify({ type: 'gap', channel, offset, epoch });
    for (const s of this.d.members(channel)) if (wantsEvents(s)) s.sendToClient(msg, false);
  }
}
