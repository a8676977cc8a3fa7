/**
 * Serve a gateway on Node: @hono/node-server for plain HTTP, and our own `upgrade` listener for
 * handshakes. @hono/node-server's WebSocket support answers refused upgrades with
 * `Content-Length: 0`, losing the JSON body and most headers of a 401/502; this listener runs
 * the Hono app itself and writes the whole response, so a refused handshake keeps its JSON body.
 *
 * Hardening: every socket gets an error listener before anything async happens, so a client
 * that resets mid-handshake can never crash the process; header and request timeouts are
 * checked every 500 ms so a slowloris upgrade dies within seconds.
 */
import { getRequestListener } from '@hono/node-server';
import { createServer as createHttpServer, STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { wasUpgraded } from '../../core/leg.ts';
import type { GatewayApp } from '../../gateway.ts';
import { drainOnSignals, type DrainOptions } from '../entry.ts';
import type { NodeUpgradeEnv } from './adapter.ts';
import { acceptProxyProtocol } from './proxy-protocol.ts';
import { upgradeRequest } from './upgrade-request.ts';

export interface NodeServeOptions {
  port?: number;
  host?: string;
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** A client must send all request headers within this time. @default 5000 */
  headersTimeoutMs?: number;
  /** Largest request head (URL + headers); larger ones get 431. @default 16384 */
  maxHeaderBytes?: number;
  /**
   * Every connection starts with a PROXY protocol header (v1 or v2), read within
   * `headersTimeoutMs`; connections without one are refused. @default false
   */
  proxyProtocol?: boolean;
}

/** What the server needs of an app: Hono's `fetch` (a GatewayApp, or any Hono app that mounts one). */
export interface FetchApp {
  fetch(request: Request, env?: unknown): Response | Promise<Response>;
}

export interface NodeServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

async function writeResponse(socket: Duplex, res: Response): Promise<void> {
  if (socket.destroyed) return;
  const body = res.body ? Buffer.from(await res.arrayBuffer()) : Buffer.alloc(0);
  const lines = [`HTTP/1.1 ${res.status} ${STATUS_CODES[res.status] ?? ''}`, 'Connection: close', `Content-Length: ${body.length}`];
  res.headers.forEach((v, k) => {
    if (k !== 'content-length' && k !== 'connection' && k !== 'transfer-encoding') lines.push(`${k}: ${v}`);
  });
  socket.end(Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n'), body]));
}

/**
 * Module-level on purpose: a closure created inside the upgrade handler would keep the handler's
 * whole scope (request, head, env) alive for as long as the socket lives (~10 KB per connection).
 */
const ignoreError = (): void => {};

/**
 * What the app gets as `env` for one upgrade. The abort signal is made only when something asks
 * for it (a relay route's upstream dial): a hub join never pays for an AbortController.
 */
class UpgradeEnv implements NodeUpgradeEnv {
  #abort: AbortController | undefined;
  #gone = false;
  constructor(
    readonly incoming: IncomingMessage,
    readonly socket: Duplex,
    readonly head: Buffer,
    readonly remoteAddress: string | undefined,
  ) {}
  get gone(): boolean {
    return this.#gone;
  }
  get signal(): AbortSignal {
    this.#abort ??= new AbortController();
    if (this.#gone && !this.#abort.signal.aborted) this.#abort.abort();
    return this.#abort.signal;
  }
  /** The client's connection closed before the handshake was answered. */
  clientGone(): void {
    this.#gone = true;
    this.#abort?.abort();
  }
}

export function attachUpgrade(server: Server, app: FetchApp, secure: boolean): void {
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', ignoreError);
    const env = new UpgradeEnv(req, socket, head, req.socket.remoteAddress);
    const onClose = () => env.clientGone();
    socket.once('close', onClose);
    void (async () => {
      let res: Response;
      try {
        res = await app.fetch(upgradeRequest(req, secure), env);
      } catch {
        res = new Response(JSON.stringify({ error: 'internal', message: 'Internal gateway error' }), { status: 500 });
      }
      socket.off('close', onClose);
      if (!wasUpgraded(res)) await writeResponse(socket, res).catch(() => socket.destroy());
    })();
  });
}

/**
 * @param app the gateway, or an application's own Hono app with the gateway mounted in it
 *   (`app.route('/ws', gateway)`): upgrades and plain requests both go through `app.fetch`.
 */
export function serveNode(app: FetchApp, o: NodeServeOptions = {}): Promise<NodeServer> {
  const secure = o.tls !== undefined;
  const listener = getRequestListener(app.fetch);
  const common = {
    headersTimeout: o.headersTimeoutMs ?? 5000,
    // Node refuses a headersTimeout above requestTimeout: the request deadline follows a longer one.
    requestTimeout: Math.max(30_000, o.headersTimeoutMs ?? 5000),
    connectionsCheckingInterval: 500,
    maxHeaderSize: o.maxHeaderBytes ?? 16384,
  };
  const server: Server = secure ? createHttpsServer({ ...common, cert: o.tls!.cert, key: o.tls!.key }, listener) : createHttpServer(common, listener);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable || err.code === 'ECONNRESET') return socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const body = JSON.stringify({ error: status === 431 ? 'headers_too_large' : 'bad_request', message: STATUS_CODES[status] });
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  });
  attachUpgrade(server, app, secure);
  if (o.proxyProtocol)
    acceptProxyProtocol(server, {
      timeoutMs: common.headersTimeout,
      onRefused: (peer, reason) => (app as Partial<GatewayApp>).gateway?.options.log.info('proxy_protocol_refused', { peer, reason }),
    });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 8787, o.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      const addr = server.address();
      resolve({
        server,
        port: typeof addr === 'object' && addr ? addr.port : (o.port ?? 8787),
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeIdleConnections?.();
          }),
      });
    });
  });
}

/** The admin listener (`--admin-port`): plain HTTP for `/_wsgate/*` and `/metrics`, nothing else. */
export function serveAdmin(adminApp: { fetch: (req: Request) => Response | Promise<Response> }, port: number, host: string): Promise<{ port: number; close(): Promise<void> }> {
  const server = createHttpServer({ headersTimeout: 5000, requestTimeout: 30_000 }, getRequestListener(adminApp.fetch));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address();
      resolve({
        port: typeof addr === 'object' && addr ? addr.port : port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections?.();
          }),
      });
    });
  });
}

/**
 * SIGTERM/SIGINT: readiness fails and new upgrades get 503 at once, open connections are closed
 * with 1001 spread over `windowMs`, and the process exits 0 by `deadlineMs` at the latest.
 */
export function handleSignals(app: GatewayApp, node: NodeServer, o: DrainOptions & { routesDir?: string } = {}, admin?: { close(): Promise<void> }): void {
  drainOnSignals(app, () => Promise.all([node.close(), admin?.close()]).then(() => {}), o);
}
