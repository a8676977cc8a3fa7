/**
 * Hostile clients at the TCP level: slowloris and TCP resets in the middle of
 * the handshake, during auth and during the upstream dial, hundreds of times.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { connectClient, freePort, rawUpgrade, startGateway, stopAll, until, upgradeHead, type TestGateway } from '../helpers/gateway.ts';
import { startJwksServer } from '../helpers/jwks-server.ts';
import { claims, hs, jwksOf, signed, testKey } from '../helpers/tokens.ts';
import { childEnv, startProcess, tmpRoutes } from '../helpers/cli.ts';

afterEach(stopAll);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An upstream whose handshake takes `delayMs` (so client resets land during the dial). */
async function slowUpstream(delayMs: () => number) {
  const wss = new WebSocketServer({
    port: 0,
    host: '127.0.0.1',
    perMessageDeflate: false,
    verifyClient: (_info, cb) => void setTimeout(() => cb(true), delayMs()),
  });
  await new Promise((r) => wss.once('listening', r));
  const server = (wss as unknown as { _server: import('node:net').Server })._server;
  let dials = 0;
  server.on('connection', () => dials++);
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    ws.on('message', (d, b) => ws.send(d as Buffer, { binary: b }));
  });
  const port = (wss.address() as { port: number }).port;
  return {
    wss,
    url: `ws://127.0.0.1:${port}`,
    dials: () => dials,
    openSockets: () => new Promise<number>((r) => server.getConnections((_e, n) => r(n))),
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => server.close(() => r()));
      }),
  };
}

/** Send `head`, then RST the connection after `when` (sync, next tick, or ms). */
function resetAfter(port: number, head: string, when: 'sync' | 'immediate' | number): Promise<void> {
  return new Promise((resolve) => {
    const s: Socket = netConnect(port, '127.0.0.1');
    s.on('error', () => {});
    s.on('close', () => resolve());
    s.once('connect', () => {
      s.write(head);
      const rst = () => (s.destroyed ? undefined : s.resetAndDestroy());
      if (when === 'sync') rst();
      else if (when === 'immediate') setImmediate(rst);
      else setTimeout(rst, when);
    });
  });
}

describe('slowloris', () => {
  it('a client trickling upgrade headers is disconnected within the 5 s header timeout (+1 s), not minutes', async () => {
    const gw = await startGateway([{ path: '/svc', upstream: 'ws://127.0.0.1:9' }]);
    const head = upgradeHead('/svc?token=x');
    const s = netConnect(gw.port, '127.0.0.1');
    s.on('error', () => {});
    const t0 = Date.now();
    let i = 0;
    let answer = '';
    s.on('data', (d) => (answer += d.toString()));
    const trickle = setInterval(() => {
      if (!s.destroyed && i < head.length - 2) s.write(head[i++]!);
    }, 250);
    const closedAt = await new Promise<number>((r) => s.on('close', () => r(Date.now())));
    clearInterval(trickle);
    const took = closedAt - t0;
    expect(i).toBeLessThan(head.length - 2); // it never finished the head
    expect(took).toBeGreaterThan(3500);
    expect(took).toBeLessThan(6500);
    if (answer) expect(answer).toMatch(/^HTTP\/1\.1 (408|400)/);
    // The gateway still serves others.
    expect((await gw.http('/healthz')).status).toBe(200);
  }, 15_000);

  it('many slowloris sockets at once do not stop a normal handshake and are all dropped', async () => {
    const gw = await startGateway([{ path: '/svc', upstream: 'ws://127.0.0.1:9', auth: false }]);
    const sockets: Socket[] = [];
    const ended = new Set<Socket>();
    for (let i = 0; i < 50; i++) {
      const s = netConnect(gw.port, '127.0.0.1');
      s.on('error', () => {});
      s.on('data', () => {});
      s.on('end', () => ended.add(s));
      s.on('close', () => ended.add(s));
      s.write('GET /svc HTTP/1.1\r\nHost: x\r\n');
      sockets.push(s);
    }
    const drip = setInterval(() => sockets.forEach((s) => !s.destroyed && s.write('X-A: b\r\n')), 300);
    try {
      await sleep(200);
      const r = await rawUpgrade(gw.port, upgradeHead('/nope'));
      expect(r.status).toBe(404);
      const t0 = Date.now();
      await until(() => ended.size === sockets.length, 7000, 'all slowloris sockets dropped');
      expect(Date.now() - t0).toBeLessThan(6500);
    } finally {
      clearInterval(drip);
      sockets.forEach((s) => s.destroy());
    }
  }, 15_000);
});

describe('TCP resets during the handshake', () => {
  it('300 resets (right after the request, during auth, during the upstream dial) leave no sessions, sockets or per-IP counts', async () => {
    const errors: unknown[] = [];
    const onErr = (e: unknown) => errors.push(e);
    process.on('uncaughtException', onErr);
    process.on('unhandledRejection', onErr);
    try {
      const up = await slowUpstream(() => Math.floor(Math.random() * 40));
      const cap = 8;
      const gw: TestGateway = await startGateway(
        [
          { path: '/svc', upstream: up.url, connectTimeoutMs: 2000 },
          { path: '/open', upstream: up.url, auth: false },
        ],
        { maxHandshakesPerIp: cap },
      );
      const token = await hs(claims({ sub: 'resetter' }));
      const heads = [upgradeHead(`/svc?token=${token}`), upgradeHead('/open'), upgradeHead(`/svc?token=${token}`, { 'Sec-WebSocket-Protocol': 'a, b' })];
      const whens: Array<'sync' | 'immediate' | number> = ['sync', 'immediate', 0, 1, 2, 5, 10, 20, 30, 45];
      let n = 0;
      const worker = async () => {
        while (n < 300) {
          const i = n++;
          await resetAfter(gw.port, heads[i % heads.length]!, whens[i % whens.length]!);
        }
      };
      await Promise.all(Array.from({ length: 6 }, worker));
      expect(up.dials()).toBeGreaterThan(50); // many resets really landed during the dial

      await until(() => gw.app.gateway.registry.size === 0, 6000, 'registry empty');
      await until(() => up.wss.clients.size === 0, 6000, 'upstream websockets closed');
      await until(async () => (await up.openSockets()) === 0, 6000, 'upstream TCP sockets closed');
      expect(gw.app.gateway.registry.indexSizes()).toEqual({ ids: 0, users: 0, channels: 0, routes: 0 });
      expect(gw.app.gateway.registry.openByRoute().size).toBe(0);

      // The per-IP handshake map is back to empty: `cap` concurrent handshakes from this IP all succeed.
      const clients = await Promise.all(Array.from({ length: cap }, () => connectClient(gw.url('/svc', token))));
      for (const c of clients) {
        c.ws.send('alive');
        expect((await c.next()).text).toBe('alive');
      }
      const metrics = await (await gw.http('/metrics')).text();
      expect(metrics).toContain(`wsgate_connections_open{route="/svc"} ${cap}`);
      for (const c of clients) c.ws.close(1000);
      await until(() => gw.app.gateway.registry.size === 0 && up.wss.clients.size === 0, 4000, 'clean close');
      await up.close();
      expect(errors).toEqual([]);
    } finally {
      process.off('uncaughtException', onErr);
      process.off('unhandledRejection', onErr);
    }
  }, 30_000);

  it('resets while auth waits on a cold JWKS fetch: no upstream dial for a gone client, maps empty afterwards', async () => {
    const key = await testKey('ES256', 'a14-cold');
    const jwks = await startJwksServer(jwksOf(key));
    jwks.delayMs = 400;
    const up = await slowUpstream(() => 0);
    const cap = 32;
    const gw = await startGateway([{ path: '/j', upstream: up.url, auth: { jwksUrl: jwks.url } }], { maxHandshakesPerIp: cap });
    try {
      const token = await signed(key);
      // 30 handshakes all waiting on the one JWKS fetch, each reset while it is pending.
      await Promise.all(Array.from({ length: 30 }, (_, i) => resetAfter(gw.port, upgradeHead(`/j?token=${token}`), 50 + (i % 10) * 20)));
      await until(() => jwks.fetches >= 1, 2000, 'the JWKS fetch');
      await sleep(600); // the fetch completes and the verifications resume for clients that are gone
      expect(up.dials()).toBe(0);
      expect(gw.app.gateway.registry.size).toBe(0);
      // The per-IP map is empty again: `cap` concurrent handshakes succeed.
      jwks.delayMs = 0;
      const clients = await Promise.all(Array.from({ length: cap }, () => connectClient(gw.url('/j', token))));
      expect(clients).toHaveLength(cap);
      expect(jwks.fetches).toBe(1);
    } finally {
      await jwks.close();
      await up.close();
    }
  }, 20_000);

  it('resets after the 101 head was written, before reading it, leave nothing behind', async () => {
    const up = await slowUpstream(() => 0);
    const gw = await startGateway([{ path: '/open', upstream: up.url, auth: false }], { maxHandshakesPerIp: 4 });
    for (let i = 0; i < 60; i++) await resetAfter(gw.port, upgradeHead('/open'), 3 + (i % 10));
    await until(() => gw.app.gateway.registry.size === 0, 6000, 'registry empty');
    await until(async () => up.wss.clients.size === 0 && (await up.openSockets()) === 0, 6000, 'upstream clean');
    const c = await connectClient(gw.url('/open'));
    c.ws.send('ok');
    expect((await c.next()).text).toBe('ok');
    await up.close();
  }, 20_000);

  it('a real `wsgate start` process survives 300 resets and still serves', async () => {
    const up = await slowUpstream(() => Math.floor(Math.random() * 30));
    const dir = tmpRoutes({ 'svc.ts': `export default { path: '/svc', upstream: '${up.url}', connectTimeoutMs: 2000 };\n` });
    const port = await freePort();
    const p = await startProcess(dir, port, childEnv({ LOG_LEVEL: 'warn' }));
    const token = await hs();
    let n = 0;
    const whens: Array<'sync' | 'immediate' | number> = ['sync', 'immediate', 1, 3, 8, 15, 25];
    const worker = async () => {
      while (n < 300) {
        const i = n++;
        await resetAfter(port, upgradeHead(`/svc?token=${token}`), whens[i % whens.length]!);
      }
    };
    await Promise.all(Array.from({ length: 6 }, worker));
    expect(p.child.exitCode).toBeNull();
    await until(async () => ((await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as { connections: number }).connections === 0, 6000, 'no connections');
    await until(async () => up.wss.clients.size === 0 && (await up.openSockets()) === 0, 6000, 'upstream clean');
    const c = await connectClient(`ws://127.0.0.1:${port}/svc?token=${token}`);
    c.ws.send('still here');
    expect((await c.next()).text).toBe('still here');
    expect(p.stderr()).not.toMatch(/Unhandled|uncaught|TypeError|ERR_/i);
    await up.close();
  }, 40_000);
});
