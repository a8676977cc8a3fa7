/**
 * A `ws` WebSocket (server or client side) as a core Leg. Listeners are attached at creation and
 * buffer until the session calls `listen`, so nothing that arrives between the handshake and the
 * session start is lost. Messages stay Buffers: text frames are relayed as text without a UTF-8
 * decode/encode round trip (ws has already validated them, RFC 6455 §8.1).
 *
 * A class on purpose: two legs live as long as each connection, and prototype methods with one
 * shared shape cost a fraction of a closure-built object per leg (measured in npm run bench).
 */
import * as wsModule from 'ws';
import type { WebSocket } from 'ws';
import type { Leg, LegHandlers, Payload, SharedFrame } from '../../core/leg.ts';
import { LegEvents } from '../../core/leg-events.ts';

type RawData = Buffer | ArrayBuffer | Buffer[];
type SocketLike = NodeJS.EventEmitter;

function toPayload(data: RawData): Uint8Array {
  return Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}

// Errors (protocol violations, resets) are always followed by 'close'; this listener keeps them
// from becoming uncaught exceptions. Module-level so it retains nothing.
const ignoreError = (): void => {};

/** The leg behind a `ws` socket, for the module-level listeners below. */
const LEG = Symbol('wsgate.leg');
type Owned = WebSocket & { [LEG]: WsLeg };
const legOf = (ws: WebSocket): WsLeg => (ws as Owned)[LEG];

// Module-level listeners (EventEmitter calls them with `this` = the socket): per-connection
// closures here would cost a closure and a context per event per leg (~0.5 KB per connection).
function onWsMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  legOf(this).ev.message(toPayload(data), isBinary);
}
function onWsClose(this: WebSocket, code: number, reason: Buffer): void {
  legOf(this).ev.close(code, reason.toString());
}
function onWsPong(this: WebSocket): void {
  legOf(this).ev.handlers?.pong();
}

class WsLeg implements Leg {
  /** @internal */ readonly ev = new LegEvents();
  private drainArmed = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly protocolOverride: string | undefined,
  ) {
    (ws as Owned)[LEG] = this;
    ws.on('message', onWsMessage);
    ws.on('close', onWsClose);
    ws.on('pong', onWsPong);
    ws.on('error', ignoreError);
  }

  private onDrain(): void {
    this.drainArmed = false;
    this.ev.handlers?.drain();
  }

  get canPing(): boolean {
    return true;
  }

  get protocol(): string {
    return this.protocolOverride ?? this.ws.protocol;
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  listen(h: LegHandlers): void {
    this.ev.listen(h);
  }

  send(data: Payload, isBinary: boolean): void {
    const ws = this.ws;
    if (ws.readyState !== 1) return;
    ws.send(data, { binary: isBinary, compress: false });
    this.armDrain();
  }

  /**
   * A broadcast: the frame (header + payload, one Buffer) is built once for all members and the
   * same bytes are written to each socket. Server frames are unmasked and permessage-deflate is
   * off, so they are byte-identical; bufferedAmount still counts them (socket.bufferSize), so
   * the buffer cap holds. Falls back to ws.send while ws has its own queue (never with
   * compression off, but ws decides).
   */
  sendShared(f: SharedFrame): void {
    const ws = this.ws;
    if (ws.readyState !== 1) return;
    const internals = ws as unknown as { _socket?: (SocketLike & { write(b: Buffer): boolean }) | null; _sender?: { _queue?: unknown[] } };
    const sock = internals._socket;
    if (!sock || (internals._sender?._queue?.length ?? 0) > 0) return this.send(f.data, f.isBinary);
    sock.write((f.wire ??= frameOnce(f)) as Buffer);
    this.armDrain();
  }

  private armDrain(): void {
    const ws = this.ws;
    if (!this.drainArmed && ws.bufferedAmount > 0) {
      // The TCP socket: set at once on accepted sockets, only after 'upgrade' on dialled ones.
      const sock = (ws as unknown as { _socket?: SocketLike | null })._socket;
      if (!sock) return;
      this.drainArmed = true;
      // Created only under backpressure, so idle legs carry no drain closure.
      sock.once('drain', () => this.onDrain());
    }
  }

  close(code: number, reason: string): void {
    if (this.ws.readyState === 0 || this.ws.readyState === 1) this.ws.close(code, reason);
  }

  terminate(): void {
    this.ws.terminate();
  }

  ping(): void {
    if (this.ws.readyState === 1) this.ws.ping();
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }
}

/** ws's frame builder (exported by ws, missing from @types/ws). */
const { Sender } = wsModule as unknown as { Sender: { frame(data: Buffer, o: { fin: boolean; rsv1: boolean; opcode: number; mask: boolean; readOnly: boolean }): Buffer[] } };

/** The unmasked, final, uncompressed frame of `f`, as one Buffer. */
function frameOnce(f: SharedFrame): Buffer {
  const payload = Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength);
  return Buffer.concat(Sender.frame(payload, { fin: true, rsv1: false, opcode: f.isBinary ? 2 : 1, mask: false, readOnly: true }));
}

/** `protocol` overrides ws.protocol (dialled legs negotiate the subprotocol themselves). */
export function wsLeg(ws: WebSocket, protocol?: string): Leg {
  return new WsLeg(ws, protocol);
}
