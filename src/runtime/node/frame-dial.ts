/**
 * Handshakes for the frame-aware relay: a minimal RFC 6455 client handshake to the upstream on a
 * plain `net`/`tls` socket (no `ws` object behind the leg), and the server's 101 to the client,
 * written by the gateway itself once the upstream has answered.
 *
 * The dial checks what a client must (§4.1): status 101, `Upgrade: websocket`, `Connection:
 * Upgrade`, the `Sec-WebSocket-Accept` value, a subprotocol among those offered, and no
 * extension (none is offered). Failures map like the `ws` dial: HTTP status → 'rejected' (the
 * body is never read), no answer in time → 'timeout', anything else → 'unavailable'.
 */
import { createHash } from 'node:crypto';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { UpstreamDialError, type UpstreamRequest } from '../../core/leg.ts';
import { newHandshakeKey } from './frame-codec.ts';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** The largest upstream response head accepted. */
const MAX_HEAD = 16384;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const BAD_VALUE = /[\r\n\0]/;

export function acceptKey(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/** The 101 the gateway writes to the client (after every check passed and the upstream answered). */
export function switchingProtocols(key: string, protocol: string | undefined): string {
  return (
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n` +
    (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : '') +
    '\r\n'
  );
}

export interface DialledSocket {
  socket: Socket;
  protocol: string;
  /** Bytes the upstream sent after its 101 (frames), to be relayed first. */
  leftover: Buffer;
}

function requestHead(url: URL, key: string, req: UpstreamRequest): string {
  const defaultPort = url.protocol === 'wss:' ? '443' : '80';
  const host = url.port && url.port !== defaultPort ? `${url.hostname}:${url.port}` : url.hostname;
  let head =
    `GET ${url.pathname || '/'}${url.search} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n`;
  if (req.protocols.length > 0) head += `Sec-WebSocket-Protocol: ${req.protocols.join(', ')}\r\n`;
  for (const [k, v] of Object.entries(req.headers)) {
    // Values come from the client's request and claims: never let one add a header line.
    if (HEADER_NAME.test(k) && !BAD_VALUE.test(v)) head += `${k}: ${v}\r\n`;
  }
  return head + '\r\n';
}

/** Parse the upstream's response head; returns the error, or the chosen protocol. */
function checkResponse(head: string, key: string, offered: string[]): UpstreamDialError | string {
  const lines = head.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!status) return new UpstreamDialError('unavailable', 'upstream sent an invalid HTTP response');
  const code = Number(status[1]);
  if (code !== 101) return new UpstreamDialError('rejected', `upstream answered HTTP ${code}`, code);
  const h = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const c = line.indexOf(':');
    if (c > 0) h.set(line.slice(0, c).trim().toLowerCase(), line.slice(c + 1).trim());
  }
  if (h.get('upgrade')?.toLowerCase() !== 'websocket' || !/(^|,)\s*upgrade\s*(,|$)/i.test(h.get('connection') ?? ''))
    return new UpstreamDialError('unavailable', 'upstream 101 without Upgrade: websocket');
  if (h.get('sec-websocket-accept') !== acceptKey(key)) return new UpstreamDialError('unavailable', 'upstream sent an invalid Sec-WebSocket-Accept');
  if (h.has('sec-websocket-extensions')) return new UpstreamDialError('unavailable', 'upstream chose an extension that was not offered');
  const p = h.get('sec-websocket-protocol');
  if (p === undefined) return '';
  if (!offered.includes(p)) return new UpstreamDialError('rejected', 'upstream chose a subprotocol that was not offered', 101);
  return p;
}

/** Dial `req.url` and complete the client handshake; the socket comes back paused. */
export function dialFrames(req: UpstreamRequest, signal?: AbortSignal): Promise<DialledSocket> {
  return new Promise((resolve, reject) => {
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      return reject(new UpstreamDialError('unavailable', 'invalid upstream URL'));
    }
    const secure = url.protocol === 'wss:';
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const port = Number(url.port || (secure ? 443 : 80));
    const key = newHandshakeKey();
    const socket: Socket = secure
      ? tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }) })
      : netConnect({ host, port });
    socket.setNoDelay(true);
    let settled = false;
    let chunks: Buffer[] = [];
    let got = 0;
    const timer = setTimeout(() => fail(new UpstreamDialError('timeout', `no upstream handshake within ${req.timeoutMs} ms`)), req.timeoutMs);
    const onAbort = () => fail(new UpstreamDialError('unavailable', 'client went away'));
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      socket.off(secure ? 'secureConnect' : 'connect', onConnect);
    };
    function fail(err: UpstreamDialError): void {
      if (settled) return;
      done();
      socket.on('error', () => {});
      socket.destroy();
      reject(err);
    }
    function onConnect(): void {
      socket.write(requestHead(url, key, req));
    }
    function onError(err: Error): void {
      // Out of file descriptors is this process's overload, not the upstream's failure.
      const code = (err as NodeJS.ErrnoException).code;
      fail(new UpstreamDialError(code === 'EMFILE' || code === 'ENFILE' ? 'exhausted' : 'unavailable', err.message));
    }
    function onClose(): void {
      fail(new UpstreamDialError('unavailable', 'upstream closed during the handshake'));
    }
    function onData(d: Buffer): void {
      chunks.push(d);
      got += d.length;
      const all = chunks.length === 1 ? d : Buffer.concat(chunks);
      chunks = [all];
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) {
        if (got > MAX_HEAD) fail(new UpstreamDialError('unavailable', 'upstream response head too large'));
        return;
      }
      const checked = checkResponse(all.subarray(0, end).toString('latin1'), key, req.protocols);
      if (typeof checked !== 'string') return fail(checked);
      socket.pause(); // before the data listener goes: nothing read after the head is lost
      done();
      resolve({ socket, protocol: checked, leftover: all.subarray(end + 4) });
    }
    if (signal?.aborted) return onAbort();
    socket.once(secure ? 'secureConnect' : 'connect', onConnect);
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
  });
}
