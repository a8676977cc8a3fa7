/**
 * Node broadcast framing: the ws leg frames a SharedFrame once and writes the same bytes to every
 * socket. Real `ws` clients must receive exactly what `send` would have delivered (text, binary,
 * the 16-bit and 64-bit length forms, unicode), the frame is built once for all legs, and the
 * bytes count in bufferedAmount (what the per-connection buffer cap reads).
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { SharedFrame } from '../../src/core/leg.ts';
import { wsLeg } from '../../src/runtime/node/ws-leg.ts';
import { until } from '../helpers/gateway.ts';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function pairs(n: number) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  cleanups.push(() => wss.close());
  await once(wss, 'listening');
  const port = (wss.address() as AddressInfo).port;
  const servers: WebSocket[] = [];
  wss.on('connection', (ws) => servers.push(ws));
  const clients = await Promise.all(
    Array.from({ length: n }, async () => {
      const c = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
      const got: Array<{ data: Buffer; isBinary: boolean }> = [];
      c.on('message', (data, isBinary) => got.push({ data: data as Buffer, isBinary }));
      cleanups.push(() => c.terminate());
      await once(c, 'open');
      return { c, got };
    }),
  );
  await until(() => servers.length === n, 3000, 'server sockets');
  return { clients, legs: servers.map((s) => wsLeg(s)) };
}

describe('Node shared frames', () => {
  it('every member receives the same message send would deliver; the frame is built once', async () => {
    const { clients, legs } = await pairs(3);
    const payloads: SharedFrame[] = [
      { data: new TextEncoder().encode('{"type":"message","data":"héllo 👋🏽"}'), isBinary: false },
      { data: new Uint8Array([0, 1, 2, 255]), isBinary: true },
      { data: new TextEncoder().encode('x'.repeat(300)), isBinary: false }, // 16-bit length
      { data: new Uint8Array(70_000).fill(7), isBinary: true }, // 64-bit length
      { data: new Uint8Array(0), isBinary: false },
    ];
    for (const f of payloads) {
      for (const leg of legs) leg.sendShared!(f);
      expect(Buffer.isBuffer(f.wire), 'framed once, cached on the frame').toBe(true);
    }
    await until(() => clients.every((c) => c.got.length === payloads.length), 5000, 'all delivered');
    for (const { got } of clients)
      expect(got.map((g) => ({ data: [...g.data], isBinary: g.isBinary }))).toEqual(payloads.map((f) => ({ data: [...f.data], isBinary: f.isBinary })));
  });

  it('the written bytes count in bufferedAmount (the buffer cap sees them)', async () => {
    const { clients, legs } = await pairs(1);
    clients[0]!.c.pause(); // stops reading: kernel buffers fill, then the socket's own
    const f: SharedFrame = { data: new Uint8Array(1 << 20), isBinary: true };
    for (let i = 0; i < 64 && legs[0]!.bufferedAmount < 4 << 20; i++) legs[0]!.sendShared!(f);
    expect(legs[0]!.bufferedAmount).toBeGreaterThan(1 << 20);
  });
});
