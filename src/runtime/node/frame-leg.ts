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
 * Lossless close: a leg that receives a close frame (or fails on a protocol error) while its
 * peer is still open holds its answer until the peer's own close has come through, so what the
 * peer sends in between is still relayed. The session's close timeout bounds the wait (it
 * terminates the peer, which releases the held answer).
 *
 * Longer than 300 lines on purpose: parsing, relaying, injection at boundaries and the close
 * handshake all read and write the same per-socket state, and one class per socket (no helper
 * objects) is what keeps an idle relayed connection small.
 */
import type { Socket } from 'node:net';
import { clientCloseToUpstream, upstreamCloseToClient } from '../../core/close-codes.ts';
import type { Leg, LegHandlers, Payload } from '../../core/leg.ts';
import { CLOSE_TIMEOUT_MS } from '../../core/session.ts';
import { LegEvents, TOO_BIG } from '../../core/leg-events.ts';
import { encodeClose, encodeFrame, headerLength, newMaskKey, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, parseClose, Utf8Stream, xorRange } from './frame-codec.ts';

/** Fragments per message before 1008, as ws's maxFragments: each costs a header parse and a hook call. */
export const MAX_FRAGMENTS = 16384;

const LEG = Symbol('wsgate.frameLeg');
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
function onSockDrain(this: Socket): void {
  legOf(this).onDrain();
}
function destroyLater(sock: Socket): void {
  sock.destroy();
}
const ignoreError = (): void => {};

/**
 * What one chunk's processing collected for the peer, written at its end. Shared by every leg:
 * a chunk is processed synchronously and the array is emptied before the next one.
 */
const pend: Buffer[] = [];

export class FrameLeg implements Leg {
  /** @internal */ readonly ev = new LegEvents();
  /** @internal */ peer: FrameLeg | undefined;
  // ---- reading ----
  private hdr: Buffer | undefined;
  private hdrHave = 0;
  private hdrLen = 0;
  private inPayload = false;
  private rem = 0;
  private op = 0;
  private fin = false;
  private fwd = false;
  private xkey = 0;
  private phase = 0;
  private ctl: Buffer | undefined;
  private ctlHave = 0;
  private msgOpen = false;
  private msgText = false;
  private msgBytes = 0;
  private msgFrames = 0;
  private utf8: Utf8Stream | undefined;
  /** A frame failed mid-payload after its header was relayed: fail once it is complete. */
  private failAfterFrame = 0;
  /** @internal Set while this leg's chunk is being relayed, and between the chunks of a frame. */
  processing = false;
  /** @internal */ midFrame = false;
  /** @internal A relayed fragmented message is open on the peer's stream. */
  midMessage = false;
  // ---- closing ----
  private closeSent = false;
  private closeWritten = false;
  /** @internal */ closeRcvd = false;
  /** @internal */ rcvdCode = 1006;
  /** @internal */ rcvdReason = '';
  private holdReply = false;
  private failCode = 0;
  private failReason = '';
  private reported = false;
  private ended = false;
  /** @internal */ dead = false;
  // ---- writing ----
  private outCtl: Buffer[] | undefined;
  private outMsg: Buffer[] | undefined;
  private drainArmed = false;

  constructor(
    private readonly sock: Socket,
    /** True for the client's socket (frames arrive masked); false for the upstream's. */
    private readonly isClient: boolean,
    readonly protocol: string,
    private readonly maxPayload: number,
    private leftover: Buffer | undefined,
  ) {
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

  get bufferedAmount(): number {
    return this.sock.writableLength;
  }

  listen(h: LegHandlers): void {
    this.ev.listen(h);
  }

  /** Relay frames with `other` (both must be FrameLegs); starts reading both sockets. */
  pair(other: Leg): boolean {
    if (!(other instanceof FrameLeg) || this.peer || other.peer) return false;
    this.peer = other;
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

  // Where the current frame's header starts in the chunk being processed: -1 when it was
  // completed from `hdr` in this chunk, -2 when it was relayed with an earlier chunk.
  private headerStartInChunk = -2;
  private fhLen = 0;

  /** Check one header; sets up the frame. Returns a close code to fail with, or 0. */
  private onHeader(h: Buffer, o: number, hl: number): number {
    const b0 = h[o]!;
    const b1 = h[o + 1]!;
    const op = b0 & 0x0f;
    const fin = (b0 & 0x80) !== 0;
    if ((b0 & 0x70) !== 0) return this.protocolError(1002, 'RSV bits set without an extension');
    const masked = (b1 & 0x80) !== 0;
    if (masked !== this.isClient) return this.protocolError(1002, this.isClient ? 'Client frames must be masked' : 'Server frames must not be masked');
    const len7 = b1 & 0x7f;
    let len = len7;
    if (len7 === 126) len = h.readUInt16BE(o + 2);
    else if (len7 === 127) {
      const hi = h.readUInt32BE(o + 2);
      if (hi > 0x1fffff) return op >= 8 ? this.protocolError(1002, 'Frame too large') : this.protocolError(TOO_BIG.code, TOO_BIG.reason);
      len = hi * 2 ** 32 + h.readUInt32BE(o + 6);
    }
    this.op = op;
    this.fin = fin;
    this.rem = len;
    this.fhLen = len;
    this.headerStartInChunk = h === this.hdr ? -1 : o;
    if (op >= 8) {
      if (op > OP_PONG) return this.protocolError(1002, 'Reserved opcode');
      if (!fin) return this.protocolError(1002, 'Fragmented control frame');
      if (len > 125) return this.protocolError(1002, 'Control frame payload over 125 bytes');
      this.fwd = false;
      this.ctlHave = 0;
      this.ctl ??= Buffer.allocUnsafe(125);
      this.xkey = masked ? h.readInt32LE(o + hl - 4) : 0;
      return 0;
    }
    if (op > OP_BINARY) return this.protocolError(1002, 'Reserved opcode');
    const first = op !== 0;
    if (first === this.msgOpen) return this.protocolError(1002, first ? 'New message inside a fragmented message' : 'Continuation frame without a message');
    if (first) {
      this.msgOpen = true;
      this.msgText = op === OP_TEXT;
      this.msgBytes = 0;
      this.msgFrames = 0;
      if (this.msgText && !this.isClient) (this.utf8 ??= new Utf8Stream()).reset();
    }
    this.msgBytes += len;
    if (this.msgBytes > this.maxPayload) return this.protocolError(TOO_BIG.code, TOO_BIG.reason);
    if (++this.msgFrames > MAX_FRAGMENTS) return this.protocolError(1008, 'Too many fragments');
    const out = this.peer;
    this.fwd = out !== undefined && !out.closeSent && !out.dead && (this.ev.handlers?.frame?.(len, first) ?? true) && !out.closeSent;
    if (this.fwd) {
      out!.midMessage = !fin;
      if (this.isClient) {
        const k = newMaskKey();
        this.xkey = h.readInt32LE(o + hl - 4) ^ k;
        h.writeInt32LE(k, o + hl - 4);
        this.phase = 0;
      }
    }
    return 0;
  }

  /** A whole frame was read. Returns a close code to fail with, or 0. */
  private frameDone(): number {
    const op = this.op;
    if (op < 8) {
      if (this.failAfterFrame !== 0) return this.protocolError(this.failAfterFrame, 'Invalid UTF-8');
      if (this.fin) this.msgOpen = false;
      return 0;
    }
    const p = this.ctl!.subarray(0, this.ctlHave);
    if (this.isClient) xorRange(p, 0, p.length, this.xkey, 0);
    if (op === OP_PING) {
      if (!this.closeSent) this.injectCtl(encodeFrame(OP_PONG, p, !this.isClient));
    } else if (op === OP_PONG) {
      this.ev.handlers?.pong();
    } else if (op === OP_CLOSE) {
      const c = parseClose(p);
      if ('fail' in c) return this.protocolError(c.fail, c.fail === 1007 ? 'Invalid UTF-8 in the close reason' : 'Invalid close frame');
      this.onCloseFrame(c.code, c.reason);
    }
    return 0;
  }

  private protocolError(code: number, reason: string): number {
    this.failReason = reason;
    return code;
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

  // ---- writing ------------------------------------------------------------------------------

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

  private write(b: Buffer): void {
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

  private injectCtl(f: Buffer): void {
    if (this.atFrameBoundary() && !this.outCtl) this.write(f);
    else (this.outCtl ??= []).push(f);
  }

  private injectMsg(f: Buffer): void {
    if (this.atFrameBoundary() && !this.midMessage && !this.outCtl && !this.outMsg) this.write(f);
    else (this.outMsg ??= []).push(f);
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

  // ---- closing ------------------------------------------------------------------------------

  private sendClose(code: number, reason: string): void {
    if (this.closeSent || this.dead) return;
    this.closeSent = true;
    this.outMsg = undefined;
    this.injectCtl(encodeClose(code, reason, !this.isClient));
    if (!this.outCtl) this.closeWrittenNow();
  }

  private closeWrittenNow(): void {
    this.closeWritten = true;
    if (this.closeRcvd || this.failCode !== 0) this.finish();
  }

  /** The close handshake is over on this socket: end TCP (the server side ends first, RFC 6455 §7.1.1). */
  private finish(): void {
    if (this.ended || this.dead) return;
    this.ended = true;
    this.sock.end();
    setTimeout(destroyLater, CLOSE_TIMEOUT_MS, this.sock).unref();
  }

  private peerOpen(): boolean {
    const p = this.peer;
    return p !== undefined && !p.dead && !p.closeRcvd && p.failCode === 0;
  }

  private onCloseFrame(code: number, reason: string): void {
    this.closeRcvd = true;
    this.rcvdCode = code;
    this.rcvdReason = reason;
    if (this.closeSent) {
      if (this.closeWritten) this.finish();
    } else if (this.peerOpen()) this.holdReply = true;
    else this.sendReply();
    this.report(code, reason);
    this.peer?.peerClosed();
  }

  /** A protocol error on this leg's input: stop reading; the close goes out once the peer is done. */
  private fail(code: number): void {
    if (this.failCode !== 0 || this.closeRcvd) return;
    this.failCode = code;
    this.sock.off('data', onSockData);
    if (!this.peerOpen()) this.sendClose(code, this.failReason);
    this.report(1006, '');
    this.peer?.peerClosed();
  }

  /** @internal The peer received a close, failed, or lost its socket: release what was held. */
  peerClosed(): void {
    if (this.holdReply) {
      this.holdReply = false;
      this.sendReply();
    } else if (this.failCode !== 0) this.sendClose(this.failCode, this.failReason);
  }

  /** Answer a received close with what the peer said (mapped by the close-code table). */
  private sendReply(): void {
    const p = this.peer;
    if (!p || !p.closeRcvd) {
      // No peer close to mirror: echo our own (RFC 6455 §5.5.1), or report the peer's loss.
      if (!p) return this.sendClose(this.rcvdCode, this.rcvdReason);
      return this.isClient ? this.sendClose(1014, 'Upstream connection lost') : this.sendClose(clientCloseToUpstream(1006, false), 'Client closed');
    }
    const code = p.rcvdCode;
    const mapped = this.isClient ? upstreamCloseToClient(code) : clientCloseToUpstream(code, false);
    this.sendClose(mapped, mapped === code ? p.rcvdReason : this.isClient ? 'Upstream connection lost' : 'Client closed');
  }

  private report(code: number, reason: string): void {
    if (this.reported) return;
    this.reported = true;
    this.ev.close(code, reason);
  }

  /** @internal */
  onSocketEnd(): void {
    // A peer that half-closes after its close frame still gets our answer; otherwise it is gone.
    if (!this.closeRcvd) this.sock.destroy();
  }

  /** @internal */
  onSocketClose(): void {
    this.dead = true;
    if (this.midFrame) this.peer?.terminate(); // its stream ends inside a frame: it cannot be closed cleanly
    this.midFrame = false;
    this.report(this.closeRcvd ? this.rcvdCode : 1006, this.closeRcvd ? this.rcvdReason : '');
    this.peer?.peerClosed();
    this.peer?.flushOut();
  }

  // ---- the Leg API used by the session ------------------------------------------------------

  send(data: Payload, isBinary: boolean): void {
    if (this.closeSent || this.dead) return;
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    this.injectMsg(encodeFrame(isBinary ? OP_BINARY : OP_TEXT, bytes, !this.isClient));
  }

  close(code: number, reason: string): void {
    if (this.closeSent || this.dead) return;
    this.holdReply = false;
    this.sendClose(code, reason);
  }

  terminate(): void {
    this.sock.destroy();
  }

  ping(): void {
    if (this.closeSent || this.closeRcvd || this.dead) return;
    this.injectCtl(encodeFrame(OP_PING, Buffer.alloc(0), !this.isClient));
  }

  pause(): void {
    this.sock.pause();
  }

  resume(): void {
    if (this.peer) this.sock.resume();
  }
}

/** A socket after its handshake as a frame leg; `leftover` holds bytes read past the handshake. */
export function frameLeg(sock: Socket, isClient: boolean, protocol: string, maxPayload: number, leftover?: Buffer): FrameLeg {
  return new FrameLeg(sock, isClient, protocol, maxPayload, leftover);
}
