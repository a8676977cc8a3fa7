/**
 * PROXY protocol v1/v2 on the Node listener: a loopback TCP balancer writes the header, and the
 * address in it is what the upstream, the logs, the per-IP cap and plain HTTP routes see — also
 * under TLS, where the header precedes the TLS handshake.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway, type GatewayOptions, type RouteConfig } from '../../src/runtime/node/index.ts';
import { createLogger } from '../../src/log.ts';
import { serveNode, type NodeServeOptions } from '../../src/runtime/node/serve.ts';
import { parseProxyHeader } from '../../src/runtime/node/proxy-protocol.ts';
import { proxyV1, proxyV2, SAMPLE_TLVS, startTcpBalancer } from '../helpers/balancers.ts';
import { connectClient, onStop, rawRequest, startSilentServer, startUpstream, stopAll, until, upgradeHead } from '../helpers/gateway.ts';
import { TEST_SECRET } from '../helpers/tokens.ts';

afterEach(stopAll);

const FIXTURES = new URL('../fixtures/', import.meta.url);
const TLS = { cert: readFileSync(new URL('localhost-cert.pem', FIXTURES)), key: readFileSync(new URL('localhost-key.pem', FIXTURES)) };

async function gateway(routes: RouteConfig[], o: Partial<GatewayOptions> = {}, serve: NodeServeOptions = {}) {
  const lines: Array<Record<string, unknown>> = [];
  const app = createGateway({ log: createLogger('info', (l) => lines.push(JSON.parse(l))), ...o, routes, env: { JWT_SECRET: TEST_SECRET } });
  // An application route next to the gateway: plain HTTP requests see the same peer.
  app.get('/whoami', (c) => c.text(String((c.env as { incoming: { socket: { remoteAddress?: string } } }).incoming.socket.remoteAddress)));
  const node = await serveNode(app, { port: 0, host: '127.0.0.1', proxyProtocol: true, ...serve });
  onStop(async () => {
    for (const s of app.gateway.registry.all()) s.close(1001, 'test over', 'drain');
    await node.close();
    await app.gateway.dispose();
  });
  return { app, port: node.port, lines };
}

/** Send `prefix` then an HTTP request on one connection (optionally wrapped in TLS after the prefix). */
function requestWith(port: number, prefix: Buffer, request: string, tls = false, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const raw = connect(port, '127.0.0.1');
    let out = '';
    const finish = () => resolve(out);
    raw.on('error', finish);
    raw.write(prefix);
    const s = tls ? tlsConnect({ socket: raw, rejectUnauthorized: false, servername: 'localhost' }) : raw;
    if (tls) s.on('error', finish);
    s.on('data', (d: Buffer) => (out += d.toString('latin1')));
    s.on('close', finish);
    if (tls) s.once('secureConnect', () => s.write(request));
    else s.write(request);
    setTimeout(() => {
      raw.destroy();
      finish();
    }, timeoutMs).unref();
  });
}

const GET_WHOAMI = 'GET /whoami HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n';

describe('PROXY protocol v1 and v2', () => {
  it('a client behind a v1 balancer is seen by the upstream, the logs and plain HTTP routes with the header address', async () => {
    const up = await startUpstream();
    const gw = await gateway([{ path: '/echo', upstream: up.url, auth: false, heartbeat: 'off' }]);
    const lb = await startTcpBalancer(gw.port, () => proxyV1('203.0.113.7'));
    const c = await connectClient(`ws://127.0.0.1:${lb.port}/echo`);
    c.ws.send('hi');
    expect((await c.next()).text).toBe('hi');
    const conn = await up.nextConnection();
    expect(conn.headers['x-forwarded-for']).toBe('203.0.113.7');
    expect(gw.lines.find((l) => l.event === 'open')).toMatchObject({ ip: '203.0.113.7' });
    const res = await requestWith(gw.port, proxyV1('198.51.100.23'), GET_WHOAMI);
    expect(res.split('\r\n\r\n')[1]).toBe('198.51.100.23');
  });

  it('a v2 header with TLVs (AWS VPC endpoint id, unique id, padding) and an IPv6 client', async () => {
    const up = await startUpstream();
    const gw = await gateway([{ path: '/echo', upstream: up.url, auth: false, heartbeat: 'off' }]);
    const lb = await startTcpBalancer(gw.port, () => proxyV2({ source: '2001:db8::42', tlvs: SAMPLE_TLVS }));
    const c = await connectClient(`ws://127.0.0.1:${lb.port}/echo`);
    c.ws.send('v2');
    expect((await c.next()).text).toBe('v2');
    expect((await up.nextConnection()).headers['x-forwarded-for']).toBe('2001:db8::42');
    const v4 = await requestWith(gw.port, proxyV2({ source: '203.0.113.9', tlvs: SAMPLE_TLVS }), GET_WHOAMI);
    expect(v4.split('\r\n\r\n')[1]).toBe('203.0.113.9');
  });

  it('the header and the request in one packet, and a header split over many writes, both work', async () => {
    const gw = await gateway([{ path: '/x', upstream: 'ws://127.0.0.1:9', auth: false }]);
    const one = await rawRequest(gw.port, Buffer.concat([proxyV2({ source: '203.0.113.1' }), Buffer.from(GET_WHOAMI)]));
    expect(one.split('\r\n\r\n')[1]).toBe('203.0.113.1');
    const bytes = Buffer.concat([proxyV1('203.0.113.2'), Buffer.from(GET_WHOAMI)]);
    const split = await new Promise<string>((resolve) => {
      const s = connect(gw.port, '127.0.0.1');
      let out = '';
      s.on('data', (d) => (out += d));
      s.on('close', () => resolve(out));
      let i = 0;
      const step = () => {
        if (i >= bytes.length) return;
        s.write(bytes.subarray(i, i + 7));
        i += 7;
        setTimeout(step, 2);
      };
      step();
    });
    expect(split.split('\r\n\r\n')[1]).toBe('203.0.113.2');
  });

  it('LOCAL (a balancer health check) and UNKNOWN keep the real peer address', async () => {
    const gw = await gateway([{ path: '/x', upstream: 'ws://127.0.0.1:9', auth: false }]);
    const local = await rawRequest(gw.port, Buffer.concat([proxyV2({ local: true }), Buffer.from('GET /healthz HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n')]));
    expect(local).toMatch(/^HTTP\/1\.1 200/);
    const who = await rawRequest(gw.port, Buffer.concat([proxyV2({ local: true }), Buffer.from(GET_WHOAMI)]));
    expect(who.split('\r\n\r\n')[1]).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
    const unknown = await rawRequest(gw.port, Buffer.concat([Buffer.from('PROXY UNKNOWN\r\n'), Buffer.from(GET_WHOAMI)]));
    expect(unknown.split('\r\n\r\n')[1]).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
  });

  it('the per-IP handshake cap counts the header address: the same client is capped, another is not', async () => {
    const hung = await startSilentServer();
    const up = await startUpstream();
    const gw = await gateway(
      [
        { path: '/hung', upstream: hung.url, auth: false, connectTimeoutMs: 3000 },
        { path: '/echo', upstream: up.url, auth: false, heartbeat: 'off' },
      ],
      { maxHandshakesPerIp: 1 },
    );
    const pending = rawRequest(gw.port, Buffer.concat([proxyV1('203.0.113.50'), Buffer.from(upgradeHead('/hung'))]), 4000);
    await until(() => hung.accepted() === 1, 3000, 'the hung dial');
    const same = await rawRequest(gw.port, Buffer.concat([proxyV1('203.0.113.50'), Buffer.from(upgradeHead('/echo'))]), 1000);
    expect(same).toMatch(/^HTTP\/1\.1 429/);
    const other = await rawRequest(gw.port, Buffer.concat([proxyV1('203.0.113.51'), Buffer.from(upgradeHead('/echo'))]), 1000);
    expect(other).toMatch(/^HTTP\/1\.1 101/);
    expect(gw.lines.find((l) => l.event === 'handshake_rejected')).toMatchObject({ ip: '203.0.113.50', code: 'too_many_connections' });
    await pending;
  });
});

describe('PROXY protocol refusals', () => {
  it('mode on: a connection without a header, or with a malformed one, is closed without an answer', async () => {
    const gw = await gateway([{ path: '/x', upstream: 'ws://127.0.0.1:9', auth: false }]);
    for (const bad of [
      GET_WHOAMI,
      upgradeHead('/x'),
      'PROXY TCP4 203.0.113.7 127.0.0.1 99999 443\r\n' + GET_WHOAMI,
      'PROXY TCP4 2001:db8::1 127.0.0.1 1 443\r\n' + GET_WHOAMI,
      'PROXY TCP4 203.0.113.7 ::1 1 443\r\n' + GET_WHOAMI,
      'PROXY TCP9 1.2.3.4 1.2.3.4 1 2\r\n' + GET_WHOAMI,
      `PROXY TCP4 ${'1'.repeat(120)}\r\n`,
    ]) {
      const started = Date.now();
      expect(await rawRequest(gw.port, bad, 3000), bad.slice(0, 30)).toBe('');
      expect(Date.now() - started).toBeLessThan(2000); // refused at once, not by a timer
    }
    expect(await rawRequest(gw.port, Buffer.concat([proxyV2(), Buffer.from(GET_WHOAMI)]).fill(0x3f, 12, 13), 3000)).toBe('');
    expect(gw.lines.filter((l) => l.event === 'proxy_protocol_refused').length).toBeGreaterThanOrEqual(8);
  });

  it('mode off: a v1 or v2 header is answered 400, as any non-HTTP bytes', async () => {
    const gw = await gateway([{ path: '/x', upstream: 'ws://127.0.0.1:9', auth: false }], {}, { proxyProtocol: false });
    expect(await rawRequest(gw.port, Buffer.concat([proxyV1('203.0.113.7'), Buffer.from(GET_WHOAMI)]))).toMatch(/^HTTP\/1\.1 400/);
    expect(await rawRequest(gw.port, Buffer.concat([proxyV2({ tlvs: SAMPLE_TLVS }), Buffer.from(GET_WHOAMI)]))).toMatch(/^HTTP\/1\.1 400/);
    expect((await rawRequest(gw.port, GET_WHOAMI)).split('\r\n\r\n')[1]).toBe('127.0.0.1');
  });

  it('a slow or partial header is cut by the request-head timeout', async () => {
    const gw = await gateway([{ path: '/x', upstream: 'ws://127.0.0.1:9', auth: false }], {}, { headersTimeoutMs: 600 });
    for (const partial of [Buffer.from('PROXY TCP4 203.0.'), proxyV2({ tlvs: SAMPLE_TLVS }).subarray(0, 20), Buffer.alloc(0)]) {
      const started = Date.now();
      const got = await new Promise<string>((resolve) => {
        const s = connect(gw.port, '127.0.0.1');
        let out = '';
        s.on('data', (d) => (out += d));
        s.on('close', () => resolve(out));
        s.on('error', () => {});
        s.write(partial);
      });
      const took = Date.now() - started;
      expect(got).toBe('');
      expect(took).toBeGreaterThanOrEqual(500);
      expect(took).toBeLessThan(3000);
    }
  });
});

describe('PROXY protocol under TLS', () => {
  it('the header precedes the TLS handshake: wss through a v2 balancer reaches the upstream with the header address and proto https', async () => {
    const up = await startUpstream();
    const gw = await gateway([{ path: '/echo', upstream: up.url, auth: false, heartbeat: 'off' }], {}, { tls: TLS });
    const lb = await startTcpBalancer(gw.port, () => proxyV2({ source: '203.0.113.77', tlvs: SAMPLE_TLVS }));
    const c = await connectClient(`wss://127.0.0.1:${lb.port}/echo`, undefined, { rejectUnauthorized: false });
    c.ws.send('tls');
    expect((await c.next()).text).toBe('tls');
    const conn = await up.nextConnection();
    expect(conn.headers['x-forwarded-for']).toBe('203.0.113.77');
    expect(conn.headers['x-forwarded-proto']).toBe('https');
    expect(gw.lines.find((l) => l.event === 'open')).toMatchObject({ ip: '203.0.113.77' });
    const who = await requestWith(gw.port, proxyV1('198.51.100.5'), GET_WHOAMI, true);
    expect(who.split('\r\n\r\n')[1]).toBe('198.51.100.5');
  });

  it('under TLS with the mode off, a header before the TLS handshake fails the connection', async () => {
    const gw = await gateway([{ path: '/echo', upstream: 'ws://127.0.0.1:9', auth: false }], {}, { tls: TLS, proxyProtocol: false });
    expect(await requestWith(gw.port, proxyV1('203.0.113.7'), GET_WHOAMI, true)).toBe('');
    expect((await requestWith(gw.port, Buffer.alloc(0), GET_WHOAMI, true)).split('\r\n\r\n')[1]).toBe('127.0.0.1');
  });

  it('under TLS a connection that starts with the TLS handshake (no header) is refused', async () => {
    const gw = await gateway([{ path: '/echo', upstream: 'ws://127.0.0.1:9', auth: false }], {}, { tls: TLS });
    const got = await requestWith(gw.port, Buffer.alloc(0), GET_WHOAMI, true);
    expect(got).toBe('');
    await until(() => gw.lines.some((l) => l.event === 'proxy_protocol_refused'), 2000, 'the refusal logged');
  });
});

describe('parseProxyHeader', () => {
  it('needs more bytes for a prefix of a header, and refuses a wrong first byte at once', () => {
    expect(parseProxyHeader(Buffer.from('PRO'))).toBeUndefined();
    expect(parseProxyHeader(proxyV2().subarray(0, 15))).toBeUndefined();
    expect(() => parseProxyHeader(Buffer.from('GET / HTTP/1.1'))).toThrow(/not a PROXY header/);
    expect(() => parseProxyHeader(Buffer.from('PRX'))).toThrow(/not a PROXY header/);
    const v2 = proxyV2({ source: '203.0.113.7', tlvs: SAMPLE_TLVS });
    expect(parseProxyHeader(Buffer.concat([v2, Buffer.from('GET')]))).toEqual({ header: { version: 2, source: { address: '203.0.113.7', port: 56324, family: 'IPv4' } }, length: v2.length });
  });
});
