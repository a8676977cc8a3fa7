/**
 * The gateway inside an application: the application's own Hono routes next to the gateway's,
 * and the gateway mounted under a prefix with `app.route('/ws', gateway)`.
 */
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway, serveNode } from '../../src/runtime/node/index.ts';
import { connectClient, expectRefused, startUpstream, stopAll, onStop } from '../helpers/gateway.ts';

afterEach(stopAll);

async function serve(app: Hono) {
  const node = await serveNode(app, { port: 0, host: '127.0.0.1' });
  onStop(() => node.close());
  return { ws: (p: string) => `ws://127.0.0.1:${node.port}${p}`, http: (p: string) => fetch(`http://127.0.0.1:${node.port}${p}`) };
}

async function echoGateway() {
  const up = await startUpstream();
  onStop(() => up.close());
  const gateway = createGateway({ routes: [{ path: '/echo', upstream: up.url, auth: false }], log: 'silent' });
  onStop(() => gateway.gateway.dispose());
  return gateway;
}

describe('library use', () => {
  it('a route the application adds to the gateway app after createGateway() answers; unknown paths still get JSON 404', async () => {
    const gateway = await echoGateway();
    gateway.get('/hello', (c) => c.text('hi'));
    const s = await serve(gateway);
    expect(await (await s.http('/hello')).text()).toBe('hi');
    const missing = await s.http('/nope');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: 'not_found' });
    const c = await connectClient(s.ws('/echo'));
    c.ws.send('direct');
    expect((await c.next()).text).toBe('direct');
  });

  it("app.route('/ws', gateway): relays at /ws/echo, probes at /ws/healthz, the application's own routes beside it", async () => {
    const gateway = await echoGateway();
    const app = new Hono();
    app.get('/', (c) => c.text('home'));
    app.route('/ws', gateway);
    const s = await serve(app);
    expect(await (await s.http('/')).text()).toBe('home');
    expect((await s.http('/ws/healthz')).status).toBe(200);
    const c = await connectClient(s.ws('/ws/echo'));
    c.ws.send('mounted');
    expect((await c.next()).text).toBe('mounted');
    // Outside the prefix the gateway's routes do not exist; inside it an unknown path is a 404 too.
    expect((await expectRefused(s.ws('/echo'))).status).toBe(404);
    expect((await expectRefused(s.ws('/ws/nope'))).status).toBe(404);
  });
});
