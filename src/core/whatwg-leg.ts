/**
 * Legs built from Web APIs only, shared by the Bun and Deno adapters:
 * - `whatwgLeg()`: a WHATWG `WebSocket` (a client socket anywhere, or Deno's server socket) as a
 *   Leg. There is no drain event in the WHATWG API, so `bufferedAmount` is polled while it is
 *   above the low-water mark (the only backpressure signal the WHATWG API has); runtime extensions (Bun's client
 *   `ping`/`pause`) are passed in by the adapter;
 * - `dialWhatwg()`: dial an upstream with such a socket: timeout, abort, and the HTTP status of a
 *   refused handshake where the runtime puts it in the error text (Bun, Deno).
 */
import { sharedPayload, UpstreamDialError, type Leg, type SharedFrame, type UpstreamRequest } from './leg.ts';
import { exceedsLimit, LegEvents, TOO_BIG } from './leg-events.ts';

/** Below this many buffered bytes a leg that was above it reports `drain`. */
export const LOW_WATER_BYTES = 256 * 1024;
const POLL_MS = 10;

export interface WhatwgLegOptions {
  /** Largest message accepted on this leg; a bigger one closes it with 1009. */
  maxPayload?: number;
  /** Protocol pings, where the runtime extends WebSocket with them (Bun's client). */
  ping?: () => void;
  /** Subscribe to pongs (Bun's client emits a 'pong' event). */
  onPong?: (fn: () => void) => void;
  pause?: () => void;
  resume?: () => void;
  terminate?: () => void;
  heartbeatFallback?: Leg['heartbeatFallback'];
}

const encoder = new TextEncoder();

export function whatwgLeg(ws: WebSocket, o: WhatwgLegOptions = {}): Leg {
  const ev = new LegEvents();
  let poll: ReturnType<typeof setInterval> | undefined;
  const stopPoll = () => {
    if (poll !== undefined) clearInterval(poll);
    poll = undefined;
  };
  const safeClose = (code: number, reason: string) => {
    try {
      ws.close(code, reason);
    } catch {
      ws.close(1000, reason); // a WHATWG client only sends 1000 and 3000–4999; the core maps codes first
    }
  };
  ws.addEventListener('message', (e: MessageEvent) => {
    const d: unknown = e.data;
    const data = typeof d === 'string' ? d : d instanceof ArrayBuffer ? new Uint8Array(d) : ArrayBuffer.isView(d) ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength) : String(d);
    if (exceedsLimit(data, o.maxPayload)) {
      safeClose(TOO_BIG.code, TOO_BIG.reason);
      return ev.close(TOO_BIG.code, TOO_BIG.reason);
    }
    ev.message(data, typeof data !== 'string');
  });
  ws.addEventListener('close', (e: CloseEvent) => {
    stopPoll();
    ev.close(e.code, e.reason);
  });
  ws.addEventListener('error', () => {}); // always followed by 'close'
  o.onPong?.(() => ev.handlers?.pong());

  return {
    get protocol() {
      return ws.protocol;
    },
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
    canPing: o.ping !== undefined,
    ...(o.heartbeatFallback ? { heartbeatFallback: o.heartbeatFallback } : {}),
    listen: (h) => ev.listen(h),
    sendShared(f: SharedFrame) {
      // A broadcast: the text is decoded once for all members (sharedPayload), not per send.
      this.send(sharedPayload(f), f.isBinary);
    },
    send(data, isBinary) {
      if (ws.readyState !== 1) return;
      // A text payload that arrived as bytes (a ws leg) is decoded; binary strings are encoded.
      if (isBinary) ws.send(typeof data === 'string' ? encoder.encode(data) : data);
      else ws.send(typeof data === 'string' ? data : new TextDecoder().decode(data));
      if (poll === undefined && ws.bufferedAmount > LOW_WATER_BYTES) {
        poll = setInterval(() => {
          if (ws.bufferedAmount > LOW_WATER_BYTES && ws.readyState === 1) return;
          stopPoll();
          ev.handlers?.drain();
        }, POLL_MS);
      }
    },
    close: safeClose,
    terminate() {
      stopPoll();
      if (o.terminate) o.terminate();
      else if (ws.readyState < 2) safeClose(1000, '');
    },
    ping() {
      if (ws.readyState === 1) o.ping?.();
    },
    pause() {
      o.pause?.();
    },
    resume() {
      o.resume?.();
    },
  };
}

/**
 * Dial an upstream with a WHATWG WebSocket made by `create` (runtimes differ in how headers are
 * passed). Resolves once the upstream's handshake completed, so failures become 502/504.
 */
export function dialWhatwg(req: UpstreamRequest, signal: AbortSignal | undefined, create: () => WebSocket, legOptions: (ws: WebSocket) => WhatwgLegOptions): Promise<Leg> {
  return new Promise((resolve, reject) => {
    let ws: WebSocket;
    try {
      ws = create();
    } catch (err) {
      return reject(new UpstreamDialError('unavailable', String(err), undefined, { cause: err }));
    }
    ws.binaryType = 'arraybuffer';
    // Build the leg now so messages sent by the upstream right after its 101 are buffered.
    const leg = whatwgLeg(ws, { ...legOptions(ws), maxPayload: req.maxPayload });
    let settled = false;
    let lastError = '';
    const done = () => {
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (err: UpstreamDialError) => {
      if (settled) return;
      done();
      leg.terminate();
      reject(err);
    };
    const onAbort = () => fail(new UpstreamDialError('unavailable', 'client went away'));
    const timer = setTimeout(() => fail(new UpstreamDialError('timeout', `no upstream handshake within ${req.timeoutMs} ms`)), req.timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    ws.addEventListener('open', () => {
      if (settled) return;
      done();
      resolve(leg);
    });
    ws.addEventListener('error', (e) => (lastError = String((e as ErrorEvent).message ?? '')));
    ws.addEventListener('close', () => {
      // Bun: "Expected 101 status code: 401"; Deno: "Invalid status code: 401".
      const status = /status code:? (\d{3})/i.exec(lastError)?.[1];
      if (status) fail(new UpstreamDialError('rejected', `upstream answered HTTP ${status}`, Number(status)));
      else fail(new UpstreamDialError('unavailable', lastError || 'upstream closed during the handshake'));
    });
  });
}
