/**
 * The dev-token endpoint mints a token for any user name, so it exists only under `wsgate dev`
 * and answers loopback peers only (a real process; the non-loopback peer is this machine's own
 * non-internal address, so no traffic leaves the host).
 */
import { networkInterfaces } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, stopAll } from '../helpers/gateway.ts';
import { childEnv, run, tmpRoutes } from '../helpers/cli.ts';

afterEach(stopAll);

const HUB = 'export default { path: "/chat/:room", channel: "room:{room}", heartbeat: "off" };';

async function start(command: 'start' | 'dev', host: string) {
  const port = await freePort();
  const p = run([command, '--routes', tmpRoutes({ 'chat.mjs': HUB }), '--port', String(port), '--host', host], { env: childEnv({ LOG_LEVEL: 'warn' }) });
  await p.waitFor(/wsgate listening on/);
  return port;
}

const ownAddress = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

describe('dev-token endpoint', () => {
  it('exists only under `wsgate dev`: 404 under `wsgate start`', async () => {
    const port = await start('start', '127.0.0.1');
    const res = await fetch(`http://127.0.0.1:${port}/_wsgate/dev-token?user=alice`);
    expect(res.status).toBe(404);
  });

  it('answers a loopback peer, and 403 to a peer that is not loopback', async (ctx) => {
    if (!ownAddress) {
      console.warn('dev-token non-loopback case SKIPPED: this machine has no non-internal IPv4 address to connect from');
      ctx.skip();
    }
    const port = await start('dev', '0.0.0.0');
    const local = await fetch(`http://127.0.0.1:${port}/_wsgate/dev-token?user=alice`);
    expect(local.status).toBe(200);
    expect(((await local.json()) as { token: string }).token.split('.')).toHaveLength(3);
    const remote = await fetch(`http://${ownAddress}:${port}/_wsgate/dev-token?user=alice`, { headers: { 'x-forwarded-for': '127.0.0.1' } });
    expect(remote.status).toBe(403);
    expect(await remote.json()).toMatchObject({ error: 'forbidden' });
  });
});
