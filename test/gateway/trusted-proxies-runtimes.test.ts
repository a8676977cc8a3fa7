/**
 * The alternative the README names for Bun and Deno (no PROXY protocol there): the balancer in
 * HTTP mode with X-Forwarded-For and TRUSTED_PROXIES. Each runtime's gateway process sits behind
 * a loopback HTTP balancer; the client connects from 127.0.0.9 and only 127.0.0.1 is trusted.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startHttpBalancer } from '../helpers/balancers.ts';
import { connectClient, onStop, startUpstream, stopAll } from '../helpers/gateway.ts';
import { gatewayCommand, resolveRuntime, startRuntimeProcess, type RuntimeName } from '../helpers/runtimes.ts';
import { tmpRoutes } from '../helpers/cli.ts';

afterEach(stopAll);

describe.each(['bun', 'deno'] as RuntimeName[])('trusted proxies on %s', (name) => {
  it('X-Forwarded-For from a trusted balancer names the client; the upstream gets the chain and the balancer\'s proto', async (ctx) => {
    const r = resolveRuntime(name);
    if ('missing' in r) {
      console.warn(`skipped on ${name}: ${r.missing}`);
      return ctx.skip();
    }
    const up = await startUpstream();
    const routesDir = tmpRoutes({ 'svc.ts': `export default { path: '/svc', upstream: '${up.url}', auth: false, heartbeat: 'off' };\n` });
    const gw = await startRuntimeProcess(gatewayCommand(name, r.bin), { routesDir, env: { TRUSTED_PROXIES: '127.0.0.1', LOG_LEVEL: 'warn' }, timeoutMs: 30_000 });
    onStop(() => gw.stop());
    const lb = await startHttpBalancer({ targetPort: gw.port, set: () => ({ 'X-Forwarded-Proto': 'https', 'X-Forwarded-Port': '443' }) });
    const c = await connectClient(`ws://127.0.0.1:${lb.port}/svc`, undefined, { localAddress: '127.0.0.9', headers: { 'X-Forwarded-For': '6.6.6.6' } });
    c.ws.send('hi');
    expect((await c.next()).text).toBe('hi');
    expect((await up.nextConnection()).headers).toMatchObject({ 'x-forwarded-for': '127.0.0.9, 127.0.0.1', 'x-forwarded-proto': 'https', 'x-forwarded-port': '443' });
  });
});
