/**
 * The PROXY protocol (HAProxy's spec, v1 text and v2 binary) on a Node listener: TCP balancers
 * such as AWS NLB and Alibaba CLB write the client's address in a header before any other byte.
 * The header is read at the TCP level, before HTTP and before TLS (it precedes the TLS
 * handshake), then the socket goes to the HTTP(S) server as if it had just connected, reporting
 * the header's address as its `remoteAddress` — so everything above (the gateway, an app's own
 * routes, @hono/node-server's getConnInfo) sees the client, not the balancer.
 *
 * Refused, as the spec requires: a connection without a valid header, and a header that does not
 * arrive whole within the timeout (a slow or partial header cannot hold a socket).
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { Server as TlsServer, type TLSSocket } from 'node:tls';
import { formatIp, normalizeIp, parseIp } from '../../http/ip.ts';

export interface ProxyHeader {
  version: 1 | 2;
  /** LOCAL (a balancer's own health check) keeps the real peer; so does an UNKNOWN/UNSPEC/UNIX source. */
  source?: { address: string; port: number; family: 'IPv4' | 'IPv6' };
}

export class ProxyProtocolError extends Error {
  override readonly name = 'ProxyProtocolError';
}

const V1_PREFIX = Buffer.from('PROXY ');
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** The spec's bound for a v1 line, CRLF included. */
const V1_MAX = 107;

const isPrefix = (buf: Buffer, of: Buffer): boolean => buf.subarray(0, of.length).equals(of.subarray(0, Math.min(buf.length, of.length)));

function port(s: string | undefined): number {
  if (s === undefined || !/^(0|[1-9]\d{0,4})$/.test(s) || Number(s) > 65535) throw new ProxyProtocolError(`bad port "${s}"`);
  return Number(s);
}

function parseV1(line: string): ProxyHeader {
  const parts = line.split(' ');
  if (parts[1] === 'UNKNOWN') return { version: 1 };
  if (parts.length !== 6 || (parts[1] !== 'TCP4' && parts[1] !== 'TCP6')) throw new ProxyProtocolError('malformed v1 header');
  const v6 = parts[1] === 'TCP6';
  // TCP4 carries dotted IPv4 addresses, TCP6 IPv6 ones (a mapped IPv4 in TCP6 is folded to IPv4).
  const ofFamily = (s: string) => (s.includes(':') === v6 ? parseIp(s) : undefined);
  const b = ofFamily(parts[2]!);
  if (!b || !ofFamily(parts[3]!)) throw new ProxyProtocolError('bad v1 address');
  port(parts[5]);
  return { version: 1, source: { address: formatIp(b), port: port(parts[4]), family: b.length === 4 ? 'IPv4' : 'IPv6' } };
}

function parseV2(buf: Buffer, len: number): ProxyHeader {
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) throw new ProxyProtocolError('v2: unsupported version');
  const command = verCmd & 0x0f;
  if (command === 0x0) return { version: 2 }; // LOCAL
  if (command !== 0x1) throw new ProxyProtocolError('v2: unknown command');
  const family = buf[13]! >> 4;
  const transport = buf[13]! & 0x0f;
  if (family > 3 || transport > 2) throw new ProxyProtocolError('v2: unknown address family');
  const body = buf.subarray(16, 16 + len);
  // Whatever follows the addresses (TLVs: AWS's VPC endpoint id, Alibaba's, SSL info, CRC) is skipped whole.
  if (family === 1) {
    if (len < 12) throw new ProxyProtocolError('v2: short IPv4 block');
    return { version: 2, source: { address: formatIp(body.subarray(0, 4)), port: body.readUInt16BE(8), family: 'IPv4' } };
  }
  if (family === 2) {
    if (len < 36) throw new ProxyProtocolError('v2: short IPv6 block');
    const address = normalizeIp(formatIp(body.subarray(0, 16)))!;
    return { version: 2, source: { address, port: body.readUInt16BE(32), family: address.includes(':') ? 'IPv6' : 'IPv4' } };
  }
  if (family === 3 && len < 216) throw new ProxyProtocolError('v2: short UNIX block');
  return { version: 2 }; // UNSPEC or UNIX: no usable address, keep the real peer
}

/** A complete header and its length, `undefined` while more bytes are needed; throws when invalid. */
export function parseProxyHeader(buf: Buffer): { header: ProxyHeader; length: number } | undefined {
  if (buf.length === 0) return undefined;
  if (buf[0] === 0x50 /* P */) {
    if (!isPrefix(buf, V1_PREFIX)) throw new ProxyProtocolError('not a PROXY header');
    const end = buf.subarray(0, V1_MAX).indexOf('\r\n');
    if (end < 0) {
      if (buf.length >= V1_MAX) throw new ProxyProtocolError('v1 header longer than 107 bytes');
      return undefined;
    }
    const line = buf.subarray(0, end).toString('latin1');
    return { header: parseV1(line), length: end + 2 };
  }
  if (!isPrefix(buf, V2_SIGNATURE)) throw new ProxyProtocolError('not a PROXY header');
  if (buf.length < 16) return undefined;
  const len = buf.readUInt16BE(14);
  if (buf.length < 16 + len) return undefined;
  return { header: parseV2(buf, len), length: 16 + len };
}

/** Read the header off a fresh socket: resolves with it and the bytes that followed it. */
export function readProxyHeader(socket: Socket, timeoutMs: number): Promise<{ header: ProxyHeader; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const done = (err?: Error, value?: { header: ProxyHeader; rest: Buffer }) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (err) reject(err);
      else resolve(value!);
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      try {
        const got = parseProxyHeader(buf);
        if (!got) return;
        socket.pause();
        done(undefined, { header: got.header, rest: buf.subarray(got.length) });
      } catch (err) {
        done(err as Error);
      }
    };
    const onClose = () => done(new ProxyProtocolError('closed before a PROXY header'));
    const timer = setTimeout(() => done(new ProxyProtocolError(`no complete PROXY header within ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

/** The peer a socket reports from now on (own properties shadow net.Socket's getters). */
function setPeer(socket: Socket, source: NonNullable<ProxyHeader['source']>): void {
  Object.defineProperty(socket, 'remoteAddress', { value: source.address, configurable: true });
  Object.defineProperty(socket, 'remotePort', { value: source.port, configurable: true });
  Object.defineProperty(socket, 'remoteFamily', { value: source.family, configurable: true });
}

const swallow = (): void => {};

/**
 * Make an HTTP or HTTPS server expect a PROXY header on every connection. The server's own
 * `connection` listeners (HTTP parsing, or the TLS handshake) run once the header was read, with
 * the bytes after it put back.
 */
export function acceptProxyProtocol(server: Server, o: { timeoutMs: number; onRefused?(peer: string | undefined, reason: string): void }): void {
  const secure = server instanceof TlsServer;
  const original = server.listeners('connection') as Array<(socket: Socket) => void>;
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    socket.on('error', swallow);
    readProxyHeader(socket, o.timeoutMs).then(
      ({ header, rest }) => {
        if (socket.destroyed) return;
        if (header.source) setPeer(socket, header.source);
        if (rest.length > 0) socket.unshift(rest);
        for (const l of original) l.call(server, socket);
        socket.off('error', swallow);
        // HTTP reads through the stream and needs it flowing again; TLS took over the handle and
        // read the put-back bytes itself — a flowing raw stream would now swallow ciphertext.
        if (!secure) socket.resume();
      },
      (err: Error) => {
        o.onRefused?.(socket.remoteAddress, err.message);
        socket.destroy();
      },
    );
  });
  // Under TLS the HTTP layer sees the TLSSocket wrapped around the raw one: it reports the same peer.
  server.prependListener('secureConnection' as 'connection', (tlsSocket: TLSSocket) => {
    const raw = (tlsSocket as unknown as { _parent?: Socket })._parent;
    const address = raw && Object.getOwnPropertyDescriptor(raw, 'remoteAddress')?.value;
    if (typeof address === 'string') setPeer(tlsSocket, { address, port: raw!.remotePort!, family: raw!.remoteFamily as 'IPv4' | 'IPv6' });
  });
}
