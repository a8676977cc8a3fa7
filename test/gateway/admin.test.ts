/**
 * The admin API's switch, audience, listener and limits, and `/metrics` protection: in-process
 * gateways on loopback, and real `wsgate start` processes where a listener or memory is measured.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { RouteConfig } from '../../src/index.ts';
import { connectClient, freePort, startGateway, stopAll, until } from '../helpers/gateway.ts';
import { claims, hs } from '../helpers/tokens.ts';
import { childEnv, run, tmpRoutes } from '../helpers/cli.ts';

afterEach(stopAll);

const SECRET = 'admin-test-secret-0123456789abcdefghij';
const HUB: RouteConfig = { path: '/chat/:room', channel: 'room:{room}', heartbeat: 'off' };
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const adminToken = (aud: string | undefined, scope = 'wsgate:admin') => hs(claims({ sub: 'ops', scope, ...(aud ? { aud } : {}) }));

describe('admin API switch and audience', () => {
  it('is off (404) when neither WSGATE_ADMIN_SECRET nor an admin audience is configured, even for an admin-scoped token of our key', async () => {
    const gw = await startGateway([HUB]);
    for (const aud of [undefined, 'some-other-service', 'wsgate-admin']) {
      const res = await gw.http('/_wsgate/users/u/connections', { headers: bearer(await adminToken(aud)) });
      expect(res.status).toBe(404);
    }
    const post = await gw.http('/_wsgate/channels/room:a/messages', { method: 'POST', body: 'x', headers: bearer(await adminToken('some-other-service')) });
    expect(post.status).toBe(404);
  });

  it('an admin-scoped token minted for another audience never opens it; the admin audience (default wsgate-admin) does', async () => {
    const gw = await startGateway([HUB], { adminSecret: SECRET, env: { JWT_AUDIENCE: 'app' } });
    const get = async (t: string) => (await gw.http('/_wsgate/users/u/connections', { headers: bearer(t) })).status;
    expect(await get(await adminToken('some-other-service'))).toBe(401);
    expect(await get(await adminToken('app'))).toBe(401); // an ordinary token of this gateway
    expect(await get(await adminToken(undefined))).toBe(401);
    expect(await get(await adminToken('wsgate-admin', 'read'))).toBe(401); // audience without the scope
    expect(await get(await adminToken('wsgate-admin'))).toBe(200);
    expect(await get(SECRET)).toBe(200);
  });

  it('a configured admin audience alone turns the API on and is the only audience accepted', async () => {
    const gw = await startGateway([HUB], { adminAudience: 'ops-console' });
    const get = async (t: string) => (await gw.http('/_wsgate/users/u/connections', { headers: bearer(t) })).status;
    expect(await get(await adminToken('ops-console'))).toBe(200);
    expect(await get(await adminToken('wsgate-admin'))).toBe(401);
    expect(await get(await adminToken('some-other-service'))).toBe(401);
  });

  it('DELETE of an unknown connection id → 404 (no instance reports it closed); a known one → closed here', async () => {
    const gw = await startGateway([HUB], { adminSecret: SECRET });
    const del = await gw.http('/_wsgate/connections/00000000-0000-0000-0000-000000000000', { method: 'DELETE', headers: bearer(SECRET) });
    expect(del.status).toBe(404);
    expect(await del.json()).toMatchObject({ error: 'not_found' });
    const c = await connectClient(gw.url('/chat/a', await hs()));
    const [id] = gw.app.gateway.registry.all().map((s) => s.id);
    const ok = await gw.http(`/_wsgate/connections/${id}`, { method: 'DELETE', headers: bearer(SECRET) });
    expect(await ok.json()).toEqual({ closed: 'here' });
    expect((await c.closed).code).toBe(4903);
  });

  it('WSGATE_METRICS_TOKEN protects /metrics (401 without it, 200 with it)', async () => {
    const gw = await startGateway([HUB], { env: { WSGATE_METRICS_TOKEN: 'm-token' } });
    expect((await gw.http('/metrics')).status).toBe(401);
    expect((await gw.http('/metrics', { headers: bearer('wrong') })).status).toBe(401);
    const ok = await gw.http('/metrics', { headers: bearer('m-token') });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('wsgate_');
  });
});

/** `wsgate start` with a hub route and extra flags; resolves once it (and any admin listener) listens. */
async function startCli(flags: string[], env: Record<string, string> = {}) {
  const dir = tmpRoutes({ 'chat.mjs': `export default ${JSON.stringify(HUB)};` });
  const port = await freePort();
  const p = run(['start', '--routes', dir, '--port', String(port), '--host', '127.0.0.1', ...flags], { env: childEnv({ LOG_LEVEL: 'warn', ...env }) });
  await p.waitFor(/wsgate listening on/);
  return { p, port, base: `http://127.0.0.1:${port}` };
}

describe('admin listener (real process)', () => {
  it('--admin-port serves /_wsgate/* and /metrics there only; the public listener answers 404 for them', async () => {
    const adminPort = await freePort();
    const { p, base } = await startCli(['--admin-port', String(adminPort)], { WSGATE_ADMIN_SECRET: SECRET });
    await p.waitFor(/wsgate admin listening on http:\/\/127\.0\.0\.1:\d+/);
    const admin = `http://127.0.0.1:${adminPort}`;
    expect((await fetch(`${base}/_wsgate/users/u/connections`, { headers: bearer(SECRET) })).status).toBe(404);
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await fetch(`${admin}/_wsgate/users/u/connections`, { headers: bearer(SECRET) })).status).toBe(200);
    expect((await fetch(`${admin}/_wsgate/users/u/connections`)).status).toBe(401);
    expect(await (await fetch(`${admin}/metrics`)).text()).toContain('wsgate_');
    expect((await fetch(`${admin}/chat/a`)).status).toBe(404); // no WebSocket routes on the admin listener
  });

  it('a chunked publish body past the limit → 413 while it streams: the rest is not read and memory stays flat', async () => {
    const { p, port } = await startCli([], { WSGATE_ADMIN_SECRET: SECRET });
    const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p.child.pid}/status`, 'utf8'))![1]) * 1024;
    const before = rss();
    const total = 64 << 20;
    const chunk = Buffer.alloc(64 << 10, 'a');
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    let response = '';
    socket.on('data', (d) => (response += d.toString('latin1')));
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.write(`POST /_wsgate/channels/room:a/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${SECRET}\r\nTransfer-Encoding: chunked\r\n\r\n`);
    let written = 0;
    let peak = before;
    while (written < total && !socket.destroyed && !response.includes('\r\n\r\n')) {
      const ok = socket.write(Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]));
      written += chunk.length;
      if (written % (4 << 20) === 0) peak = Math.max(peak, rss());
      if (!ok) await Promise.race([new Promise((r) => socket.once('drain', r)), closed, new Promise((r) => setTimeout(r, 2000))]);
    }
    await until(() => response.includes('\r\n\r\n') || socket.destroyed, 10_000, 'the 413');
    peak = Math.max(peak, rss());
    socket.destroy();
    expect(response).toMatch(/^HTTP\/1\.1 413/);
    expect(response).toContain('"error":"body_too_large"');
    // Loopback socket buffers hold a few MB at most; reading it all (the old behaviour) took all 64.
    expect(written).toBeLessThan(24 << 20);
    expect(peak - before).toBeLessThan(40 << 20);
  });
});
