/**
 * Heartbeats on workerd, where no protocol ping exists (issue 4 item 4): the gateway sends an
 * app-level ping (`{"type":"ping"}`) and needs inbound traffic within interval + timeout.
 * Checked on both paths: a hub route (the channel's Durable Object, where a client's own
 * `{"type":"ping"}` is auto-responded without waking it) and a relay route (the Worker).
 * Heartbeat answers are consumed by the gateway: never broadcast, never relayed upstream.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { WebSocketServer } from 'ws';
import { connectClient, FrameReader, rawUpgrade, stopAll, until, upgradeHead, type TestClient } from '../helpers/gateway.ts';
import { onWorkerd, startWorkerd, type WorkerdProcess } from '../helpers/wrangler-dev.ts';

const PING = '{"type":"ping"}';
const PONG = '{"type":"pong"}';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const answerPings = (c: TestClient) => c.ws.on('message', (d) => d.toString() === PING && c.ws.send(PONG));
const texts = (c: TestClient) => c.messages.filter((m) => !m.isBinary).map((m) => m.data.toString());

await onWorkerd('workerd heartbeats (app-level ping)', () => {
  describe('workerd heartbeats (app-level ping)', () => {
    let gw: WorkerdProcess;
    let up: WebSocketServer;
    let dir: string;
    const upstreamTexts: string[] = [];

    beforeAll(async () => {
      // Not startUpstream(): its cleanup (afterEach stopAll) would close it after the first test.
      up = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
      await once(up, 'listening');
      up.on('connection', (ws) => ws.on('message', (d, isBinary) => (upstreamTexts.push(d.toString()), ws.send(d, { binary: isBinary }))));
      const upUrl = `ws://127.0.0.1:${(up.address() as { port: number }).port}`;
      dir = mkdtempSync(join(tmpdir(), 'wsgate-workerd-hb-'));
      const hb = { intervalMs: 500, timeoutMs: 500 };
      writeFileSync(join(dir, 'hub.mjs'), `export default ${JSON.stringify({ path: '/hub/:room', channel: 'hb:{room}', auth: false, heartbeat: hb })};\n`);
      writeFileSync(join(dir, 'relay.mjs'), `export default ${JSON.stringify({ path: '/relay', upstream: upUrl, auth: false, heartbeat: hb })};\n`);
      gw = await startWorkerd({ routesDir: dir, env: {} });
    }, 30_000);
    afterEach(stopAll);
    afterAll(async () => {
      await gw?.stop();
      await new Promise((r) => up?.close(r));
      rmSync(dir, { recursive: true, force: true });
    });

    for (const path of ['/hub/a', '/relay']) {
      it(`${path}: a client that never answers gets close 4409 within interval + timeout (+ ticks)`, async () => {
        const r = await rawUpgrade(gw.port, upgradeHead(path));
        expect(r.status).toBe(101);
        const started = Date.now();
        const reader = new FrameReader();
        const i = r.raw.indexOf('\r\n\r\n');
        const frames = reader.push(Buffer.from(r.raw.slice(i + 4), 'latin1'));
        r.socket.on('data', (d: Buffer) => frames.push(...reader.push(d)));
        const close = () => frames.find((f) => f.opcode === 8);
        await until(() => close() !== undefined, 4000, 'a close frame');
        expect(close()!.payload.readUInt16BE(0)).toBe(4409);
        expect(Date.now() - started).toBeLessThan(2500);
        expect(frames.some((f) => f.opcode === 1 && f.payload.toString() === PING)).toBe(true);
        r.socket.destroy();
      });

      it(`${path}: a client that answers the pings stays open; answers are never relayed or broadcast`, async () => {
        const a = await connectClient(`ws://127.0.0.1:${gw.port}${path}`);
        const b = await connectClient(`ws://127.0.0.1:${gw.port}${path}`);
        answerPings(a);
        answerPings(b);
        let closed = false;
        void a.closed.then(() => (closed = true));
        await sleep(3000);
        expect(closed).toBe(false);
        a.ws.send('still here');
        if (path === '/relay') await until(() => texts(a).includes('still here'), 3000, 'the echo');
        else await until(() => texts(b).some((t) => t.includes('still here')), 3000, 'the broadcast');
        expect([...texts(a), ...texts(b)].some((t) => t.includes('pong'))).toBe(false);
        expect(upstreamTexts.some((t) => t === PONG || t === PING)).toBe(false);
      });

      it(`${path}: a client sending its own app-level pings is answered and stays open`, async () => {
        const c = await connectClient(`ws://127.0.0.1:${gw.port}${path}`);
        const timer = setInterval(() => c.ws.readyState === 1 && c.ws.send(PING), 200);
        let closed = false;
        void c.closed.then(() => (closed = true));
        try {
          await sleep(3000);
          expect(closed).toBe(false);
          expect(texts(c)).toContain(PONG);
        } finally {
          clearInterval(timer);
        }
      });
    }
  });
});
