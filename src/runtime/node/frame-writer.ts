/**
 * The writing side of a frame leg (frame-leg.ts): what goes out on one socket. Relayed bytes
 * from the paired leg are written as they come; frames the gateway writes itself (pings, pongs,
 * closes, injected messages) wait for a frame boundary of the relayed stream, messages for a
 * message boundary. The drain listener reports to the session when the socket's buffer empties.
 *
 * The first of four classes that make up one FrameLeg (writer → close handshake → checks → reader): one
 * object per socket with every field on it, no helper objects, so an idle relayed connection
 * stays small.
 */
import type { Socket } from 'node:net';
import { LegEvents } from '../../core/leg-events.ts';

/** The socket's FrameLeg, for the module-level listeners. */
export const LEG = Symbol('wsgate.frameLeg');
type Owned = Socket & { [LEG]: FrameWriter };

// A module-level listener (`this` = the socket): no per-connection closure.
function onSockDrain(this: Socket): void {
  (this as Owned)[LEG].onDrain();
}

export abstract class FrameWriter {
  /** @internal */ readonly ev = new LegEvents();
  /** @internal The other socket's leg, once paired. */
  peer: this | undefined;
  /** @internal Set while this leg's chunk is being relayed, and between the chunks of a frame. */
  processing = false;
  /** @internal */ midFrame = false;
  /** @internal A relayed fragmented message is open on the peer's stream. */
  midMessage = false;
  /** @internal */ dead = false;
  protected closeSent = false;
  protected closeWritten = false;
  private outCtl: Buffer[] | undefined;
  private outMsg: Buffer[] | undefined;
  private drainArmed = false;

  constructor(
    protected readonly sock: Socket,
    /** True for the client's socket (frames arrive masked); false for the upstream's. */
    protected readonly isClient: boolean,
  ) {}

  get bufferedAmount(): number {
    return this.sock.writableLength;
  }

  /** @internal */
  writeParts(parts: Buffer[]): void {
    const s = this.sock;
    if (!s.writable || this.closeWritten) return;
    if (parts.length === 1) s.write(parts[0]!);
    else {
      s.cork();
      for (const p of parts) s.write(p);
      s.uncork();
    }
    this.armDrain();
  }

  protected write(b: Buffer): void {
    if (!this.sock.writable || this.closeWritten) return;
    this.sock.write(b);
    this.armDrain();
  }

  private armDrain(): void {
    if (!this.drainArmed && this.sock.writableLength > 0) {
      this.drainArmed = true;
      this.sock.once('drain', onSockDrain);
    }
  }

  /** @internal */
  onDrain(): void {
    this.drainArmed = false;
    this.ev.handlers?.drain();
  }

  /** Whether a frame of our own can go out now: the peer is not in the middle of relaying one. */
  private atFrameBoundary(): boolean {
    const p = this.peer;
    return !p || p.dead || !(p.processing || p.midFrame);
  }

  protected injectCtl(f: Buffer): void {
    if (this.atFrameBoundary() && !this.outCtl) this.write(f);
    else (this.outCtl ??= []).push(f);
  }

  protected injectMsg(f: Buffer): void {
    if (this.atFrameBoundary() && !this.midMessage && !this.outCtl && !this.outMsg) this.write(f);
    else (this.outMsg ??= []).push(f);
  }

  /** Whether close frames are waiting for a boundary (the close is not written yet). */
  protected get ctlWaiting(): boolean {
    return this.outCtl !== undefined;
  }

  /** A close is going out: messages still waiting are dropped (nothing may follow a close). */
  protected dropWaitingMessages(): void {
    this.outMsg = undefined;
  }

  /** @internal The peer reached a boundary: write what waited for one. */
  flushOut(): void {
    if (!this.atFrameBoundary()) return;
    const ctl = this.outCtl;
    if (ctl) {
      this.outCtl = undefined;
      for (const f of ctl) this.write(f);
    }
    if (this.closeSent) {
      if (!this.closeWritten) this.closeWrittenNow();
      return;
    }
    const msg = this.outMsg;
    if (msg && !this.midMessage) {
      this.outMsg = undefined;
      for (const f of msg) this.write(f);
    }
  }

  /** The close frame has been written (frame-close.ts). */
  protected abstract closeWrittenNow(): void;

  terminate(): void {
    this.sock.destroy();
  }
}
