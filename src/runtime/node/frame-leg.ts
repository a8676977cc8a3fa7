/**
 * The frame-aware relay on Node: one FrameLeg per socket (the client's, the upstream's), paired
 * after both handshakes. Each leg reads its socket, parses frame HEADERS only, and writes the
 * frames straight into the paired leg's socket as bytes: upstream → client unchanged (server
 * frames are unmasked), client → upstream re-masked in place with a fresh key per frame (one XOR
 * pass with old key ⊕ new key). Nothing is decoded into messages and encoded again.
 *
 * What the gateway still does per frame: frame boundaries, opcode/RSV/mask/control-frame checks
 * (1002), the message size limit from headers before any payload (1009), a fragment cap (1008),
 * counters and the rate limit (the session's `frame` hook), UTF-8 of text sent TO the client
 * (1007 towards the upstream; text from the client is left to the upstream endpoint to check, as
 * nginx does, and the endpoint's 1007 is relayed). Pings and pongs stay on their leg; frames the
 * gateway writes itself (pings, pongs, closes, injected messages) go out at frame boundaries of
 * the relayed stream, messages only at message boundaries.
 *
 * One FrameLeg per socket is four classes deep, one idea each: frame-writer.ts (what goes out,
 * injection at boundaries), frame-close.ts (the lossless close handshake), frame-checks.ts (header
 * and control-frame checks, the session's frame hook) and this file (reading and relaying).
 * Inheritance rather than helper objects: one object per socket with every field on it is what
 * keeps an idle relayed connection small.
 */
import type { Socket } from 'node:net';
import type { Leg, LegHandlers, Payload, SharedFrame } from '../../core/leg.ts';
import { FrameChecks } from './frame-checks.ts';
import { encodeFrame, headerLength, OP_BINARY, OP_PING, OP_TEXT, xorRange } from './frame-codec.ts';
import { LEG } from './frame-writer.ts';

export { MAX_FRAGMENTS } from './frame-checks.ts';

type Owned = Socket & { [LEG]: FrameLeg };
const legOf = (s: Socket): FrameLeg => (s as Owned)[LEG];

// Module-level listeners (`this` = the socket): no per-connection closures.
function onSockData(this: Socket, chunk: Buffer): void {
  legOf(this).onData(chunk);
}
function onSockClose(this: Socket): void {
  legOf(this).onSocketClose();
}
function onSockEnd(this: Socket): void {
  legOf(this).onSocketEnd();
}
const ignoreError = (): void => {};

/**
 * What one chunk's processing collected for the peer, written at its end. Shared by every leg:
 * a chunk is processed synchronously and the array is emptied before the next one.
 */
const pend: Buffer[] = [];

export class FrameLeg extends FrameChecks implements Leg {
  constructor(
    sock: Socket,
    isClient: boolean,
    readonly protocol: string,
    maxPayload: number,
    private leftover: Buffer | undefined,
    terminal = false,
  ) {
    super(sock, isClient, maxPayload);
    this.terminal = terminal;
    (sock as Owned)[LEG] = this;
    sock.on('error', ignoreError);
    sock.on('close', onSockClose);
    sock.on('end', onSockEnd);
    sock.setNoDelay(true);
    sock.setTimeout(0);
    if (sock.destroyed) this.dead = true;
  }

  get canPing(): boolean {
    return true;
  }

  listen(h: LegHandlers): void {
    this.ev.listen(h);
    if (this.terminal) this.start(); // nothing to pair with: read now
  }

  /** Relay frames with `other` (both must be FrameLegs); starts reading both sockets. */
  pair(other: Leg): boolean {
    if (!(other instanceof FrameLeg) || this.peer || other.peer || this.terminal || other.terminal) return false;
    this.peer = other as this;
    other.peer = this;
    this.start();
    other.start();
    return true;
  }

  private start(): void {
    if (this.dead) return;
    const rest = this.leftover;
    this.leftover = undefined;
    if (rest && rest.length > 0) this.onData(rest);
    this.sock.on('data', onSockData);
    this.sock.resume();
  }

  // ---- reading and relaying ---------------------------------------------------------------

  /** @internal */
  onData(b: Buffer): void {
    if (this.closeRcvd || this.failCode !== 0 || this.dead) return;
    this.processing = true;
    this.headerStartInChunk = -2;
    const n = b.length;
    let i = 0;
    let run = 0; // start of the bytes of `b` still to relay
    while (i < n || (this.inPayload && this.rem === 0)) {
      if (!this.inPayload) {
        let h = b;
        let ho = i;
        let hl = 0;
        if (this.hdrHave === 0 && n - i >= 2 && n - i >= (hl = headerLength(b[i + 1]!))) {
          i += hl;
        } else {
          // A header split across chunks: collect it (at most 14 bytes), relay what came before.
          if (this.hdrHave === 0) this.relay(b, run, i);
          const hb = (this.hdr ??= Buffer.allocUnsafe(14));
          while (i < n && (this.hdrHave < 2 || this.hdrHave < this.hdrLen)) {
            hb[this.hdrHave++] = b[i++]!;
            if (this.hdrHave === 2) this.hdrLen = headerLength(hb[1]!);
          }
          run = i;
          if (this.hdrHave < 2 || this.hdrHave < this.hdrLen) break;
          h = hb;
          ho = 0;
          hl = this.hdrLen;
          this.hdrHave = 0;
        }
        const inChunk = h === b;
        const err = this.onHeader(h, ho, hl);
        if (err !== 0) {
          if (inChunk) this.relay(b, run, ho);
          return this.endProcessing(err);
        }
        if (this.fwd) {
          if (!inChunk) pend.push(Buffer.from(h.subarray(0, hl)));
        } else if (inChunk) {
          this.relay(b, run, ho);
          run = i;
        }
        this.inPayload = true;
      }
      const take = Math.min(this.rem, n - i);
      if (this.op >= 8) {
        if (take > 0) b.copy(this.ctl!, this.ctlHave, i, i + take);
        this.ctlHave += take;
        i += take;
        run = i;
      } else if (this.fwd) {
        if (this.isClient) this.phase = xorRange(b, i, i + take, this.xkey, this.phase);
        else if (this.msgText && this.failAfterFrame === 0 && !this.utf8!.push(b, i, i + take, this.fin && take === this.rem)) {
          if (this.rem === this.fhLen && this.headerStartInChunk !== -2) {
            // Nothing of this frame was written yet (its header came in this chunk): drop it whole.
            if (this.headerStartInChunk >= 0) this.relay(b, run, this.headerStartInChunk);
            else pend.pop();
            this.fwd = false;
            return this.endProcessing(1007);
          }
          this.failAfterFrame = 1007;
        }
        i += take;
      } else if (this.parts) {
        if (take > 0) {
          this.phase = xorRange(b, i, i + take, this.xkey, this.phase);
          this.parts.push(b.subarray(i, i + take));
        }
        i += take;
        run = i;
      } else {
        i += take;
        run = i;
      }
      this.rem -= take;
      if (this.rem > 0) break;
      this.inPayload = false;
      const err = this.frameDone();
      if (err !== 0) {
        this.relay(b, run, i);
        return this.endProcessing(err);
      }
      if (this.closeRcvd) {
        this.relay(b, run, i);
        return this.endProcessing(0);
      }
    }
    this.relay(b, run, i);
    this.endProcessing(0);
  }

  /** Write what was collected for the peer, then the frames waiting for a boundary. */
  private endProcessing(failCode: number): void {
    const out = this.peer;
    this.midFrame = this.inPayload && this.fwd && this.rem > 0;
    this.processing = false;
    if (out && pend.length > 0) {
      out.writeParts(pend);
      this.ev.handlers?.relayed?.();
    }
    pend.length = 0;
    if (failCode !== 0) this.fail(failCode);
    out?.flushOut();
  }

  private relay(b: Buffer, from: number, to: number): void {
    if (to > from) pend.push(from === 0 && to === b.length ? b : b.subarray(from, to));
  }

  // ---- the Leg API used by the session ------------------------------------------------------

  send(data: Payload, isBinary: boolean): void {
    if (this.closeSent || this.dead) return;
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    this.injectMsg(encodeFrame(isBinary ? OP_BINARY : OP_TEXT, bytes, !this.isClient));
  }

  /** A broadcast: the same frame bytes for every member (server frames are unmasked). */
  sendShared(f: SharedFrame): void {
    if (this.closeSent || this.dead) return;
    const wire = (f.wire ??= encodeFrame(f.isBinary ? OP_BINARY : OP_TEXT, f.data, false)) as Buffer;
    this.injectMsg(wire);
  }

  ping(): void {
    if (this.closeSent || this.closeRcvd || this.dead) return;
    this.injectCtl(encodeFrame(OP_PING, Buffer.alloc(0), !this.isClient));
  }

  pause(): void {
    this.sock.pause();
  }

  protected stopReading(): void {
    this.sock.off('data', onSockData);
  }

  resume(): void {
    if (this.peer || this.terminal) this.sock.resume();
  }
}

/** A socket after its handshake as a frame leg; `leftover` holds bytes read past the handshake. */
export function frameLeg(sock: Socket, isClient: boolean, protocol: string, maxPayload: number, leftover?: Buffer, terminal = false): FrameLeg {
  return new FrameLeg(sock, isClient, protocol, maxPayload, leftover, terminal);
}
