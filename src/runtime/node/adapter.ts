/**
 * The Node runtime adapter. Relay routes use the frame-aware relay by default (frame-leg.ts:
 * the gateway owns both sockets and forwards frames as bytes); `WSGATE_NODE_RELAY=ws` (or the
 * `relay` option) selects the message-level `ws` legs instead. Hub connections, in `frames`
 * mode, are terminal frame legs: the gateway is their endpoint and reads their messages with the
 * same frame reader (no `ws` server object per connection: a 10k hub join costs ~11% less CPU).
 *
 * The `ws` path: `ws` for both legs. Upstream dials use the `ws` client (works on
 * Node 20, sends custom headers, accepts 1001/1011 as client close codes). Clients are accepted
 * with a noServer `WebSocketServer` per distinct `maxPayload`, so each route's message limit is
 * enforced by ws before a payload is buffered. permessage-deflate is off on both legs: the
 * relay forwards frames as they are, and compression costs CPU and a dictionary per connection.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { HmacVerifierFactory } from '../../auth/verify.ts';
import { upgradedResponse, UpstreamDialError, type Leg, type RuntimeAdapter, type UpstreamRequest } from '../../core/leg.ts';
import { dialFrames, switchingProtocols } from './frame-dial.ts';
import { frameLeg } from './frame-leg.ts';
import { nodeHmacVerifier } from './hmac.ts';
import { stdoutLines } from './stdout-lines.ts';
import { processFacts } from '../process.ts';
import { wsLeg } from './ws-leg.ts';

/** What the Node upgrade listener passes to the Hono app as `env`. */
export interface NodeUpgradeEnv {
  incoming: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  /** Aborted when the client's TCP connection closes before the upgrade completes. */
  readonly signal: AbortSignal;
  /** The client's TCP connection closed before the upgrade completed (no signal needed). */
  readonly gone?: boolean;
  remoteAddress: string | undefined;
}

const CHOSEN = Symbol('wsgate.protocol');
const CLIENT_GONE = 'client went away during the handshake';

/** Which relay relay routes use on Node: frames (default) or ws (message-level, for comparison). */
export type NodeRelayMode = 'frames' | 'ws';

export function nodeRelayMode(env: string | undefined = process.env.WSGATE_NODE_RELAY): NodeRelayMode {
  return env === 'ws' ? 'ws' : 'frames';
}

export function createNodeAdapter(
  o: { relay?: NodeRelayMode } = {},
): RuntimeAdapter & { dispose(): void; hmacVerifier: HmacVerifierFactory; relay: NodeRelayMode } {
  const relay = o.relay ?? nodeRelayMode();
  const servers = new Map<number, WebSocketServer>();
  const serverFor = (maxPayload: number): WebSocketServer => {
    let wss = servers.get(maxPayload);
    if (!wss) {
      wss = new WebSocketServer({
        noServer: true,
        maxPayload,
        perMessageDeflate: false,
        clientTracking: false,
        // Return exactly the subprotocol the upstream chose (ws would pick the first offered).
        handleProtocols: (_offered, req) => (req as unknown as Record<symbol, string | undefined>)[CHOSEN] || false,
      });
      servers.set(maxPayload, wss);
    }
    return wss;
  };

  return {
    name: 'node',
    relay,
    hmacVerifier: nodeHmacVerifier,
    ...processFacts,
    writeLog: stdoutLines(),
    connectUpstream: (req, signal) =>
      relay === 'frames'
        ? dialFrames(req, signal).then((d) => frameLeg(d.socket, false, d.protocol, req.maxPayload, d.leftover))
        : dialUpstream(req, signal),
    // Upgrades carry remoteAddress; plain requests (@hono/node-server) carry the IncomingMessage.
    remoteAddress: (_req, env) => {
      const e = env as (Partial<NodeUpgradeEnv> & { incoming?: IncomingMessage }) | undefined;
      return e?.remoteAddress ?? e?.incoming?.socket?.remoteAddress;
    },
    handshakeSignal: (_req, env) => (env as Partial<NodeUpgradeEnv> | undefined)?.signal,
    accept(_request, env, opts, onOpen) {
      const e = env as NodeUpgradeEnv;
      if ((e.gone ?? e.signal.aborted) || e.socket.destroyed || !e.socket.writable) throw new Error(CLIENT_GONE);
      if (relay === 'frames') {
        // The handshake checks already validated the key and version. A route without an
        // upstream (a hub) makes the leg terminal: the gateway reads its messages itself.
        const key = String(e.incoming.headers['sec-websocket-key'] ?? '').trim();
        e.socket.write(switchingProtocols(key, opts.protocol));
        const hub = (opts.context?.route.upstreams.length ?? 0) === 0;
        onOpen(frameLeg(e.socket as Socket, true, opts.protocol ?? '', opts.maxPayload, e.head, hub));
        return upgradedResponse();
      }
      (e.incoming as unknown as Record<symbol, string | undefined>)[CHOSEN] = opts.protocol;
      // Without verifyClient, ws completes the upgrade synchronously, or refuses it and destroys
      // the socket (no longer readable/writable): no promise or abort listener to wait on.
      let client: WebSocket | undefined;
      let gaveUp = false;
      serverFor(opts.maxPayload).handleUpgrade(e.incoming, e.socket, e.head, (ws) => {
        if (gaveUp) ws.terminate();
        else client = ws;
      });
      if (!client) {
        gaveUp = true;
        throw new Error(CLIENT_GONE);
      }
      onOpen(wsLeg(client));
      return upgradedResponse();
    },
    dispose() {
      for (const wss of servers.values()) wss.close();
      servers.clear();
    },
  };
}

/** The dial in progress behind a `ws` client, for the module-level listeners below. */
const DIAL = Symbol('wsgate.dial');
type Dialling = WebSocket & { [DIAL]: UpstreamDial | undefined };
const dialOf = (ws: WebSocket): UpstreamDial | undefined => (ws as Dialling)[DIAL];

// Module-level listeners (EventEmitter calls them with `this` = the ws client): a dial runs on
// every handshake, and a dozen closures (plus tsx's name helper for each) cost more than this.
function onDialUpgrade(this: WebSocket, res: IncomingMessage): void {
  dialOf(this)?.upgrade(res);
}
function onDialOpen(this: WebSocket): void {
  const dial = dialOf(this);
  if (dial) dial.open();
  else this.terminate();
}
function onDialUnexpectedResponse(this: WebSocket, request: ClientRequest, response: IncomingMessage): void {
  // Never read or relay the upstream's body: drop it and map the status.
  response.resume();
  request.destroy();
  dialOf(this)?.fail(new UpstreamDialError('rejected', `upstream answered HTTP ${response.statusCode}`, response.statusCode));
}
function onDialError(this: WebSocket, err: Error): void {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EMFILE' || code === 'ENFILE') dialOf(this)?.fail(new UpstreamDialError('exhausted', err.message));
  else dialOf(this)?.closedEarly(err.message);
}
function onDialClose(this: WebSocket): void {
  dialOf(this)?.closedEarly('upstream closed during the handshake');
}
function onDialTimeout(dial: UpstreamDial): void {
  dial.fail(new UpstreamDialError('timeout', `no upstream handshake within ${dial.req.timeoutMs} ms`));
}

/** One upstream dial: settles once, on open or on the first failure. */
class UpstreamDial {
  private settled = false;
  private badProtocol: string | undefined;
  /** The subprotocol the upstream chose ('' for none). */
  private chosen = '';
  private readonly timer: ReturnType<typeof setTimeout>;

  constructor(
    private readonly ws: WebSocket,
    readonly req: UpstreamRequest,
    private readonly signal: AbortSignal | undefined,
    private readonly resolve: (leg: Leg) => void,
    private readonly reject: (err: UpstreamDialError) => void,
  ) {
    (ws as Dialling)[DIAL] = this;
    ws.once('upgrade', onDialUpgrade);
    this.timer = setTimeout(onDialTimeout, req.timeoutMs, this);
    signal?.addEventListener('abort', this, { once: true });
    ws.once('open', onDialOpen);
    ws.once('unexpected-response', onDialUnexpectedResponse);
    ws.on('error', onDialError);
    ws.once('close', onDialClose);
  }

  /** The client went away (`abort` on the signal; an EventListener object, not a closure). */
  handleEvent(): void {
    this.fail(new UpstreamDialError('unavailable', 'client went away'));
  }

  upgrade(res: IncomingMessage): void {
    const p = res.headers['sec-websocket-protocol'];
    if (p === undefined) return;
    delete res.headers['sec-websocket-protocol'];
    if (this.req.protocols.includes(p)) this.chosen = p;
    else {
      this.badProtocol = p;
      this.ws.terminate();
    }
  }

  open(): void {
    if (this.settled) return this.ws.terminate();
    this.settle();
    // Nothing of the dial may stay referenced by the socket's listeners, and the socket's event
    // table is started afresh: removing the dial's five listeners one by one would leave it a
    // dictionary twice the size for the connection's life. The leg attaches its listeners now;
    // ws emits 'open' before it parses any frame, so no message can be missed.
    const ws = this.ws;
    ws.removeAllListeners();
    this.resolve(wsLeg(ws, this.chosen));
  }

  closedEarly(why: string): void {
    this.fail(
      this.badProtocol !== undefined
        ? new UpstreamDialError('rejected', 'upstream chose a subprotocol that was not offered', 101)
        : new UpstreamDialError('unavailable', why),
    );
  }

  fail(err: UpstreamDialError): void {
    if (this.settled) return;
    this.settle();
    this.ws.terminate();
    this.reject(err);
  }

  /** Settled: the socket no longer points at the dial (its listeners become no-ops). */
  private settle(): void {
    this.settled = true;
    clearTimeout(this.timer);
    this.signal?.removeEventListener('abort', this);
    (this.ws as Dialling)[DIAL] = undefined;
  }
}

/** Dial an upstream; resolves once its handshake completed, so failures become 502/504. */
export function dialUpstream(req: UpstreamRequest, signal?: AbortSignal): Promise<Leg> {
  // Offered subprotocols go in a plain header and the answer is checked here: the ws client
  // refuses a 101 without a subprotocol when some were offered, which RFC 6455 §4.1 allows.
  const headers = req.protocols.length ? { ...req.headers, 'sec-websocket-protocol': req.protocols.join(', ') } : req.headers;
  return new Promise((resolve, reject) => {
    // No ws handshakeTimeout: the dial's own timer terminates the socket at req.timeoutMs.
    const ws = new WebSocket(req.url, [], { headers, perMessageDeflate: false, maxPayload: req.maxPayload, followRedirects: false });
    new UpstreamDial(ws, req, signal, resolve, reject);
  });
}
