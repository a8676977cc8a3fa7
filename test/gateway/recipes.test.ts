/**
 * The README's load-balancer recipes, each simulated on loopback with the README's settings on
 * the real `wsgate start` process. The client connects from 127.0.0.9 and the balancers reach
 * the gateway from 127.0.0.1, so "the client's address" and "the balancer's" differ; only
 * 127.0.0.1 is trusted, standing in for the VPC range or the published ranges.
 * (nginx runs for real in nginx.test.ts.)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { proxyV1, proxyV2, SAMPLE_TLVS, startHttpBalancer, startTcpBalancer } from '../helpers/balancers.ts';
import { connectClient, freePort, rawRequest, startGateway, startUpstream, stopAll, type TestUpstream } from '../helpers/gateway.ts';
import { childEnv, run, tmpRoutes } from '../helpers/cli.ts';

afterEach(stopAll);

const FIXTURES = new URL('../fixtures/', import.meta.url);
const CERT = new URL('localhost-cert.pem', FIXTURES).pathname;
const KEY = new URL('localhost-key.pem', FIXTURES).pathname;
const TLS = { cert: readFileSync(CERT), key: readFileSync(KEY) };
const CLIENT = '127.0.0.9';

/** `wsgate start` with a /svc route to `up` (heartbeat preset as given), extra flags and env. */
async function gatewayProcess(up: TestUpstream, args: string[], env: Record<string, string> = {}, heartbeat = 'aws-alb') {
  const dir = tmpRoutes({ 'svc.mjs': `export default { path: '/svc', upstream: '${up.url}', auth: false, heartbeat: '${heartbeat}' };\n` });
  const port = await freePort();
  const p = run(['start', '--routes', dir, '--port', String(port), '--host', '127.0.0.1', ...args], { env: childEnv({ LOG_LEVEL: 'info', ...env }) });
  await p.waitFor(/wsgate listening on wss?:\/\/127\.0\.0\.1:\d+/, 20_000);
  const opened = async () => {
    await p.waitFor(/"event":"open"/);
    return JSON.parse(p.stdout().split('\n').find((l) => l.includes('"event":"open"'))!) as Record<string, unknown>;
  };
  return { port, dir, proc: p, opened };
}

async function relays(url: string, o: Parameters<typeof connectClient>[2] = {}): Promise<void> {
  const c = await connectClient(url, undefined, { localAddress: CLIENT, ...o });
  c.ws.send('through the balancer');
  expect((await c.next()).text).toBe('through the balancer');
}

describe('load-balancer recipes', () => {
  it('AWS ALB: HTTPS listener (TLS at the balancer), X-Forwarded-For appended, TRUSTED_PROXIES=<VPC range>, aws-alb heartbeat', async () => {
    const up = await startUpstream();
    const gw = await gatewayProcess(up, [], { TRUSTED_PROXIES: '127.0.0.1/32' });
    const alb = await startHttpBalancer({ targetPort: gw.port, tls: TLS, set: () => ({ 'X-Forwarded-Proto': 'https', 'X-Forwarded-Port': '443' }) });
    // The client's own X-Forwarded-For is kept by the ALB (appended to) and dropped by the gateway.
    await relays(`wss://127.0.0.1:${alb.port}/svc`, { rejectUnauthorized: false, headers: { 'X-Forwarded-For': '6.6.6.6' } });
    const conn = await up.nextConnection();
    expect(conn.headers).toMatchObject({ 'x-forwarded-for': `${CLIENT}, 127.0.0.1`, 'x-forwarded-proto': 'https', 'x-forwarded-port': '443', 'x-forwarded-host': `127.0.0.1:${alb.port}` });
    expect(await gw.opened()).toMatchObject({ ip: CLIENT });
  });

  it('AWS NLB: TCP listener with PROXY v2 (TLVs) and TLS passed through to the gateway; a LOCAL health check is served', async () => {
    const up = await startUpstream();
    const gw = await gatewayProcess(up, ['--proxy-protocol', '--tls-cert', CERT, '--tls-key', KEY]);
    const nlb = await startTcpBalancer(gw.port, () => proxyV2({ source: '203.0.113.7', tlvs: SAMPLE_TLVS }));
    await relays(`wss://127.0.0.1:${nlb.port}/svc`, { rejectUnauthorized: false });
    expect((await up.nextConnection()).headers).toMatchObject({ 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https' });
    expect(await gw.opened()).toMatchObject({ ip: '203.0.113.7' });
    // A plaintext connection without the header (not through the NLB) is refused.
    expect(await rawRequest(gw.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 2000)).toBe('');
  });

  it('Alibaba CLB: TCP listener with PROXY v2, an IPv6 client to an IPv4 server (PROXY_PROTOCOL=1); v1 senders (HAProxy send-proxy) on the same setting', async () => {
    const up = await startUpstream();
    const gw = await gatewayProcess(up, [], { PROXY_PROTOCOL: '1' }, 'alibaba-clb');
    const clb = await startTcpBalancer(gw.port, () => proxyV2({ source: '2001:db8::77' }));
    await relays(`ws://127.0.0.1:${clb.port}/svc`);
    expect((await up.nextConnection()).headers['x-forwarded-for']).toBe('2001:db8::77');
    const haproxy = await startTcpBalancer(gw.port, () => proxyV1('198.51.100.17'));
    await relays(`ws://127.0.0.1:${haproxy.port}/svc`);
    expect((await up.nextConnection()).headers['x-forwarded-for']).toBe('198.51.100.17');
    // The balancer's own health check: a LOCAL header, then plain HTTP.
    const health = await rawRequest(gw.port, Buffer.concat([proxyV2({ local: true }), Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')]));
    expect(health).toMatch(/^HTTP\/1\.1 200/);
  });

  it('Cloudflare: --trust-proxy @FILE of published ranges, --client-ip-header cf-connecting-ip; a client-sent CF-Connecting-IP is overwritten', async () => {
    const up = await startUpstream();
    const dir = tmpRoutes({});
    const ranges = join(dir, 'cloudflare-ips.txt');
    writeFileSync(ranges, '173.245.48.0/20\n103.21.244.0/22\n127.0.0.1/32\n2400:cb00::/32\n');
    const gw = await gatewayProcess(up, ['--trust-proxy', `@${ranges}`, '--client-ip-header', 'cf-connecting-ip']);
    const cf = await startHttpBalancer({ targetPort: gw.port, tls: TLS, set: (client) => ({ 'CF-Connecting-IP': client, 'X-Forwarded-Proto': 'https' }) });
    await relays(`wss://127.0.0.1:${cf.port}/svc`, { rejectUnauthorized: false, headers: { 'CF-Connecting-IP': '6.6.6.6' } });
    // No X-Forwarded-Port from this balancer: the port is the one in the Host the client used.
    expect((await up.nextConnection()).headers).toMatchObject({ 'x-forwarded-for': `${CLIENT}, 127.0.0.1`, 'x-forwarded-proto': 'https', 'x-forwarded-port': String(cf.port) });
    expect(await gw.opened()).toMatchObject({ ip: CLIENT });
  });

  it('TLS terminated at the balancer: its X-Forwarded-Proto: https reaches the upstream only when the balancer is trusted', async () => {
    const up = await startUpstream();
    const route = { path: '/svc', upstream: up.url, auth: false as const, heartbeat: 'off' as const };
    for (const [trustedProxies, proto, xff] of [
      [['127.0.0.1'], 'https', `${CLIENT}, 127.0.0.1`],
      [[], 'http', '127.0.0.1'],
    ] as const) {
      const gw = await startGateway([route], { trustedProxies: [...trustedProxies] });
      const lb = await startHttpBalancer({ targetPort: gw.port, tls: TLS, set: () => ({ 'X-Forwarded-Proto': 'https' }) });
      await relays(`wss://127.0.0.1:${lb.port}/svc`, { rejectUnauthorized: false });
      expect((await up.nextConnection()).headers, `trusted: ${trustedProxies.join()}`).toMatchObject({ 'x-forwarded-proto': proto, 'x-forwarded-for': xff });
    }
  });
});
