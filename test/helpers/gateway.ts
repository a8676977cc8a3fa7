/**
 * Test helpers: a real gateway on a loopback port, real upstream servers and real clients.
 * Everything started here is stopped by `stopAll()` (call it in afterEach/afterAll).
 */
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { createGateway, type GatewayApp, type GatewayOptions, type RouteConfig } from '../../src/runtime/node/index.ts';
import { serveNode, type NodeServer } from '../../src/runtime/node/serve.ts';
import { TEST_SECRET } from './tokens.ts';

const cleanups: Array<() => Promise<void> | void> = [];

export async function stopAll(): Promise<void> {
  for (const fn of cleanups.splice(0).reverse()) await fn();
}

export interface TestGateway {
  app: GatewayApp;
  node: NodeServer;
  port: number;
  url(path: string, token?: string): string;
  http(path: string, init?: RequestInit): Promise<Response>;
}

/** Start a gateway with route objects; JWT_SECRET is the test secret unless `env` says otherwise. */
export async function startGateway(routes: RouteConfig[], options: Partial<GatewayOptions> = {}): Promise<TestGateway> {
  const app = createGateway({ log: 'silent', ...options, routes, env: { JWT_SECRET: TEST_SECRET, ...options.env } });
  const node = await serveNode(app, { port: 0, host: '127.0.0.1' });
  cleanups.push(async () => {
    for (const s of app.gateway.registry.all()) s.close(1001, 'test over', 'drain');
    await node.close();
    await app.gateway.dispose();
  });
  const base = `127.0.0.1:${node.port}`;
  return {
    app,
    node,
    port: node.port,
    url: (path, token) => `ws://${base}${path}${token ? `${path.includes('?') ? '&' : '?'}token=${token}` : ''}`,
    http: (path, init) => fetch(`http://${base}${path}`, init),
  };
}

export interface UpstreamConnection {
  ws: WebSocket;
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface TestUpstream {
  port: number;
  url: string;
  wss: WebSocketServer;
  connections: UpstreamConnection[];
  /** Resolves with the next connection (or the latest one if it already arrived and was not taken). */
  nextConnection(): Promise<UpstreamConnection>;
  close(): Promise<void>;
}

/**
 * A real `ws` upstream. By default it echoes every message with its type; pass `onConnection`
 * to script something else.
 */
export async function startUpstream(opts: { echo?: boolean; onConnection?: (c: UpstreamConnection) => void; handleProtocols?: (p: Set<string>) => string | false } = {}): Promise<TestUpstream> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, maxPayload: 256 << 20, ...(opts.handleProtocols ? { handleProtocols: opts.handleProtocols } : {}) });
  await once(wss, 'listening');
  const connections: UpstreamConnection[] = [];
  const waiters: Array<(c: UpstreamConnection) => void> = [];
  let taken = 0;
  wss.on('connection', (ws, req) => {
    ws.on('error', () => {});
    const c: UpstreamConnection = { ws, url: req.url ?? '', headers: req.headers };
    connections.push(c);
    if (opts.echo !== false) ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
    opts.onConnection?.(c);
    const w = waiters.shift();
    if (w) {
      taken++;
      w(c);
    }
  });
  const port = (wss.address() as { port: number }).port;
  const up: TestUpstream = {
    port,
    url: `ws://127.0.0.1:${port}`,
    wss,
    connections,
    nextConnection() {
      if (taken < connections.length) return Promise.resolve(connections[taken++]!);
      return new Promise((r) => waiters.push(r));
    },
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  };
  cleanups.push(() => up.close());
  return up;
}

export interface TestClient {
  ws: WebSocket;
  messages: Array<{ data: Buffer; isBinary: boolean }>;
  /** Resolves with the next message not yet taken. */
  next(timeoutMs?: number): Promise<{ data: Buffer; isBinary: boolean; text: string }>;
  closed: Promise<{ code: number; reason: string }>;
}

/** Open a client and wait for `open`; rejects with the HTTP status and JSON body on a refusal. */
export function connectClient(url: string, protocols?: string | string[], options: ConstructorParameters<typeof WebSocket>[2] = {}): Promise<TestClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { perMessageDeflate: false, ...options });
    const messages: TestClient['messages'] = [];
    const waiters: Array<() => void> = [];
    let taken = 0;
    ws.on('message', (data: RawData, isBinary) => {
      messages.push({ data: data as Buffer, isBinary });
      waiters.shift()?.();
    });
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body: safeJson(body), headers: res.headers })));
    });
    ws.on('error', (err) => reject(err));
    ws.on('open', () => {
      ws.removeAllListeners('error');
      ws.on('error', () => {});
      const client: TestClient = {
        ws,
        messages,
        closed,
        next(timeoutMs = 5000) {
          return new Promise((res, rej) => {
            const take = () => {
              const m = messages[taken++]!;
              res({ ...m, text: m.data.toString() });
            };
            if (taken < messages.length) return take();
            const t = setTimeout(() => rej(new Error('no message within timeout')), timeoutMs);
            waiters.push(() => {
              clearTimeout(t);
              take();
            });
          });
        },
      };
      cleanups.push(() => {
        if (ws.readyState < 2) ws.terminate();
      });
      resolve(client);
    });
  });
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

/** Expect a handshake to be refused; resolves with { status, body, headers }. */
export async function expectRefused(url: string, protocols?: string | string[], options: ConstructorParameters<typeof WebSocket>[2] = {}) {
  try {
    const c = await connectClient(url, protocols, options);
    c.ws.terminate();
  } catch (err) {
    const e = err as Error & { status?: number; body?: unknown; headers?: Record<string, string> };
    if (e.status === undefined) throw err;
    return { status: e.status, body: e.body as { error: string; message: string }, headers: e.headers ?? {} };
  }
  throw new Error(`expected ${url.replace(/token=[^&]+/, 'token=…')} to be refused, but it was accepted`);
}

/** Send raw bytes (a hand-written handshake) and collect what comes back until close or timeout. */
export function rawRequest(port: number, text: string | Buffer, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve) => {
    const socket: Socket = netConnect(port, '127.0.0.1');
    let out = '';
    socket.on('data', (d) => (out += d.toString('latin1')));
    const done = () => resolve(out);
    socket.on('close', done);
    socket.on('error', done);
    socket.write(text);
    setTimeout(() => {
      socket.destroy();
      done();
    }, timeoutMs).unref();
  });
}

/** A valid upgrade request head for `path`. */
export function upgradeHead(path: string, extra: Record<string, string> = {}): string {
  const headers = { Host: 'localhost', Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13', ...extra };
  return `GET ${path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`;
}

/** Poll until `fn` returns true (for state that settles asynchronously); fails after timeoutMs. */
export async function until(fn: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!(await fn())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// ---- added for test/gateway/{handshake,auth,http,cli,resets,drain}.test.ts -------------------

/**
 * Count TCP connections that reach a test upstream (every dial, also ones aborted before the
 * WebSocket handshake completes). Returns a getter.
 */
export function countDials(up: TestUpstream): () => number {
  let n = 0;
  const server = (up.wss as unknown as { _server?: import('node:net').Server })._server;
  if (!server) throw new Error('countDials: upstream has no own server');
  server.on('connection', () => n++);
  return () => n;
}

/** A TCP server that accepts connections and never answers (a hung upstream or JWKS). */
export async function startSilentServer(): Promise<{ port: number; url: string; sockets: Set<Socket>; accepted: () => number; close(): Promise<void> }> {
  const { createServer } = await import('node:net');
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  cleanups.push(close);
  return { port, url: `ws://127.0.0.1:${port}`, sockets, accepted: () => accepted, close };
}

/** A loopback port that was free a moment ago (for child processes that need --port N). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Split a raw HTTP response into status, lower-cased headers and body. */
export function parseRawResponse(raw: string): { status: number; headers: Record<string, string>; body: string } {
  const end = raw.indexOf('\r\n\r\n');
  const head = end < 0 ? raw : raw.slice(0, end);
  const body = end < 0 ? '' : raw.slice(end + 4);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status, headers, body };
}

/** Register an extra cleanup to run in stopAll() (child processes, temp folders, ...). */
export function onStop(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

/**
 * Send a hand-written request and resolve as soon as the response head has arrived (or the socket
 * closed / timed out), keeping the socket open: for 101 answers, which leave the connection up.
 * The socket is destroyed by stopAll().
 */
export function rawUpgrade(port: number, text: string, timeoutMs = 3000, localAddress?: string): Promise<{ status: number; headers: Record<string, string>; body: string; raw: string; socket: Socket }> {
  return new Promise((resolve) => {
    const socket: Socket = netConnect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) });
    cleanups.push(() => {
      socket.destroy();
    });
    let out = '';
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ ...parseRawResponse(out), raw: out, socket });
    };
    socket.on('data', (d) => {
      out += d.toString('latin1');
      const end = out.indexOf('\r\n\r\n');
      if (end < 0) return;
      const { status, headers } = parseRawResponse(out);
      const len = Number(headers['content-length'] ?? 0);
      if (status === 101 || out.length - end - 4 >= len) finish();
    });
    socket.on('close', finish);
    socket.on('error', finish);
    socket.write(text);
    const timer = setTimeout(finish, timeoutMs);
  });
}

// ---------------------------------------------------------------------------------------------
// Raw WebSocket frames, raw clients and raw upstreams (for protocol-violation tests), and a clock
// that counts its live timers (to prove sessions leave no timer behind).
// ---------------------------------------------------------------------------------------------
import { createHash, randomBytes } from 'node:crypto';
import { createServer as netCreateServer, type Server as NetServer } from 'node:net';
import { systemClock, type Clock } from '../../src/core/clock.ts';

export interface Frame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** Build one frame. Masked by default (client → server); `mask: false` for server frames or an unmasked client frame. */
/** RFC 6455 opcodes, for raw-frame tests. */
export const OP = { CONT: 0, TEXT: 1, BIN: 2, CLOSE: 8, PING: 9, PONG: 10 } as const;

export function encodeFrame(opcode: number, payload: Buffer | string = Buffer.alloc(0), o: { fin?: boolean; rsv?: number; mask?: boolean } = {}): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const fin = o.fin ?? true;
  const mask = o.mask ?? true;
  const len = data.length;
  const head: number[] = [(fin ? 0x80 : 0) | ((o.rsv ?? 0) << 4) | (opcode & 0x0f)];
  const m = mask ? 0x80 : 0;
  if (len < 126) head.push(m | len);
  else if (len < 65536) head.push(m | 126, len >> 8, len & 0xff);
  else {
    head.push(m | 127);
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(len));
    head.push(...b);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), data]);
  const key = randomBytes(4);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = data[i]! ^ key[i & 3]!;
  return Buffer.concat([Buffer.from(head), key, body]);
}

/** A close frame payload: code (2 bytes) + reason. */
export function closePayload(code: number, reason = ''): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code);
  return Buffer.concat([b, Buffer.from(reason)]);
}

/** Incremental frame parser (masked or not). */
export class FrameReader {
  private buf = Buffer.alloc(0);
  push(chunk: Buffer): Frame[] {
    this.buf = Buffer.concat([this.buf, chunk]);
    const out: Frame[] = [];
    for (;;) {
      const b = this.buf;
      if (b.length < 2) break;
      let len = b[1]! & 0x7f;
      const masked = (b[1]! & 0x80) !== 0;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) break;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) break;
        len = Number(b.readBigUInt64BE(2));
        off = 10;
      }
      const keyOff = off;
      if (masked) off += 4;
      if (b.length < off + len) break;
      const payload = Buffer.from(b.subarray(off, off + len));
      if (masked) for (let i = 0; i < len; i++) payload[i] = payload[i]! ^ b[keyOff + (i & 3)]!;
      out.push({ fin: (b[0]! & 0x80) !== 0, rsv: (b[0]! >> 4) & 7, opcode: b[0]! & 0x0f, masked, payload });
      this.buf = b.subarray(off + len);
    }
    return out;
  }
}

export interface RawPeer {
  socket: Socket;
  frames: Frame[];
  /** Resolves with the next frame not yet taken (rejects after timeoutMs). */
  nextFrame(timeoutMs?: number): Promise<Frame>;
  /** Resolves with the first close frame's code/reason (undefined code: TCP closed without one). */
  closeFrame(timeoutMs?: number): Promise<{ code: number | undefined; reason: string }>;
  /** Resolves when the TCP connection is closed. */
  ended: Promise<void>;
  send(frame: Buffer): void;
}

function rawPeer(socket: Socket, initial: Buffer): RawPeer {
  const reader = new FrameReader();
  const frames: Frame[] = [];
  const waiters: Array<() => void> = [];
  let taken = 0;
  let isEnded = false;
  const ended = new Promise<void>((r) => socket.once('close', () => ((isEnded = true), r(), waiters.splice(0).forEach((w) => w()))));
  const onData = (d: Buffer) => {
    for (const f of reader.push(d)) frames.push(f);
    waiters.splice(0).forEach((w) => w());
  };
  socket.on('error', () => {});
  socket.on('data', onData);
  if (initial.length) onData(initial);
  const wait = (timeoutMs: number) =>
    new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error('no frame within timeout')), timeoutMs);
      waiters.push(() => {
        clearTimeout(t);
        res();
      });
    });
  const peer: RawPeer = {
    socket,
    frames,
    ended,
    async nextFrame(timeoutMs = 5000) {
      while (taken >= frames.length) {
        if (isEnded) throw new Error('connection ended');
        await wait(timeoutMs);
      }
      return frames[taken++]!;
    },
    async closeFrame(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const f = frames.find((x) => x.opcode === 8);
        if (f) return { code: f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005, reason: f.payload.subarray(2).toString() };
        if (isEnded) return { code: undefined, reason: '' };
        const left = deadline - Date.now();
        if (left <= 0) throw new Error('no close frame within timeout');
        await wait(left).catch(() => {});
      }
    },
    send: (frame) => {
      if (!socket.destroyed) socket.write(frame);
    },
  };
  cleanups.push(() => {
    socket.destroy();
  });
  return peer;
}

/** Collect bytes until the end of an HTTP head; hand over the head and whatever followed it. */
function readHead(socket: Socket, onHead: (head: string, rest: Buffer) => void): void {
  let buf = Buffer.alloc(0);
  const onData = (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    const i = buf.indexOf('\r\n\r\n');
    if (i < 0) return;
    socket.off('data', onData);
    onHead(buf.subarray(0, i).toString('latin1'), buf.subarray(i + 4));
  };
  socket.on('data', onData);
}

/** Open a raw TCP WebSocket client: writes the handshake, expects 101, then speaks raw frames. */
export function rawClient(port: number, path: string, extra: Record<string, string> = {}): Promise<RawPeer & { head: string }> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1');
    readHead(socket, (head, rest) => {
      if (!head.startsWith('HTTP/1.1 101')) {
        socket.destroy();
        return reject(new Error(`handshake refused: ${head.split('\r\n')[0]}`));
      }
      resolve(Object.assign(rawPeer(socket, rest), { head }));
    });
    socket.once('error', reject);
    socket.write(upgradeHead(path, { 'Sec-WebSocket-Key': randomBytes(16).toString('base64'), ...extra }));
  });
}

export interface RawUpstream {
  port: number;
  url: string;
  server: NetServer;
  /** Connections whose handshake was answered (mode 'accept'). */
  peers: RawPeer[];
  nextPeer(): Promise<RawPeer>;
  /** Raw TCP connections accepted (any mode). */
  sockets: Socket[];
}

/**
 * A net-based fake upstream. mode 'accept' answers the WebSocket handshake itself and hands the
 * socket over as a RawPeer (script raw frames); 'silent' accepts TCP and never answers;
 * `{ status, body }` answers that HTTP status with a body.
 */
export async function startRawUpstream(mode: 'accept' | 'silent' | { status: number; body: string } = 'accept', onPeer?: (p: RawPeer) => void): Promise<RawUpstream> {
  const peers: RawPeer[] = [];
  const sockets: Socket[] = [];
  const waiters: Array<(p: RawPeer) => void> = [];
  let taken = 0;
  const server = netCreateServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    if (mode === 'silent') {
      socket.resume(); // read and ignore, so a FIN from the gateway is seen
      return;
    }
    readHead(socket, (head, rest) => {
      if (typeof mode === 'object') {
        socket.end(`HTTP/1.1 ${mode.status} Nope\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(mode.body)}\r\nConnection: close\r\n\r\n${mode.body}`);
        return;
      }
      const key = /sec-websocket-key:\s*(\S+)/i.exec(head)?.[1] ?? '';
      const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      const p = rawPeer(socket, rest);
      peers.push(p);
      onPeer?.(p);
      const w = waiters.shift();
      if (w) {
        taken++;
        w(p);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    server,
    peers,
    sockets,
    nextPeer() {
      if (taken < peers.length) return Promise.resolve(peers[taken++]!);
      return new Promise((r) => waiters.push(r));
    },
  };
}

/** A port with nothing listening on it (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = netCreateServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** The system clock, counting live timers and intervals (pass as `clock` to startGateway). */
export function trackingClock(): Clock & { liveTimeouts: Set<unknown>; liveIntervals: Set<unknown> } {
  const liveTimeouts = new Set<unknown>();
  const liveIntervals = new Set<unknown>();
  return {
    liveTimeouts,
    liveIntervals,
    now: systemClock.now,
    wallNow: systemClock.wallNow,
    setTimeout(fn, ms) {
      const h: unknown = systemClock.setTimeout(() => {
        liveTimeouts.delete(h);
        fn();
      }, ms);
      liveTimeouts.add(h);
      return h;
    },
    clearTimeout(h) {
      liveTimeouts.delete(h);
      systemClock.clearTimeout(h);
    },
    setInterval(fn, ms) {
      const h = systemClock.setInterval(fn, ms);
      liveIntervals.add(h);
      return h;
    },
    clearInterval(h) {
      liveIntervals.delete(h);
      systemClock.clearInterval(h);
    },
  };
}

/** A hand-driven Clock for unit tests: `advance(ms)` fires due timers in order. */
export class ManualClock implements Clock {
  t = 1_000_000;
  wall = Date.UTC(2030, 0, 1);
  /** How often wallNow() was read (schedulers must not: a wall-clock jump would look like a missed pong). */
  wallReads = 0;
  private seq = 0;
  timers = new Map<number, { at: number; fn: () => void; every?: number }>();
  now = () => this.t;
  wallNow = () => (this.wallReads++, this.wall);
  setTimeout = (fn: () => void, ms: number) => (this.timers.set(++this.seq, { at: this.t + ms, fn }), this.seq);
  clearTimeout = (h: unknown) => void this.timers.delete(h as number);
  setInterval = (fn: () => void, ms: number) => (this.timers.set(++this.seq, { at: this.t + Math.max(1, ms), fn, every: Math.max(1, ms) }), this.seq);
  clearInterval = (h: unknown) => void this.timers.delete(h as number);
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void; every?: number }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      const [id, timer] = next;
      this.t = timer.at;
      if (timer.every) timer.at += timer.every;
      else this.timers.delete(id);
      timer.fn();
    }
    this.t = end;
  }
}
