/**
 * A wss:// upstream on the frame relay: the gateway dials with tls.connect and its own client
 * handshake, then relays frames over the TLS socket. The upstream's certificate is a throwaway
 * self-signed one made with the openssl CLI, so certificate checks are off in this process only.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { createNodeAdapter } from '../../src/runtime/node/adapter.ts';
import { connectClient, startGateway, stopAll } from '../helpers/gateway.ts';

afterEach(stopAll);

let dir = '';
let cert: { key: Buffer; cert: Buffer } | undefined;
let why = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wsgate-tls-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { stdio: 'ignore' });
    cert = { key: readFileSync(join(dir, 'k.pem')), cert: readFileSync(join(dir, 'c.pem')) };
  } catch (e) {
    why = `openssl CLI unavailable: ${(e as Error).message}`;
    console.warn(`[tls-upstream] skipped: ${why}`);
  }
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'; // the self-signed upstream above; this test process only
});
afterAll(() => {
  delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
  rmSync(dir, { recursive: true, force: true });
});

describe('wss upstream', () => {
  it('relays both ways over TLS with the subprotocol the upstream chose', async (ctx) => {
    if (!cert) return ctx.skip(why);
    const server = createServer(cert);
    const wss = new WebSocketServer({ server, perMessageDeflate: false, handleProtocols: (p) => (p.has('b') ? 'b' : false) });
    wss.on('connection', (ws) => ws.on('message', (d, bin) => ws.send(d as Buffer, { binary: bin })));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const port = (server.address() as { port: number }).port;
      const gw = await startGateway([{ path: '/s', upstream: `wss://localhost:${port}`, auth: false, heartbeat: 'off' }], { runtime: createNodeAdapter({ relay: 'frames' }) });
      const c = await connectClient(gw.url('/s'), ['a', 'b']);
      expect(c.ws.protocol).toBe('b');
      c.ws.send('over tls');
      expect((await c.next()).text).toBe('over tls');
      const big = Buffer.alloc(300_000, 7);
      c.ws.send(big);
      expect((await c.next()).data.equals(big)).toBe(true);
      c.ws.close(4000, 'done');
      expect((await c.closed).code).toBe(4000);
    } finally {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      server.close();
    }
  });
});
