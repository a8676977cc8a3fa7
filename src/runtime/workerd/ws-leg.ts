/**
 * A workerd WebSocket (an accepted `WebSocketPair` end, a `fetch`-upgraded upstream, or a socket
 * a Durable Object accepted with the hibernation API) as a core Leg.
 *
 * What workerd lacks, and what this leg does instead (README "Runtimes" table):
 * - no protocol ping and no pong events: `canPing` is false; on client legs the core falls back
 *   to an app-level ping (a data message) and requires inbound traffic within interval + timeout
 *   (`heartbeatFallback: 'app-keepalive'`; workerd answers protocol pings itself but never sends one);
 * - no pause/resume: `pause`/`resume` are no-ops, so relayed traffic is bounded only by the
 *   route's `maxBufferedBytes`, past which the core closes the connection (4408 / 1014);
 * - no drain event: `bufferedAmount` is accurate, so drain is detected by polling it.
 *
 * Events arrive either from `addEventListener` (`attach: true`) or, in a Durable Object using the
 * hibernation API, from the object's `webSocketMessage`/`webSocketClose` methods through `feed`.
 */
import { APP_KEEPALIVE_MESSAGE } from '../../core/heartbeat.ts';
import { sharedPayload, type Leg, type SharedFrame } from '../../core/leg.ts';
import { exceedsLimit, LegEvents, TOO_BIG } from '../../core/leg-events.ts';
import type { WorkerdWebSocket } from './types.ts';

export interface LegFeed {
  message(data: string | ArrayBuffer | ArrayBufferView): void;
  close(code: number, reason: string): void;
  /** Liveness proven without a message (an auto-responded app-level ping in a Durable Object). */
  alive(): void;
}

const DRAIN_POLL_MS = 25;
/** The answer to the gateway's app-level ping (APP_KEEPALIVE_MESSAGE). */
export const APP_PONG = '{"type":"pong"}';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface WorkerdLegOptions {
  protocol?: string;
  /** Listen with addEventListener (default) or only through `feed`. */
  attach?: boolean;
  /** Larger inbound messages close the leg with 1009 (TOO_BIG), as `ws` does with `maxPayload`. */
  maxPayload?: number;
  /**
   * Client legs: 'app-keepalive' (the core sends an app-level ping and needs inbound traffic
   * within interval + timeout). Upstream legs: 'none' (servers need not answer app pings).
   */
  heartbeatFallback?: 'app-keepalive' | 'none';
}

export function workerdLeg(ws: WorkerdWebSocket, opts: WorkerdLegOptions = {}): { leg: Leg; feed: LegFeed } {
  // From compatibility date 2026-03-17 binaryType defaults to 'blob' (workerd changelog): binary frames
  // would then reach the core as Blobs. Array buffers are what the core relays.
  try {
    ws.binaryType = 'arraybuffer';
  } catch {
    /* hibernatable sockets always deliver ArrayBuffers */
  }
  const ev = new LegEvents();
  let closeSent = false;
  let drainTimer: ReturnType<typeof setTimeout> | undefined;

  const appHeartbeat = opts.heartbeatFallback === 'app-keepalive';
  const feed: LegFeed = {
    message(data) {
      if (ev.closed) return;
      // The app-level heartbeat belongs to the gateway: answers and client pings are consumed
      // here (liveness), never relayed upstream or broadcast — as a Durable Object's
      // auto-response does for pings.
      if (appHeartbeat && typeof data === 'string' && (data === APP_PONG || data === APP_KEEPALIVE_MESSAGE)) {
        if (data === APP_KEEPALIVE_MESSAGE && !closeSent && ws.readyState === 1) ws.send(APP_PONG);
        return ev.handlers?.pong();
      }
      if (exceedsLimit(data, opts.maxPayload)) {
        leg.close(TOO_BIG.code, TOO_BIG.reason);
        return feed.close(TOO_BIG.code, TOO_BIG.reason);
      }
      if (typeof data === 'string') ev.message(data, false);
      else if (data instanceof ArrayBuffer) ev.message(new Uint8Array(data), true);
      else ev.message(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), true);
    },
    close(code, reason) {
      if (ev.closed) return;
      if (drainTimer !== undefined) clearTimeout(drainTimer);
      ev.close(code, reason);
    },
    alive() {
      ev.handlers?.pong();
    },
  };

  if (opts.attach !== false) {
    ws.addEventListener('message', (e) => feed.message((e as MessageEvent).data as string | ArrayBuffer));
    ws.addEventListener('close', (e) => {
      const ce = e as CloseEvent;
      feed.close(ce.code, ce.reason);
    });
    // An error is a transport failure; workerd does not always follow it with a close event.
    ws.addEventListener('error', () => feed.close(1006, ''));
  }

  const pollDrain = () => {
    drainTimer = undefined;
    if (ev.closed) return;
    if ((ws.bufferedAmount ?? 0) > 0) drainTimer = setTimeout(pollDrain, DRAIN_POLL_MS);
    else ev.handlers?.drain();
  };

  const leg: Leg = {
    protocol: opts.protocol ?? ws.protocol ?? '',
    get bufferedAmount() {
      return ws.bufferedAmount ?? 0;
    },
    canPing: false,
    heartbeatFallback: opts.heartbeatFallback ?? 'none',
    listen: (h) => ev.listen(h),
    send(data, isBinary) {
      if (ev.closed || closeSent || ws.readyState !== 1) return;
      if (isBinary) ws.send(typeof data === 'string' ? encoder.encode(data) : data);
      else ws.send(typeof data === 'string' ? data : decoder.decode(data));
      if (drainTimer === undefined && (ws.bufferedAmount ?? 0) > 0) drainTimer = setTimeout(pollDrain, DRAIN_POLL_MS);
    },
    sendShared(f: SharedFrame) {
      // A broadcast: the text is decoded once for all members of the channel's object.
      this.send(sharedPayload(f), f.isBinary);
    },
    close(code, reason) {
      if (ev.closed || closeSent) return;
      closeSent = true;
      try {
        ws.close(code, reason); // workerd throws on unsendable codes; the core validated the code
      } catch {
        /* already closing */
      }
    },
    terminate() {
      // workerd cannot drop a connection without a close frame: close it as well as it can.
      if (!closeSent && !ev.closed) leg.close(1011, 'Connection dropped');
      feed.close(1006, '');
    },
    ping() {},
    pause() {},
    resume() {},
  };
  return { leg, feed };
}
