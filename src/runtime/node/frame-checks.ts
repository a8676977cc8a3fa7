/**
 * The checks of a frame leg (frame-leg.ts) on what it reads: each frame header (opcode, RSV,
 * masking, control-frame rules: 1002; the message size limit from headers before any payload:
 * 1009; a fragment cap: 1008), the session's `frame` hook that counts and rate-limits each data
 * frame, the per-frame re-masking key towards the upstream, and each complete control frame
 * (pong answers to pings, pongs to the heartbeat, close frames to the close handshake). A
 * terminal leg (a hub connection: the gateway is the endpoint) unmasks and joins each message and
 * hands it to the session, text checked for UTF-8 (1007) as a WebSocket server must.
 *
 * The third of the four classes of one FrameLeg (writer → close handshake → checks → reader);
 * the reading state lives here because the checks set it up.
 */
import { isUtf8 } from 'node:buffer';
import type { Socket } from 'node:net';
import { TOO_BIG } from '../../core/leg-events.ts';
import { FrameClose } from './frame-close.ts';
import { encodeFrame, newMaskKey, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, parseClose, Utf8Stream, xorRange } from './frame-codec.ts';

/** Fragments per message before 1008, as ws's maxFragments: each costs a header parse and a hook call. */
export const MAX_FRAGMENTS = 16384;

export abstract class FrameChecks extends FrameClose {
  protected hdr: Buffer | undefined;
  protected hdrHave = 0;
  protected hdrLen = 0;
  protected inPayload = false;
  protected rem = 0;
  protected op = 0;
  protected fin = false;
  protected fwd = false;
  protected xkey = 0;
  protected phase = 0;
  protected ctl: Buffer | undefined;
  protected ctlHave = 0;
  protected msgOpen = false;
  protected msgText = false;
  protected msgBytes = 0;
  protected msgFrames = 0;
  protected utf8: Utf8Stream | undefined;
  /** A frame failed mid-payload after its header was relayed: fail once it is complete. */
  protected failAfterFrame = 0;
  /** The gateway is this socket's endpoint (a hub connection): messages are read, not relayed. */
  protected terminal = false;
  /** Terminal legs: the unmasked payload of the message being read. */
  protected parts: Buffer[] | undefined;

  constructor(
    sock: Socket,
    isClient: boolean,
    private readonly maxPayload: number,
  ) {
    super(sock, isClient);
  }

  // Where the current frame's header starts in the chunk being processed: -1 when it was
  // completed from `hdr` in this chunk, -2 when it was relayed with an earlier chunk.
  protected headerStartInChunk = -2;
  protected fhLen = 0;

  /** Check one header; sets up the frame. Returns a close code to fail with, or 0. */
  protected onHeader(h: Buffer, o: number, hl: number): number {
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
    if (this.terminal) {
      // The endpoint: the payload is unmasked and kept until the message is whole (frameDone).
      if (first) this.parts = [];
      this.fwd = false;
      this.xkey = h.readInt32LE(o + hl - 4);
      this.phase = 0;
      return 0;
    }
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
  protected frameDone(): number {
    const op = this.op;
    if (op < 8) {
      if (this.failAfterFrame !== 0) return this.protocolError(this.failAfterFrame, 'Invalid UTF-8');
      if (this.fin) this.msgOpen = false;
      if (this.terminal && this.fin) return this.messageDone();
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

  /** A terminal leg read a whole message: text must be UTF-8 (1007), then it goes to the session. */
  private messageDone(): number {
    const parts = this.parts!;
    this.parts = undefined;
    const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    if (this.msgText && !isUtf8(data)) return this.protocolError(1007, 'Invalid UTF-8');
    this.ev.message(data, !this.msgText);
    return 0;
  }

  protected protocolError(code: number, reason: string): number {
    this.failReason = reason;
    return code;
  }
}
