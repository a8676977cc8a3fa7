/**
 * Graceful shutdown: in process through `app.gateway.drain()`, and a real
 * `wsgate start` process receiving SIGTERM / SIGINT.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import { WebSocketServer } from 'ws';
import { connectClient, countDials, expectRefused, freePort, startGateway, startUpstream, stopAll, until, type TestClient } from '../helpers/gateway.ts';
import { hs } from '../helpers/tokens.ts';
import { childEnv, startProcess, tmpRoutes } from '../helpers/cli.ts';

afterEach(stopAll);

/** An upstream whose handshake takes `delayMs`. */
async function slowUpstream(delayMs: number) {
  const wss = new WebSocketServer({
    port: 0,
    host: '127.0.0.1',
    perMessageDeflate: false,
    verifyClient: (_i, cb) => void setTimeout(() => cb(true), delayMs),
  });
  await new Promise((r) => wss.once('listening', r));
  wss.on('connection', (ws) => ws.on('error', () => {}));
  let dials = 0;
  (wss as unknown as { _server: import('node:net').Server })._server.on('connection', () => dials++);
  return {
    wss,
    dials: () => dials,
    url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  };
}

describe('drain() in process', () => {
  it('/readyz 503 at once, new upgrades 503 JSON, live clients closed with 1001 over the window, resolves with the registry empty', async () => {
    const up = await startUpstream();
    const dials = countDials(up);
    // When the gateway closed each connection (its own `close` log line): what the drain
    // controls, unlike when a client on a loaded machine gets around to reading the frame.
    const closedAt: number[] = [];
    const log = createLogger('info', (line) => {
      if ((JSON.parse(line) as { event: string }).event === 'close') closedAt.push(Date.now());
    });
    const gw = await startGateway([{ path: '/svc', upstream: up.url }], { log });
    const token = await hs();
    const clients: TestClient[] = [];
    for (let i = 0; i < 4; i++) clients.push(await connectClient(gw.url('/svc', token)));
    expect(gw.app.gateway.registry.size).toBe(4);
    const dialsBefore = dials();
    const closes = clients.map((c) => c.closed.then((x) => ({ ...x, at: Date.now() })));

    const t0 = Date.now();
    const drained = gw.app.gateway.drain({ windowMs: 500, deadlineMs: 2000 });
    expect(gw.app.gateway.draining).toBe(true);
    const ready = await gw.http('/readyz');
    expect(ready.status).toBe(503);
    const refused = await expectRefused(gw.url('/svc', token));
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ error: 'draining' });
    expect(refused.headers['retry-after']).toBeDefined();
    // No new upstream dial for the refused handshake.
    expect(dials()).toBe(dialsBefore);

    await drained;
    const doneAt = Date.now() - t0;
    expect(doneAt).toBeLessThan(2000 + 300);
    expect(gw.app.gateway.registry.size).toBe(0);
    const results = await Promise.all(closes);
    for (const r of results) expect(r.code).toBe(1001);
    // Spread over the window, not all at once (connection i is due at i × 500 / 4 ms, so
    // the last closes no sooner than 375 ms after the first, however loaded the machine is).
    expect(closedAt).toHaveLength(4);
    expect(Math.max(...closedAt) - Math.min(...closedAt)).toBeGreaterThanOrEqual(370);
    expect(Math.max(...closedAt) - t0).toBeLessThan(2000);
    await until(() => up.wss.clients.size === 0, 4000, 'upstream legs closed');
    expect((await gw.http('/healthz')).status).toBe(200);
  });

  it('a drain with no connections resolves at once; a second drain is harmless', async () => {
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/svc', upstream: up.url }]);
    const t0 = Date.now();
    await gw.app.gateway.drain({ windowMs: 500, deadlineMs: 2000 });
    await gw.app.gateway.drain({ windowMs: 500, deadlineMs: 2000 });
    expect(Date.now() - t0).toBeLessThan(300);
    expect((await gw.http('/readyz')).status).toBe(503);
  });

  // Regression: a handshake in flight when drain() starts must never become a live connection.
  it('a handshake in flight when the drain starts ends with 503 or a close, never a live connection', async () => {
    const slow = await slowUpstream(700);
    const gw = await startGateway([{ path: '/slow', upstream: slow.url, connectTimeoutMs: 3000 }]);
    const token = await hs();
    const attempt = connectClient(gw.url('/slow', token)).then(
      (c) => ({ kind: 'open' as const, c }),
      (e: { status?: number }) => ({ kind: 'refused' as const, status: e.status }),
    );
    await until(() => slow.dials() === 1, 2000, 'the upstream dial under way');
    const t0 = Date.now();
    await gw.app.gateway.drain({ windowMs: 200, deadlineMs: 1500 });
    const outcome = await attempt;
    if (outcome.kind === 'refused') {
      expect(outcome.status).toBe(503);
    } else {
      // Accepted during the drain: must be closed (1001) by the deadline, not left open.
      const closed = await Promise.race([outcome.c.closed, new Promise<undefined>((r) => setTimeout(() => r(undefined), 2500 - (Date.now() - t0)))]);
      expect(closed?.code, 'connection accepted during drain was never closed').toBe(1001);
    }
    expect(gw.app.gateway.registry.size).toBe(0);
    await slow.close();
  });
});

describe('a real process', () => {
  it('SIGTERM: readiness fails at once, new upgrades 503, clients get 1001, exit 0 within the bound', async () => {
    const up = await startUpstream();
    const dir = tmpRoutes({ 'svc.ts': `export default { path: '/svc', upstream: '${up.url}' };\n` });
    const port = await freePort();
    const p = await startProcess(dir, port, childEnv({ LOG_LEVEL: 'warn' }));
    const token = await hs();
    const base = `ws://127.0.0.1:${port}/svc?token=${token}`;
    const a = await connectClient(base);
    const b = await connectClient(base);
    a.ws.send('x');
    expect((await a.next()).text).toBe('x');
    const closes = [a, b].map((c) => c.closed.then((x) => ({ ...x, at: Date.now() })));

    const t0 = Date.now();
    p.child.kill('SIGTERM');
    await p.waitFor(/SIGTERM: draining 2 connections/, 3000);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(503);
    const refused = await expectRefused(base);
    expect(refused.status).toBe(503);
    expect(refused.body.error).toBe('draining');

    const results = await Promise.all(closes);
    for (const r of results) expect(r.code).toBe(1001);
    const exit = await p.exited;
    expect(exit.code).toBe(0);
    expect(exit.signal).toBeNull();
    // Default window 5 s, deadline window + 5 s; the process must be gone well inside that.
    expect(exit.at - t0).toBeLessThan(8000);
    await until(() => up.wss.clients.size === 0, 3000, 'upstream legs closed');
  }, 30_000);

  it.each(['SIGINT', 'SIGQUIT'] as const)('%s with no connections: drains and exits 0 promptly (never killed undrained)', async (signal) => {
    const up = await startUpstream();
    const dir = tmpRoutes({ 'svc.ts': `export default { path: '/svc', upstream: '${up.url}' };\n` });
    const port = await freePort();
    const p = await startProcess(dir, port, childEnv({ LOG_LEVEL: 'warn' }));
    const t0 = Date.now();
    p.child.kill(signal);
    const exit = await p.exited;
    expect(exit.code).toBe(0);
    expect(exit.signal).toBeNull();
    expect(p.stderr()).toContain(`${signal}: draining 0 connections`);
    expect(exit.at - t0).toBeLessThan(3000);
  });
});
