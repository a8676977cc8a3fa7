/**
 * 1,000 concurrent client connections through one gateway to one upstream (issue item 10):
 * all open at once, each echoes one message, then all close; the open-connections gauge returns
 * to 0 and nothing is left in the registry or at the upstream.
 */
import { afterEach, expect, it } from 'vitest';
import { connectClient, startGateway, startUpstream, stopAll, until, type TestClient } from '../helpers/gateway.ts';
import { claims, hs } from '../helpers/tokens.ts';

afterEach(stopAll);

const N = 1000;
const BATCH = 50; // under the default per-IP handshake cap (64), and gentle on a 2-core box

function gauge(text: string, route: string): number | undefined {
  const m = new RegExp(`^wsgate_connections_open\\{route="${route.replace(/\//g, '\\/')}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

it(`${N} concurrent connections: each echoes, all close, gauge back to 0, registry empty`, async () => {
  const up = await startUpstream();
  const gw = await startGateway([{ path: '/echo', upstream: up.url }]);
  const clients: TestClient[] = [];
  for (let i = 0; i < N; i += BATCH) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(BATCH, N - i) }, async (_, j) => connectClient(gw.url('/echo', await hs(claims({ sub: `user-${i + j}` }))))),
    );
    clients.push(...batch);
  }
  expect(clients).toHaveLength(N);
  expect(gw.app.gateway.registry.size).toBe(N);
  expect(up.wss.clients.size).toBe(N);
  expect(gauge(await (await gw.http('/metrics')).text(), '/echo')).toBe(N);

  // Every connection sends one message and gets exactly it back (all in flight at once).
  const replies = await Promise.all(
    clients.map(async (c, i) => {
      c.ws.send(`m-${i}`);
      return (await c.next(15_000)).text;
    }),
  );
  replies.forEach((r, i) => expect(r).toBe(`m-${i}`));
  const metrics = await (await gw.http('/metrics')).text();
  expect(metrics).toContain(`wsgate_messages_total{direction="in",route="/echo"} ${N}`);
  expect(metrics).toContain(`wsgate_messages_total{direction="out",route="/echo"} ${N}`);

  const closed = clients.map((c) => c.closed);
  clients.forEach((c) => c.ws.close(1000, 'bye'));
  const codes = await Promise.all(closed);
  expect(codes.every((c) => c.code === 1000)).toBe(true);

  await until(async () => gauge(await (await gw.http('/metrics')).text(), '/echo') === 0, 10_000, 'wsgate_connections_open back to 0');
  expect(gw.app.gateway.registry.size).toBe(0);
  expect(gw.app.gateway.registry.indexSizes()).toEqual({ ids: 0, users: 0, channels: 0, routes: 0 });
  await until(() => up.wss.clients.size === 0, 10_000, 'upstream connections closed');
  const ready = (await (await gw.http('/readyz')).json()) as { connections: number };
  expect(ready.connections).toBe(0);
}, 60_000);
