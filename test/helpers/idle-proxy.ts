/**
 * A TCP proxy with a load balancer's idle timer: each proxied connection is cut (both sides
 * destroyed) after `idleMs` without a byte in either direction — the way AWS ALB, Alibaba CLB or
 * nginx's proxy_read_timeout end idle connections. Used to prove heartbeats keep idle connections open.
 */
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface IdleProxy {
  port: number;
  server: Server;
  /** Connections cut by the idle timer. */
  cuts: number;
  /** Connections currently open through the proxy. */
  readonly open: number;
  /** Bytes forwarded each way, all connections. */
  bytes: { up: number; down: number };
  close(): Promise<void>;
}

export async function startIdleProxy(opts: { targetPort: number; targetHost?: string; idleMs: number }): Promise<IdleProxy> {
  const pairs = new Set<[Socket, Socket]>();
  const proxy: IdleProxy = {
    port: 0,
    server: undefined as unknown as Server,
    cuts: 0,
    get open() {
      return pairs.size;
    },
    bytes: { up: 0, down: 0 },
    close: async () => {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      pairs.clear();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server = createServer((client) => {
    const target = connect(opts.targetPort, opts.targetHost ?? '127.0.0.1');
    const pair: [Socket, Socket] = [client, target];
    pairs.add(pair);
    let timer: NodeJS.Timeout;
    const end = () => {
      clearTimeout(timer);
      pairs.delete(pair);
      client.destroy();
      target.destroy();
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        proxy.cuts++;
        end();
      }, opts.idleMs);
    };
    arm();
    client.on('data', (d: Buffer) => {
      proxy.bytes.up += d.length;
      arm();
      if (!target.write(d)) client.pause();
    });
    target.on('data', (d: Buffer) => {
      proxy.bytes.down += d.length;
      arm();
      if (!client.write(d)) target.pause();
    });
    target.on('drain', () => client.resume());
    client.on('drain', () => target.resume());
    // A FIN from one side is passed on (so final close frames still arrive); an error or the
    // idle timer destroys both.
    client.on('end', () => target.end());
    target.on('end', () => client.end());
    let closed = 0;
    for (const s of pair) {
      s.on('error', end);
      s.on('close', () => {
        if (++closed === 2) end();
        else setTimeout(end, 1000).unref();
      });
    }
  });
  proxy.server = server;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  proxy.port = (server.address() as { port: number }).port;
  return proxy;
}
