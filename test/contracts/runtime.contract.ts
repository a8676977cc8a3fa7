/**
 * The runtime contract: the same wire-level tests against a real gateway PROCESS on every
 * runtime (Node 20, Node 24, Bun, Deno, workerd). A runtime adds a ~10-line file under
 * test/runtimes/ that calls `runRuntimeContract(name, start)`; `start` gets a routes folder
 * (plain-object `.mjs` route files, no imports) and the environment, and returns the port.
 *
 * Where a runtime really cannot do something, the expectation comes from ONE table,
 * ./runtime-capabilities.ts (printed at the start of each run), never from `if (runtime ...)`.
 * Upstreams and clients run in this (Node) process: only the gateway changes.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingHttpHeaders } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { connectClient, encodeFrame, expectRefused, FrameReader, rawUpgrade, stopAll, until, upgradeHead, type Frame } from '../helpers/gateway.ts';
import { startIdleProxy, type IdleProxy } from '../helpers/idle-proxy.ts';
import { claims, expired, hs, TEST_SECRET, tamperSignature } from '../helpers/tokens.ts';
import { APP_KEEPALIVE_MESSAGE } from '../../src/core/heartbeat.ts';
import { describeCapabilities, RUNTIME_CAPABILITIES, type RuntimeKey } from './runtime-capabilities.ts';

export interface RuntimeStartOptions {
  /** A folder of route files (`*.mjs`, each `export default { ...plain route object }`). */
  routesDir: string;
  /** Environment for the gateway (JWT_SECRET, LOG_LEVEL, ...). */
  env: Record<string, string>;
}

export interface StartedRuntime {
  port: number;
  /** The process that runs the gateway, when there is one to measure (RSS) and signal. */
  pid?: number;
  stop(): Promise<void>;
}

export type RuntimeStarter = (opts: RuntimeStartOptions) => Promise<StartedRuntime>;

interface UpConn {
  ws: WebSocket;
  url: string;
  headers: IncomingHttpHeaders;
  closed: Promise<{ code: number; reason: string }>;
}

/** One scriptable upstream for the whole run: echoes, picks subprotocol `b`, found by `?t=`. */
async function startContractUpstream() {
  const wss = new WebSocketServer({
    port: 0,
    host: '127.0.0.1',
    perMessageDeflate: false,
    maxPayload: 64 << 20,
    handleProtocols: (p) => (p.has('b') ? 'b' : false),
    verifyClient: (info, cb) => (info.req.url?.startsWith('/reject') ? cb(false, 403, 'Forbidden') : cb(true)),
  });
  await once(wss, 'listening');
  const byTag = new Map<string, UpConn>();
  const waiters = new Map<string, (c: UpConn) => void>();
  wss.on('connection', (ws, req) => {
    ws.on('error', () => {});
    const url = req.url ?? '';
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    const c: UpConn = { ws, url, headers: req.headers, closed };
    if (!url.startsWith('/flood')) ws.on('message', (data, isBinary) => ws.readyState === 1 && ws.send(data as Buffer, { binary: isBinary }));
    const tag = new URL(url, 'http://x').searchParams.get('t');
    if (tag === null) return;
    byTag.set(tag, c);
    waiters.get(tag)?.(c);
  });
  return {
    url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}`,
    connection(tag: string, timeoutMs = 5000): Promise<UpConn> {
      const c = byTag.get(tag);
      if (c) return Promise.resolve(c);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no upstream connection tagged ${tag}`)), timeoutMs);
        waiters.set(tag, (conn) => {
          clearTimeout(t);
          resolve(conn);
        });
      });
    },
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  };
}

/** A temporary folder with one plain-object `.mjs` route file per entry (no imports: any runtime or bundler reads it). */
function writeRoutes(routes: Record<string, Record<string, unknown>>): string {
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-contract-routes-'));
  for (const [name, route] of Object.entries(routes)) writeFileSync(join(dir, `${name}.mjs`), `export default ${JSON.stringify(route, null, 2)};\n`);
  return dir;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let tagN = 0;
const tag = () => `t${Date.now().toString(36)}${tagN++}`;

function rssKb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Frames a raw socket receives after the handshake head (and whether the TCP connection ended). */
function frameWatch(socket: import('node:net').Socket, rest = '') {
  const reader = new FrameReader();
  const frames: Frame[] = [];
  let ended = false;
  if (rest) frames.push(...reader.push(Buffer.from(rest, 'latin1')));
  socket.on('data', (d: Buffer) => frames.push(...reader.push(d)));
  socket.once('close', () => (ended = true));
  return { frames, ended: () => ended, closeCode: () => frames.find((f) => f.opcode === 8)?.payload.readUInt16BE(0) };
}

function afterHead(raw: string): string {
  const i = raw.indexOf('\r\n\r\n');
  return i < 0 ? '' : raw.slice(i + 4);
}

/**
 * The Done-when "a connection idles past a 60 s limit on every runtime", without 65 s more per
 * runtime in sequence: each connection is opened in a beforeAll through an idle proxy (the load
 * balancer in front of the gateway; client leg only), the rest of the contract runs meanwhile, and
 * the last test before the drain checks them, waiting only for what is left of `idleMs`.
 * heartbeat presets: aws-alb 25 s / 10 s, alibaba-clb 5 s / 5 s (src/routing/schema.ts).
 */
const LONG_IDLE = [
  { key: 'alb', heartbeat: 'aws-alb', proxyIdleMs: 60_000, idleMs: 65_000 },
  { key: 'clb', heartbeat: 'alibaba-clb', proxyIdleMs: 15_000, idleMs: 3 * 15_000 },
] as const;
const LONG_IDLE_MS = Math.max(...LONG_IDLE.map((l) => l.idleMs));

interface LongIdleClient {
  ws: WebSocket;
  /** Non-heartbeat text messages received. */
  texts: string[];
  /** Heartbeats that reached the client: protocol pings (auto-ponged by ws) or app keepalives (answered). */
  heartbeats: () => number;
  closed: () => { code: number; reason: string } | undefined;
}

/**
 * A plain ws client that is NOT registered with stopAll (the contract's afterEach would end it):
 * auto-pong for protocol pings; where the runtime's fallback is an app keepalive, answers each
 * {"type":"ping"} with {"type":"pong"} as documented. Sends nothing else on its own.
 */
async function openLongIdleClient(url: string, answerAppKeepalive: boolean): Promise<LongIdleClient> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const texts: string[] = [];
  let heartbeats = 0;
  let closed: { code: number; reason: string } | undefined;
  ws.on('ping', () => heartbeats++);
  ws.on('message', (d, isBinary) => {
    const text = (d as Buffer).toString();
    if (!isBinary && text === APP_KEEPALIVE_MESSAGE) {
      heartbeats++;
      if (answerAppKeepalive) ws.send('{"type":"pong"}');
      return;
    }
    texts.push(text);
  });
  ws.on('close', (code, reason) => (closed = { code, reason: reason.toString() }));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode} for ${url}`)));
  });
  ws.on('error', () => {});
  return { ws, texts, heartbeats: () => heartbeats, closed: () => closed };
}

export function runRuntimeContract(name: RuntimeKey, start: RuntimeStarter): void {
  const caps = RUNTIME_CAPABILITIES[name];

  describe(`runtime contract: ${name}`, () => {
    let gw: StartedRuntime;
    let up: Awaited<ReturnType<typeof startContractUpstream>>;
    let dir: string | undefined;
    let hung: Server | undefined;
    const ws = (path: string) => `ws://127.0.0.1:${gw.port}${path}`;
    const withToken = async (path: string, sub = 'user-1') => `${ws(path)}${path.includes('?') ? '&' : '?'}token=${await hs(claims({ sub }))}`;

    beforeAll(async () => {
      console.log(describeCapabilities(name));
      up = await startContractUpstream();
      const U = up.url;
      hung = createServer((sock) => sock.on('error', () => {})); // accepts TCP, never answers
      hung.listen(0, '127.0.0.1');
      await once(hung, 'listening');
      const down = createServer();
      down.listen(0, '127.0.0.1');
      await once(down, 'listening');
      const downPort = (down.address() as { port: number }).port;
      await new Promise((r) => down.close(r));
      dir = writeRoutes({
        echo: { path: '/echo', upstream: `${U}/echo`, heartbeat: 'off', maxMessageBytes: 8 << 20, claimHeaders: { sub: 'X-User-Id' } },
        small: { path: '/small', upstream: `${U}/small`, heartbeat: 'off', maxMessageBytes: 1024 },
        public: { path: '/public', upstream: `${U}/public`, auth: false, heartbeat: 'off' },
        hb: { path: '/hb', upstream: `${U}/hb`, auth: false, heartbeat: { intervalMs: 500, timeoutMs: 500 } },
        flood: { path: '/flood', upstream: `${U}/flood`, heartbeat: 'off', maxMessageBytes: 1 << 20, maxBufferedBytes: 8 << 20 },
        hub: { path: '/hub/:room', channel: 'room:{room}', heartbeat: 'off' },
        reject: { path: '/reject', upstream: `${U}/reject`, auth: false, heartbeat: 'off' },
        down: { path: '/down', upstream: `ws://127.0.0.1:${downPort}/`, auth: false, heartbeat: 'off' },
        shortdial: { path: '/shortdial', upstream: `${U}/shortdial`, auth: false, heartbeat: 'off', connectTimeoutMs: 500 },
        hung: { path: '/hung', upstream: `ws://127.0.0.1:${(hung.address() as { port: number }).port}/`, auth: false, heartbeat: 'off', connectTimeoutMs: 500 },
        ...Object.fromEntries(LONG_IDLE.map((l) => [`idle-${l.key}`, { path: `/idle-${l.key}`, upstream: `${U}/idle-${l.key}`, auth: false, heartbeat: l.heartbeat }])),
      });
      gw = await start({ routesDir: dir, env: { JWT_SECRET: TEST_SECRET, LOG_LEVEL: 'warn' } });
    }, 60_000);

    // Long idle (see LONG_IDLE): opened now, checked by the last test before the drain. A failure
    // to open is kept for that test, so it never takes the rest of the contract down with it.
    const longIdle: Array<{ key: string; proxy: IdleProxy; client: LongIdleClient; upstream: UpConn; idleSince: number; bytesDownAtStart: number }> = [];
    let longIdleError: unknown;
    beforeAll(async () => {
      try {
        for (const l of LONG_IDLE) {
          const proxy = await startIdleProxy({ targetPort: gw.port, idleMs: l.proxyIdleMs });
          const t = tag();
          const client = await openLongIdleClient(`ws://127.0.0.1:${proxy.port}/idle-${l.key}?t=${t}`, caps.clientHeartbeat === 'app-keepalive');
          const upstream = await up.connection(t);
          const entry = { key: l.key, proxy, client, upstream, idleSince: 0, bytesDownAtStart: 0 };
          longIdle.push(entry);
          client.ws.send(`long idle ${l.key}: before`);
          await until(() => client.texts.includes(`long idle ${l.key}: before`), 5000, `the ${l.key} echo before the idle period`);
          entry.idleSince = Date.now(); // from here on, no data message either way
          entry.bytesDownAtStart = proxy.bytes.down;
        }
      } catch (err) {
        longIdleError = err;
      }
    }, 30_000);

    afterEach(stopAll);
    afterAll(async () => {
      for (const l of longIdle.splice(0)) {
        l.client.ws.terminate();
        await l.proxy.close();
      }
      await gw?.stop();
      await up?.close();
      hung?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    describe('handshake errors', () => {
      it('404 JSON for an unknown path', async () => {
        const r = await rawUpgrade(gw.port, upgradeHead('/nope'));
        expect(r.status).toBe(404);
        expect(JSON.parse(r.body)).toMatchObject({ error: 'not_found' });
      });
      it('426 with Upgrade: websocket for a plain GET', async () => {
        const r = await fetch(`http://127.0.0.1:${gw.port}/echo`);
        expect(r.status).toBe(426);
        expect(r.headers.get('upgrade')).toBe(caps.upgradeHeaderOn426 ? 'websocket' : null);
        expect(await r.json()).toMatchObject({ error: 'upgrade_required' });
      });
      it(`${caps.validatesClientKey ? '400 for a bad or missing Sec-WebSocket-Key (never 101 or 500)' : 'the front end owns the key: a missing key is refused with 400 before the Worker (limitation)'}`, async () => {
        const head = upgradeHead('/public').replace(/Sec-WebSocket-Key: [^\r]*\r\n/, '');
        const missing = await rawUpgrade(gw.port, head);
        expect(missing.status).toBe(400);
        if (!caps.validatesClientKey) return;
        expect(JSON.parse(missing.body)).toMatchObject({ error: 'bad_handshake' });
        const bad = await rawUpgrade(gw.port, upgradeHead('/public', { 'Sec-WebSocket-Key': 'c2hvcnQ=' }));
        expect(bad.status).toBe(400);
      });
      it('426 with Sec-WebSocket-Version: 13 for version 12', async () => {
        const r = await rawUpgrade(gw.port, upgradeHead('/public', { 'Sec-WebSocket-Version': '12' }));
        expect(r.status).toBe(426);
        expect(r.headers['sec-websocket-version']).toBe('13');
      });
      it('`Upgrade: WebSocket` in mixed case is upgraded', async () => {
        const r = await rawUpgrade(gw.port, upgradeHead('/public', { Upgrade: 'WebSocket' }));
        expect(r.status).toBe(101);
      });
    });

    describe('upstream failures before the upgrade', () => {
      it('502 upstream_rejected when the upstream answers 403', async () => {
        const r = await expectRefused(ws('/reject'));
        expect(r.status).toBe(502);
        expect(r.body).toMatchObject({ error: 'upstream_rejected' });
      });
      it('502 upstream_unavailable when nothing listens', async () => {
        const r = await expectRefused(ws('/down'));
        expect(r.status).toBe(502);
        expect(r.body).toMatchObject({ error: 'upstream_unavailable' });
      });
      it('504 upstream_timeout when the upstream never answers the handshake', async () => {
        const r = await expectRefused(ws('/hung'));
        expect(r.status).toBe(504);
        expect(r.body).toMatchObject({ error: 'upstream_timeout' });
      });
    });

    describe('auth', () => {
      it('401 JSON + WWW-Authenticate without a token', async () => {
        const r = await expectRefused(ws('/echo'));
        expect(r.status).toBe(401);
        expect(r.body).toMatchObject({ error: 'token_missing' });
        expect(String(r.headers['www-authenticate'])).toMatch(/^Bearer /);
      });
      it('401 for an expired token', async () => {
        const r = await expectRefused(`${ws('/echo')}?token=${await expired()}`);
        expect(r.status).toBe(401);
        expect(r.body).toMatchObject({ error: 'token_expired' });
        expect(String(r.headers['www-authenticate'])).toContain('invalid_token');
      });
      it('401 for a tampered token', async () => {
        const r = await expectRefused(`${ws('/echo')}?token=${tamperSignature(await hs())}`);
        expect(r.status).toBe(401);
        expect(r.body).toMatchObject({ error: 'token_invalid' });
      });
    });

    describe('relay', () => {
      it('text, binary, empty and 4 MiB messages arrive in order with their type', async () => {
        const c = await connectClient(await withToken('/echo'));
        const big = Buffer.alloc(4 << 20);
        for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
        const sent: Array<[Buffer, boolean]> = [
          [Buffer.from('hello'), false],
          [Buffer.from([0, 1, 2, 255]), true],
          [Buffer.alloc(0), false],
          [Buffer.alloc(0), true],
          [Buffer.from('héllo wörld ✓'), false],
          [big, true],
          [Buffer.from('end'), false],
        ];
        for (const [data, binary] of sent) c.ws.send(data, { binary });
        for (const [data, binary] of sent) {
          const m = await c.next(10_000);
          expect(m.isBinary).toBe(binary);
          expect(m.data.length).toBe(data.length);
          expect(m.data.equals(data)).toBe(true);
        }
      });
      it("a relayed connection outlives the route's connectTimeoutMs (the dial timeout ends with the handshake)", async () => {
        const t = tag();
        const c = await connectClient(`${ws('/shortdial')}?t=${t}`);
        const u = await up.connection(t);
        let closed: { code: number; reason: string } | undefined;
        void c.closed.then((x) => (closed = x));
        await sleep(1500); // 3 x connectTimeoutMs
        expect(closed, `closed with ${JSON.stringify(closed)}`).toBeUndefined();
        expect(u.ws.readyState).toBe(WebSocket.OPEN);
        c.ws.send('after the dial timeout');
        expect((await c.next(3000)).text).toBe('after the dial timeout');
      });
      it('a message over the route limit closes the client with 1009', async () => {
        const c = await connectClient(await withToken('/small'));
        c.ws.send(Buffer.alloc(2048), { binary: true });
        expect((await c.closed).code).toBe(1009);
      });
    });

    describe('close codes', () => {
      it("upstream 4001 'x' reaches the client as 4001 'x'", async () => {
        const t = tag();
        const c = await connectClient(await withToken(`/echo?t=${t}`));
        const u = await up.connection(t);
        u.ws.close(4001, 'x');
        expect(await c.closed).toEqual({ code: 4001, reason: 'x' });
      });
      it(`an upstream TCP drop reaches the client as ${caps.upstreamDropCode}`, async () => {
        const t = tag();
        const c = await connectClient(await withToken(`/echo?t=${t}`));
        const u = await up.connection(t);
        u.ws.terminate();
        expect((await c.closed).code).toBe(caps.upstreamDropCode);
      });
      it("client 4000 'bye' reaches the upstream as 4000 'bye'", async () => {
        const t = tag();
        const c = await connectClient(await withToken(`/echo?t=${t}`));
        const u = await up.connection(t);
        c.ws.close(4000, 'bye');
        expect(await u.closed).toEqual({ code: 4000, reason: 'bye' });
      });
    });

    describe('subprotocols', () => {
      for (const offer of ['a,b', 'a, b']) {
        it(`offer "${offer}": the upstream picks b, the client gets b`, async () => {
          const t = tag();
          const r = await rawUpgrade(gw.port, upgradeHead(`/public?t=${t}`, { 'Sec-WebSocket-Protocol': offer }));
          expect(r.status).toBe(101);
          expect(r.headers['sec-websocket-protocol']).toBe('b');
          expect((await up.connection(t)).headers['sec-websocket-protocol']?.replace(/\s/g, '')).toBe('a,b');
        });
      }
      it('a ws client offering [a, b] sees b', async () => {
        const c = await connectClient(await withToken('/echo'), ['a', 'b']);
        expect(c.ws.protocol).toBe('b');
      });
      it('a bearer.<jwt> carrier authenticates and is never echoed or forwarded', async () => {
        const jwt = await hs();
        for (const offer of [`bearer.${jwt}, b`, `bearer.${jwt}`]) {
          const t = tag();
          const r = await rawUpgrade(gw.port, upgradeHead(`/echo?t=${t}`, { 'Sec-WebSocket-Protocol': offer }));
          expect(r.status).toBe(101);
          expect(r.raw).not.toContain(jwt);
          expect(r.headers['sec-websocket-protocol']).toBe(offer.endsWith(', b') ? 'b' : undefined);
          const u = await up.connection(t);
          expect(JSON.stringify(u.headers)).not.toContain(jwt);
        }
      });
    });

    it('forwards identity headers, never the token', async () => {
      const t = tag();
      const jwt = await hs(claims({ sub: 'alice' }));
      await connectClient(`${ws(`/echo?t=${t}&x=1`)}&token=${jwt}`);
      const u = await up.connection(t);
      expect(u.headers['x-user-id']).toBe('alice');
      expect(u.headers['x-forwarded-for']).toBe('127.0.0.1');
      expect(u.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(u.url).toBe(`/echo?t=${t}&x=1`);
      expect(u.headers.authorization).toBeUndefined();
      expect(JSON.stringify(u.headers)).not.toContain(jwt);
    });

    describe(`heartbeats (client: ${caps.clientHeartbeat})`, () => {
      it(`a client that stops answering is closed within ${caps.deadPeerBoundMs} ms`, async () => {
        const r = await rawUpgrade(gw.port, upgradeHead('/hb'));
        expect(r.status).toBe(101);
        const started = Date.now();
        const watch = frameWatch(r.socket, afterHead(r.raw)); // reads, never answers a ping
        await until(() => watch.ended() || watch.closeCode() !== undefined, caps.deadPeerBoundMs + 3000, 'the gateway to close a silent client');
        const elapsed = Date.now() - started;
        console.log(`[runtime contract] ${name}: silent client closed after ${elapsed} ms (code ${watch.closeCode() ?? 'none, TCP closed'}), pings seen: ${watch.frames.filter((f) => f.opcode === 9).length}`);
        expect(elapsed).toBeLessThanOrEqual(caps.deadPeerBoundMs);
      });
      it(`an upstream that stops answering is ${caps.upstreamPing ? 'closed (client gets 1014)' : 'NOT detected by pings (documented gap: TCP/close events only)'}`, async () => {
        const t = tag();
        const c = await connectClient(`${ws('/hb')}?t=${t}`);
        if (caps.clientHeartbeat === 'app-keepalive') c.ws.on('message', (d) => d.toString() === APP_KEEPALIVE_MESSAGE && c.ws.send('{"type":"pong"}'));
        const u = await up.connection(t);
        u.ws.pause(); // reads nothing: no pong, no close
        let closed: { code: number } | undefined;
        void c.closed.then((x) => (closed = x));
        if (caps.upstreamPing) {
          await until(() => closed !== undefined, caps.deadPeerBoundMs + 3000, 'the client close');
          expect(closed!.code).toBe(1014);
        } else {
          await sleep(caps.deadPeerBoundMs);
          expect(closed).toBeUndefined();
        }
        u.ws.resume();
      });
      it('an idle connection survives a proxy with a 1.5 s idle limit', async () => {
        const proxy = await startIdleProxy({ targetPort: gw.port, idleMs: 1500 });
        try {
          const c = await connectClient(`ws://127.0.0.1:${proxy.port}/hb`);
          // Where the gateway cannot ping, its app-level keepalive must be answered (any message).
          if (caps.clientHeartbeat === 'app-keepalive') c.ws.on('message', (d) => d.toString() === APP_KEEPALIVE_MESSAGE && c.ws.send('{"type":"pong"}'));
          await sleep(4000);
          expect(proxy.cuts).toBe(0);
          c.ws.send('still here');
          await until(() => c.messages.some((m) => m.data.toString() === 'still here'), 3000, 'the echo through the proxy');
        } finally {
          await proxy.close();
        }
      });
    });

    it(`an unmasked client frame is ${caps.unmaskedClientFrame === 'close-1002' ? 'closed with 1002' : 'accepted (runtime limitation)'}`, async () => {
      const r = await rawUpgrade(gw.port, upgradeHead('/public'));
      expect(r.status).toBe(101);
      const watch = frameWatch(r.socket, afterHead(r.raw));
      r.socket.write(encodeFrame(1, 'unmasked', { mask: false }));
      if (caps.unmaskedClientFrame === 'close-1002') {
        await until(() => watch.closeCode() !== undefined || watch.ended(), 5000, 'a close');
        expect(watch.closeCode()).toBe(1002);
      } else {
        await until(() => watch.frames.some((f) => f.opcode === 1), 5000, 'the echo');
        expect(watch.frames.find((f) => f.opcode === 1)!.payload.toString()).toBe('unmasked');
      }
    });

    it(`a message then a close in one write: ${caps.losslessClose ? 'the echo arrives before the close (lossless close)' : 'the close completes (the echo may be lost: runtime limitation)'}`, async () => {
      const r = await rawUpgrade(gw.port, upgradeHead('/public'));
      expect(r.status).toBe(101);
      const watch = frameWatch(r.socket, afterHead(r.raw));
      const code = Buffer.alloc(2);
      code.writeUInt16BE(1000);
      r.socket.write(Buffer.concat([encodeFrame(1, 'last words'), encodeFrame(8, code)]));
      await until(() => watch.closeCode() !== undefined || watch.ended(), 5000, 'a close');
      expect(watch.closeCode()).toBe(1000);
      const echoed = watch.frames.findIndex((f) => f.opcode === 1 && f.payload.toString() === 'last words');
      if (caps.losslessClose) expect(echoed).toBe(0);
      else console.log(`[contract ${name}] message then close: echo ${echoed === 0 ? 'arrived' : 'lost'} (losslessClose: false)`);
      r.socket.destroy();
    });

    it(`a client that stops reading under an upstream flood: bounded memory, nothing dropped silently (${caps.slowClient})`, async () => {
      const t = tag();
      const c = await connectClient(await withToken(`/flood?t=${t}`));
      c.ws.pause();
      const u = await up.connection(t);
      const base = gw.pid !== undefined ? rssKb(gw.pid) : undefined;
      let peak = base ?? 0;
      let sent = 0;
      const chunk = Buffer.alloc(64 << 10);
      const deadline = Date.now() + 3000;
      while (Date.now() < deadline && u.ws.readyState === WebSocket.OPEN) {
        while (u.ws.bufferedAmount < 2 << 20 && u.ws.readyState === WebSocket.OPEN) {
          const m = Buffer.from(chunk);
          m.writeUInt32BE(sent++, 0);
          u.ws.send(m, { binary: true });
        }
        await sleep(20);
        if (gw.pid !== undefined) peak = Math.max(peak, rssKb(gw.pid) ?? 0);
      }
      c.ws.resume();
      let closed: { code: number } | undefined;
      void c.closed.then((x) => (closed = x));
      await until(() => c.messages.length >= sent || closed !== undefined, 20_000, 'delivery or a close');
      await sleep(200);
      c.messages.forEach((m, i) => expect(m.data.readUInt32BE(0), 'messages arrive in order, without gaps').toBe(i));
      const growthMb = base !== undefined ? (peak - base) / 1024 : undefined;
      console.log(`[runtime contract] ${name}: flood sent ${sent}, delivered ${c.messages.length}, close ${closed?.code ?? 'none'}, RSS growth ${growthMb?.toFixed(1) ?? 'n/a (no pid)'} MiB`);
      if (growthMb !== undefined) expect(growthMb).toBeLessThan(200);
      if (closed === undefined || c.messages.length === sent) expect(c.messages.length).toBe(sent);
      else expect(closed.code, 'a slow client is closed with the documented code').toBe(4408);
      if (caps.slowClient === 'pause') expect(c.messages.length).toBe(sent);
    }, 40_000);

    it('channels: two clients on a hub route exchange messages and see join events', async () => {
      const a = await connectClient(await withToken('/hub/r1', 'alice'));
      await until(() => a.messages.some((m) => m.data.toString().includes('"presence"')), 3000, "alice's presence snapshot");
      const b = await connectClient(await withToken('/hub/r1', 'bob'));
      const parsed = (c: typeof a) => c.messages.flatMap((m) => (m.isBinary ? [] : [JSON.parse(m.data.toString()) as Record<string, unknown>]));
      await until(() => parsed(a).some((e) => e.type === 'join' && e.user === 'bob'), 3000, 'alice sees bob join');
      a.ws.send('hi bob');
      await until(() => parsed(b).some((e) => e.type === 'message' && e.data === 'hi bob'), 3000, 'bob receives');
      expect(parsed(b).find((e) => e.type === 'message')).toMatchObject({ channel: 'room:r1', from: 'alice', data: 'hi bob' });
      b.ws.send('hi alice');
      await until(() => parsed(a).some((e) => e.type === 'message' && e.data === 'hi alice'), 3000, 'alice receives');
    });

    it(`long idle: through a 60 s idle proxy (aws-alb) for >= 65 s and a 15 s one (alibaba-clb) for >= 3 x 15 s, still open, never cut (client: ${caps.clientHeartbeat})`, async () => {
      if (longIdleError) throw longIdleError;
      expect(longIdle.map((l) => l.key)).toEqual(LONG_IDLE.map((l) => l.key));
      const remaining = Math.max(...longIdle.map((l) => l.idleSince + LONG_IDLE.find((x) => x.key === l.key)!.idleMs)) - Date.now();
      if (remaining > 0) await sleep(remaining);
      for (const l of longIdle) {
        const spec = LONG_IDLE.find((x) => x.key === l.key)!;
        const idleFor = Date.now() - l.idleSince;
        console.log(
          `[runtime contract] ${name}: long idle ${spec.heartbeat} behind a ${spec.proxyIdleMs / 1000} s proxy: idle ${(idleFor / 1000).toFixed(1)} s, heartbeats seen ${l.client.heartbeats()}, proxy cuts ${l.proxy.cuts}, bytes down during idle ${l.proxy.bytes.down - l.bytesDownAtStart}, close ${l.client.closed()?.code ?? 'none'}`,
        );
        expect(idleFor).toBeGreaterThanOrEqual(spec.idleMs);
        expect(l.client.closed(), `${l.key}: closed with ${JSON.stringify(l.client.closed())}`).toBeUndefined();
        expect(l.client.ws.readyState).toBe(WebSocket.OPEN);
        expect(l.proxy.cuts, `${l.key}: the ${spec.proxyIdleMs / 1000} s idle proxy cut the connection`).toBe(0);
        expect(l.proxy.open).toBe(1);
        expect(l.client.heartbeats(), `${l.key}: heartbeats (${caps.clientHeartbeat}) reached the client`).toBeGreaterThan(0);
        expect(l.proxy.bytes.down).toBeGreaterThan(l.bytesDownAtStart);
        expect(l.client.texts, 'no data message during the idle period').toEqual([`long idle ${l.key}: before`]);
        expect(l.upstream.ws.readyState, `${l.key}: the upstream leg is still the same open connection`).toBe(WebSocket.OPEN);
        l.client.ws.send(`long idle ${l.key}: after`);
      }
      for (const l of longIdle) await until(() => l.client.texts.includes(`long idle ${l.key}: after`), 5000, `the ${l.key} echo after the idle period`);
    }, LONG_IDLE_MS + 30_000);

    it('SIGTERM drains: open connections close with 1001, the process exits', async () => {
      if (gw.pid === undefined) return console.log(`[runtime contract] ${name}: no pid, SIGTERM drain not checked here`);
      const c = await connectClient(await withToken('/echo'));
      process.kill(gw.pid, 'SIGTERM');
      expect((await c.closed).code).toBe(1001);
      await until(() => rssKb(gw.pid!) === undefined, 12_000, 'the process to exit');
    }, 20_000);
  });
}
