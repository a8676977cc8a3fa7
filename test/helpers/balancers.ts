/**
 * Load balancers simulated on loopback, for the trusted-proxy, PROXY protocol and deployment
 * recipe tests. Each is a real TCP (or TLS) server in front of the gateway; everything started
 * here is stopped by stopAll().
 *
 * - `startTcpBalancer`: TCP mode (AWS NLB, Alibaba CLB): writes a PROXY v1 or v2 header carrying
 *   a configured client address, then relays bytes unchanged (TLS passes through).
 * - `startHttpBalancer`: HTTP mode (AWS ALB, Cloudflare, nginx-like): reads the request head,
 *   adds forwarding headers, relays the rest; optionally terminates TLS.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { parseIp } from '../../src/http/ip.ts';
import { onStop } from './gateway.ts';

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

export function proxyV1(source: string, sourcePort = 56324, dest = '127.0.0.1', destPort = 443): Buffer {
  const fam = source.includes(':') ? 'TCP6' : 'TCP4';
  return Buffer.from(`PROXY ${fam} ${source} ${dest} ${sourcePort} ${destPort}\r\n`);
}

/** A v2 header; `tlvs` are [type, value] pairs appended after the addresses. */
export function proxyV2(o: { source?: string; sourcePort?: number; local?: boolean; tlvs?: Array<[number, Buffer]> } = {}): Buffer {
  const src = parseIp(o.source ?? '203.0.113.7')!;
  const v6 = src.length === 16;
  const dst = v6 ? parseIp('::1')! : parseIp('127.0.0.1')!;
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(o.sourcePort ?? 56324, 0);
  ports.writeUInt16BE(443, 2);
  const tlvs = (o.tlvs ?? []).map(([type, value]) => {
    const h = Buffer.alloc(3);
    h[0] = type;
    h.writeUInt16BE(value.length, 1);
    return Buffer.concat([h, value]);
  });
  const body = o.local ? Buffer.alloc(0) : Buffer.concat([src, dst, ports, ...tlvs]);
  const head = Buffer.alloc(4);
  head[0] = o.local ? 0x20 : 0x21;
  head[1] = o.local ? 0x00 : v6 ? 0x21 : 0x11;
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([V2_SIGNATURE, head, body]);
}

/** Typical TLVs: AWS's VPC endpoint id (0xEA), a unique id (0x05), a NOOP padding (0x04). */
export const SAMPLE_TLVS: Array<[number, Buffer]> = [
  [0xea, Buffer.concat([Buffer.from([0x01]), Buffer.from('vpce-08d2bf15fac5001c9')])],
  [0x05, Buffer.from('c0ffee-unique-id')],
  [0x04, Buffer.alloc(9)],
];

function pipePair(a: Socket, b: Socket, sockets: Set<Socket>): void {
  for (const s of [a, b]) {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => {
      sockets.delete(s);
      a.destroy();
      b.destroy();
    });
  }
  a.pipe(b);
  b.pipe(a);
}

async function listen(server: Server, sockets: Set<Socket>): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onStop(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return (server.address() as { port: number }).port;
}

/** TCP mode: each connection gets `header(n)` (n counts connections from 0) written first. */
export async function startTcpBalancer(targetPort: number, header: (n: number) => Buffer): Promise<{ port: number }> {
  const sockets = new Set<Socket>();
  let n = 0;
  const server = createServer((client) => {
    const target = connect(targetPort, '127.0.0.1');
    target.write(header(n++));
    pipePair(client, target, sockets);
  });
  return { port: await listen(server, sockets) };
}

export interface HttpBalancerOptions {
  targetPort: number;
  /** Headers to set (replacing the client's), computed per connection from the client's address. */
  set?(clientAddress: string): Record<string, string>;
  /** Append the client's address to X-Forwarded-For (what ALB, nginx and Cloudflare do). @default true */
  appendXff?: boolean;
  /** Terminate TLS with this certificate (TLS at the balancer, plain to the gateway). */
  tls?: { cert: Buffer | string; key: Buffer | string };
}

/** HTTP mode: rewrites the first request head of each connection, then relays both ways. */
export async function startHttpBalancer(o: HttpBalancerOptions): Promise<{ port: number }> {
  const sockets = new Set<Socket>();
  const onClient = (client: Socket) => {
    client.on('error', () => {});
    let head = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      client.off('data', onData);
      client.pause();
      const [requestLine, ...lines] = head.subarray(0, end).toString('latin1').split('\r\n');
      const set = o.set?.(client.remoteAddress ?? '') ?? {};
      const setNames = new Set(Object.keys(set).map((k) => k.toLowerCase()));
      const out = lines.filter((l) => !setNames.has(l.slice(0, l.indexOf(':')).trim().toLowerCase()));
      if (o.appendXff !== false) {
        const i = out.findIndex((l) => /^x-forwarded-for:/i.test(l));
        const addr = client.remoteAddress ?? '';
        if (i >= 0) out[i] = `${out[i]}, ${addr}`;
        else out.push(`X-Forwarded-For: ${addr}`);
      }
      for (const [k, v] of Object.entries(set)) out.push(`${k}: ${v}`);
      const target = connect(o.targetPort, '127.0.0.1');
      target.write(Buffer.concat([Buffer.from(`${requestLine}\r\n${out.join('\r\n')}\r\n\r\n`, 'latin1'), head.subarray(end + 4)]));
      pipePair(client, target, sockets);
      client.resume();
    };
    client.on('data', onData);
  };
  const server = o.tls ? createTlsServer({ cert: o.tls.cert, key: o.tls.key }, onClient) : createServer(onClient);
  return { port: await listen(server as Server, sockets) };
}
