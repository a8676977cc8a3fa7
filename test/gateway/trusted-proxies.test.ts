/**
 * Trusted proxies on real sockets: CIDRs and presets from the CLI/environment, the client as the
 * right-most untrusted hop, the chain sent upstream, spoofed headers from untrusted peers dropped,
 * dual-stack (IPv4-mapped) and IPv6 peers.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway } from '../../src/runtime/node/index.ts';
import { createLogger } from '../../src/log.ts';
import { serveNode } from '../../src/runtime/node/serve.ts';
import { gatewayCommand, resolveRuntime } from '../helpers/runtimes.ts';
import { freePort, onStop, rawUpgrade, startGateway, startUpstream, stopAll, until, upgradeHead } from '../helpers/gateway.ts';
import { TEST_SECRET } from '../helpers/tokens.ts';
import { childEnv, runToEnd, startProcess, tmpRoutes } from '../helpers/cli.ts';

afterEach(stopAll);

const logLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('trusted proxies from the command line', () => {
  it('TRUSTED_PROXIES=127.0.0.0/8: X-Forwarded-For from 127.0.0.1 is the client; the upstream gets the chain; the log names the client', async () => {
    const up = await startUpstream();
    const dir = tmpRoutes({ 'svc.mjs': `export default { path: '/svc', upstream: '${up.url}', auth: false, heartbeat: 'off' };\n` });
    const port = await freePort();
    const p = await startProcess(dir, port, childEnv({ TRUSTED_PROXIES: '127.0.0.0/8', LOG_LEVEL: 'info' }));
    const res = await rawUpgrade(port, upgradeHead('/svc', { 'X-Forwarded-For': '6.6.6.6, 203.0.113.7', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Port': '443' }));
    expect(res.status).toBe(101);
    const conn = await up.nextConnection();
    // 6.6.6.6 was written by the client itself (left of the first untrusted hop): dropped.
    expect(conn.headers['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
    expect(conn.headers['x-forwarded-proto']).toBe('https');
    expect(conn.headers['x-forwarded-port']).toBe('443');
    await p.waitFor(/"event":"open"/);
    expect(logLines(p.stdout()).find((l) => l.event === 'open')).toMatchObject({ ip: '203.0.113.7' });
  });

  it('--trust-proxy @FILE loads ranges from a file (comments and blank lines ignored); presets combine with it', async () => {
    const up = await startUpstream();
    const dir = tmpRoutes({ 'svc.mjs': `export default { path: '/svc', upstream: '${up.url}', auth: false, heartbeat: 'off' };\n` });
    const file = join(dir, 'ranges.txt');
    writeFileSync(file, '# published ranges, saved by the operator\n\n173.245.48.0/20\n127.0.0.0/8   # this host\n2400:cb00::/32\n');
    const port = await freePort();
    const p = await startProcess(dir, port, childEnv({ LOG_LEVEL: 'warn' }));
    // Without a trust list the header is ignored...
    expect((await rawUpgrade(port, upgradeHead('/svc', { 'X-Forwarded-For': '203.0.113.7' }))).status).toBe(101);
    expect((await up.nextConnection()).headers['x-forwarded-for']).toBe('127.0.0.1');
    p.child.kill('SIGKILL');
    await p.exited;
    const port2 = await freePort();
    const r = (await import('../helpers/cli.ts')).run(['start', '--routes', dir, '--port', String(port2), '--host', '127.0.0.1', '--trust-proxy', `private,@${file}`], { env: childEnv({ LOG_LEVEL: 'warn' }) });
    await r.waitFor(/wsgate listening/);
    expect((await rawUpgrade(port2, upgradeHead('/svc', { 'X-Forwarded-For': '203.0.113.7' }))).status).toBe(101);
    expect((await up.nextConnection()).headers['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
  });

  it('a bad entry, an unreadable or empty file, or a bad header name exits 2 naming it', async () => {
    const dir = tmpRoutes({ 'svc.mjs': `export default { path: '/svc', upstream: 'ws://127.0.0.1:9', auth: false };\n` });
    writeFileSync(join(dir, 'empty.txt'), '# nothing\n');
    const cases: Array<[string[], RegExp]> = [
      [['--trust-proxy', '10.0.0.0/33'], /--trust-proxy: "10\.0\.0\.0\/33": prefix length must be 0 to 32/],
      [['--trust-proxy', 'lopback'], /"lopback" is not an address or CIDR range.*loopback, private, linklocal/],
      [['--trust-proxy', '@/nonexistent/ranges.txt'], /--trust-proxy @\/nonexistent\/ranges\.txt: cannot read the file \(ENOENT\)/],
      [['--trust-proxy', `@${join(dir, 'empty.txt')}`], /lists no address or range/],
      [['--client-ip-header', 'bad header'], /clientIpHeader: "bad header" is not a header name/],
    ];
    for (const [args, re] of cases) {
      const r = await runToEnd(['start', '--routes', dir, '--port', String(await freePort()), ...args], { timeoutMs: 15_000 });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(re);
    }
  });

  it('on Bun, --proxy-protocol exits 2 and names the alternatives (Bun cannot read bytes before its HTTP server)', async (ctx) => {
    const bun = resolveRuntime('bun');
    if ('missing' in bun) {
      console.warn(`skipped: ${bun.missing}`);
      return ctx.skip();
    }
    const dir = tmpRoutes({ 'svc.ts': `export default { path: '/svc', upstream: 'ws://127.0.0.1:9', auth: false };\n` });
    const [cmd, ...args] = gatewayCommand('bun', bun.bin);
    const r = await runToEnd([...args, '--routes', dir, '--port', String(await freePort()), '--proxy-protocol'], { command: cmd!, timeoutMs: 20_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--proxy-protocol: bun cannot read bytes before its HTTP server.*wsgate start.*--trust-proxy/);
  });
});

describe('untrusted peers and address forms', () => {
  it('a client\'s own X-Forwarded-For / -Proto / -Host from an untrusted peer are dropped: the upstream and the cap see the peer', async () => {
    const lines: string[] = [];
    const up = await startUpstream();
    const gw = await startGateway([{ path: '/svc', upstream: up.url, auth: false, heartbeat: 'off' }], { trustedProxies: ['10.0.0.0/8'], log: createLogger('info', (l) => lines.push(l)) });
    const spoof = { 'X-Forwarded-For': '203.0.113.7', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'evil.example', 'X-Forwarded-Port': '1' };
    expect((await rawUpgrade(gw.port, upgradeHead('/svc', spoof))).status).toBe(101);
    const conn = await up.nextConnection();
    expect(conn.headers).toMatchObject({ 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'localhost', 'x-forwarded-port': '80' });
    expect(lines.map((l) => JSON.parse(l)).find((l) => l.event === 'open')).toMatchObject({ ip: '127.0.0.1' });
  });

  it('a dual-stack listener reports ::ffff:127.0.0.1, which 127.0.0.0/8 trusts; an IPv6 loopback peer is trusted by the loopback preset', async () => {
    const up = await startUpstream();
    for (const [trusted, connectTo] of [
      [['127.0.0.0/8'], '127.0.0.1'],
      [['loopback'], '::1'],
    ] as const) {
      const app = createGateway({ routes: [{ path: '/svc', upstream: up.url, auth: false, heartbeat: 'off' }], log: 'silent', trustedProxies: [...trusted], env: { JWT_SECRET: TEST_SECRET } });
      const node = await serveNode(app, { port: 0, host: '::' });
      onStop(async () => {
        await node.close();
        await app.gateway.dispose();
      });
      const { connect } = await import('node:net');
      const got = await new Promise<string>((resolve) => {
        const s = connect(node.port, connectTo);
        onStop(() => void s.destroy());
        let out = '';
        s.on('data', (d) => {
          out += d;
          if (out.includes('\r\n\r\n')) resolve(out);
        });
        s.on('error', (e) => resolve(String(e)));
        s.write(upgradeHead('/svc', { 'X-Forwarded-For': '2001:db8::7' }));
      });
      expect(got, connectTo).toMatch(/^HTTP\/1\.1 101/);
      const conn = await up.nextConnection();
      expect(conn.headers['x-forwarded-for'], connectTo).toBe(`2001:db8::7, ${connectTo}`);
    }
  });

  it('--client-ip-header forwarded / x-real-ip pick the client from that header only', async () => {
    const up = await startUpstream();
    const a = await startGateway([{ path: '/svc', upstream: up.url, auth: false, heartbeat: 'off' }], { trustedProxies: ['loopback'], clientIpHeader: 'Forwarded' });
    const fwd = 'for=6.6.6.6, for="[2001:db8::5]:4711";proto=https;host=app.example';
    expect((await rawUpgrade(a.port, upgradeHead('/svc', { Forwarded: fwd, 'X-Forwarded-For': '9.9.9.9' }))).status).toBe(101);
    expect((await up.nextConnection()).headers).toMatchObject({ 'x-forwarded-for': '2001:db8::5, 127.0.0.1', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'app.example', 'x-forwarded-port': '443' });
    const b = await startGateway([{ path: '/svc', upstream: up.url, auth: false, heartbeat: 'off' }], { trustedProxies: ['loopback'], clientIpHeader: 'x-real-ip' });
    expect((await rawUpgrade(b.port, upgradeHead('/svc', { 'X-Real-IP': '198.51.100.3', 'X-Forwarded-For': '9.9.9.9' }))).status).toBe(101);
    expect((await up.nextConnection()).headers['x-forwarded-for']).toBe('198.51.100.3, 127.0.0.1');
    await until(() => up.connections.length === 2, 2000, 'both upstream connections');
  });
});
