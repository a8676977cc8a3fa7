/**
 * The close handshake of a frame leg (frame-leg.ts), lossless: a leg that receives a close frame
 * (or fails on a protocol error) while its peer is still open holds its answer until the peer's
 * own close has come through, so what the peer sends in between is still relayed. The session's
 * close timeout bounds the wait (it terminates the peer, which releases the held answer). The
 * answer mirrors the peer's close, mapped by the close-code table.
 *
 * The second of the four classes of one FrameLeg (writer → close handshake → checks → reader).
 */
import { clientCloseToUpstream, upstreamCloseToClient } from '../../core/close-codes.ts';
import { CLOSE_TIMEOUT_MS } from '../../core/session.ts';
import { encodeClose } from './frame-codec.ts';
import { FrameWriter } from './frame-writer.ts';

function destroyLater(sock: { destroy(): void }): void {
  sock.destroy();
}

export abstract class FrameClose extends FrameWriter {
  /** @internal */ closeRcvd = false;
  /** @internal */ rcvdCode = 1006;
  /** @internal */ rcvdReason = '';
  private holdReply = false;
  protected failCode = 0;
  protected failReason = '';
  private reported = false;
  private ended = false;

  protected sendClose(code: number, reason: string): void {
    if (this.closeSent || this.dead) return;
    this.closeSent = true;
    this.dropWaitingMessages();
    this.injectCtl(encodeClose(code, reason, !this.isClient));
    if (!this.ctlWaiting) this.closeWrittenNow();
  }

  protected closeWrittenNow(): void {
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

  protected onCloseFrame(code: number, reason: string): void {
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

  /** Stop reading this leg's socket (frame-leg.ts owns the data listener). */
  protected abstract stopReading(): void;

  /** A protocol error on this leg's input: stop reading; the close goes out once the peer is done. */
  protected fail(code: number): void {
    if (this.failCode !== 0 || this.closeRcvd) return;
    this.failCode = code;
    this.stopReading();
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

  close(code: number, reason: string): void {
    if (this.closeSent || this.dead) return;
    this.holdReply = false;
    this.sendClose(code, reason);
  }
}
