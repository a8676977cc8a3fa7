/**
 * Signals on a real `wsgate start` process: SIGTERM's deadline holds with thousands of hub
 * members in one channel (closing work is spread and bounded), and SIGHUP re-reads the route
 * folder — a valid table is swapped in while open connections keep their route, a broken folder
 * keeps the old table and says which file, field and why.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { connectClient, freePort, onStop, startUpstream, stopAll, until } from '../helpers/gateway.ts';
import { nodeStartMs } from '../helpers/readiness.ts';
import { claims, hs } from '../helpers/tokens.ts';
import { childEnv, run, tmpRoutes } from '../helpers/cli.ts';

afterEach(stopAll);

const route = (r: Record<string, unknown>) => `export default ${JSON.stringify(r)};\n`;

async function startCli(dir: string, flags: string[] = []) {
  const port = await freePort();
  const p = run(['start', '--routes', dir, '--port', String(port), '--host', '127.0.0.1', ...flags], { env: childEnv({ LOG_LEVEL: 'warn' }) });
  await p.waitFor(/wsgate listening on/);
  return { p, port };
}

/** Open `n` raw ws clients, `batch` at a time; resolves with the sockets once all are open. */
async function openMany(url: (i: number) => Promise<string>, n: number, batch = 200): Promise<WebSocket[]> {
  const out: WebSocket[] = [];
  for (let i = 0; i < n; i += batch) {
    const group = await Promise.all(
      Array.from({ length: Math.min(batch, n - i) }, async (_, j) => {
        const ws = new WebSocket(await url(i + j), { perMessageDeflate: false });
        await new Promise<void>((resolve, reject) => {
          ws.once('open', () => resolve());
          ws.once('error', reject);
        });
        ws.on('error', () => {});
        return ws;
      }),
    );
    out.push(...group);
  }
  return out;
}

describe('SIGTERM drain deadline', () => {
  it('holds with 2,000 members of one hub channel: the process exits 0 by the deadline', async () => {
    const dir = tmpRoutes({ 'hub.mjs': route({ path: '/hub/:room', channel: 'room:{room}', heartbeat: 'off', presenceEvents: false }) });
    // All clients come from one address, 200 handshakes at a time: lift the per-IP handshake cap.
    const { p, port } = await startCli(dir, ['--drain-window', '1000', '--drain-deadline', '3000', '--max-handshakes-per-ip', '1000']);
    const N = 2000;
    const tokens = await Promise.all(Array.from({ length: 50 }, (_, i) => hs(claims({ sub: `user-${i}` }))));
    const sockets = await openMany(async (i) => `ws://127.0.0.1:${port}/hub/lobby?token=${tokens[i % tokens.length]}`, N);
    expect(sockets.filter((s) => s.readyState === WebSocket.OPEN)).toHaveLength(N);
    onStop(() => sockets.forEach((s) => s.terminate()));
    const closed = sockets.map((s) => new Promise<number>((r) => s.once('close', (code) => r(code))));
    const t0 = Date.now();
    p.child.kill('SIGTERM');
    const exit = await p.exited;
    const took = exit.at - t0;
    expect(exit.code).toBe(0);
    // Deadline 3 s. The slack (signal delivery, exit) grows with how loaded the machine measures
    // now; it stays far below the tens of seconds the old drain spun for with this many members.
    const slack = Math.max(1500, 10 * nodeStartMs());
    console.log(`[drain] ${N} hub members: exit ${took} ms after SIGTERM (deadline 3000 ms, slack ${Math.round(slack)} ms)`);
    expect(took).toBeLessThan(3000 + slack);
    const codes = await Promise.all(closed);
    expect(codes.filter((c) => c === 1001).length).toBeGreaterThan(0);
  });
});

describe('SIGHUP route reload', () => {
  it('a valid folder is swapped in: new handshakes use it, an open connection keeps its route; the process is not killed', async () => {
    const [u1, u2] = [await startUpstream(), await startUpstream()];
    const dir = tmpRoutes({ 'a.mjs': route({ path: '/a', upstream: u1.url, heartbeat: 'off' }) });
    const { p, port } = await startCli(dir);
    const token = await hs();
    const old = await connectClient(`ws://127.0.0.1:${port}/a?token=${token}`);
    await u1.nextConnection();

    writeFileSync(join(dir, 'a.mjs'), route({ path: '/a', upstream: u2.url, heartbeat: 'off' }));
    writeFileSync(join(dir, 'b.mjs'), route({ path: '/b', upstream: u2.url, heartbeat: 'off' }));
    p.child.kill('SIGHUP');
    await p.waitFor(/SIGHUP: route table reloaded from .* \(2 routes\)/);

    const fresh = await connectClient(`ws://127.0.0.1:${port}/a?token=${token}`);
    expect((await u2.nextConnection()).url).toBe('/');
    await connectClient(`ws://127.0.0.1:${port}/b?token=${token}`);
    await u2.nextConnection();
    expect(u1.connections).toHaveLength(1);
    // The connection opened before the reload still relays through its original upstream.
    old.ws.send('via u1');
    expect((await old.next()).text).toBe('via u1');
    fresh.ws.send('via u2');
    expect((await fresh.next()).text).toBe('via u2');
    expect(p.child.exitCode).toBeNull();
  });

  it('a broken folder keeps the old table and logs the file, field and reason', async () => {
    const up = await startUpstream();
    const dir = tmpRoutes({ 'a.mjs': route({ path: '/a', upstream: up.url, heartbeat: 'off' }) });
    const { p, port } = await startCli(dir);
    const token = await hs();
    writeFileSync(join(dir, 'b.mjs'), route({ path: '/b', upstream: up.url, heartbeat: 'sometimes' }));
    rmSync(join(dir, 'a.mjs'));
    p.child.kill('SIGHUP');
    const m = await p.waitFor(/SIGHUP: route table NOT reloaded.*/);
    expect(m[0]).toContain('b.mjs');
    expect(m[0]).toContain('heartbeat');
    expect(m[0]).toMatch(/expected one of .*"sometimes"/);
    // Old table: /a still served, /b unknown.
    const c = await connectClient(`ws://127.0.0.1:${port}/a?token=${token}`);
    c.ws.send('still');
    expect((await c.next()).text).toBe('still');
    const res = await fetch(`http://127.0.0.1:${port}/b`);
    expect(res.status).toBe(404);
    await until(() => p.child.exitCode === null, 100);
  });
});
