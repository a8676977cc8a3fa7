/**
 * Who the client is, behind load balancers. The socket peer is the client unless it is a trusted
 * proxy; then the client is found the way nginx's `real_ip_recursive on` and Envoy's trusted
 * hops do it: walk the forwarding chain from the right and stop at the first address that is
 * not a trusted proxy. Everything left of that address was written by the client itself and is
 * dropped. Runs on every runtime (Web APIs only).
 */
import { ConfigError } from '../errors.ts';
import { cidrContains, normalizeHop, normalizeIp, parseCidr, parseIp, type Cidr } from './ip.ts';

/** Named sets of ranges for `trustedProxies` / `--trust-proxy`. */
export const TRUST_PRESETS: Record<string, readonly string[]> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  // RFC 1918, RFC 6598 shared space (Alibaba Cloud's balancers connect from 100.64.0.0/10), RFC 4193 unique local.
  private: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
};

/** A compiled list of trusted proxy addresses and ranges. */
export class TrustedProxies {
  private readonly ranges: Cidr[];
  /** The entries as given (presets expanded), for messages. */
  readonly entries: readonly string[];

  constructor(list: readonly string[] = []) {
    const entries: string[] = [];
    for (const raw of list) {
      const e = raw.trim();
      if (e === '') continue;
      const preset = TRUST_PRESETS[e.toLowerCase()];
      if (preset) entries.push(...preset);
      else entries.push(e);
    }
    this.ranges = entries.map((e) => {
      try {
        return parseCidr(e);
      } catch (err) {
        const expected = `an address, a CIDR, or one of ${Object.keys(TRUST_PRESETS).join(', ')}`;
        throw new ConfigError(
          { source: 'trusted proxies', field: 'trustedProxies', expected, got: e, cause: err },
          `trusted proxies: ${(err as Error).message} (expected ${expected})`,
        );
      }
    });
    this.entries = entries;
  }

  get size(): number {
    return this.ranges.length;
  }

  /** Whether an address (any textual form, IPv4-mapped included) is a trusted proxy. */
  has(address: string): boolean {
    if (this.ranges.length === 0) return false;
    const b = parseIp(address);
    return b !== undefined && this.ranges.some((r) => cidrContains(r, b));
  }
}

/** Where the client address comes from when the peer is trusted. */
export type ClientIpSource = 'x-forwarded-for' | 'forwarded' | (string & {});

export interface ClientAddressConfig {
  trusted: TrustedProxies;
  /** Lower-case header name: `x-forwarded-for` (default), `forwarded` (RFC 7239), or a one-address header such as `cf-connecting-ip`. */
  header: ClientIpSource;
}

/** What the upstream is told about the connection (X-Forwarded-*). */
export interface ForwardedFacts {
  /** The chain: client, then each trusted hop, then the gateway's peer. */
  for: string;
  proto: string;
  host: string;
  port: string;
}

export interface ClientInfo {
  /** The client's address (canonical form): logs, per-IP limits. */
  ip: string;
  /** Whether the socket peer is a trusted proxy (its forwarded headers were used). */
  viaProxy: boolean;
  forwarded: ForwardedFacts;
}

/** RFC 7239 elements, left to right: their `for`, `proto` and `host` values (quotes removed). */
export function parseForwarded(value: string): Array<Record<string, string>> {
  const out: Array<Record<string, string>> = [];
  // Commas and semicolons inside quoted strings do not separate anything.
  const re = /\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,;\s]*)\s*([,;]|$)/y;
  let current: Record<string, string> = {};
  let at = 0;
  while (at < value.trimEnd().length) {
    re.lastIndex = at;
    const m = re.exec(value);
    // A header that does not parse to its end is ignored whole: its right-most (most trusted)
    // elements cannot be told apart from the client's.
    if (!m) return [];
    const v = m[2]!.startsWith('"') ? m[2]!.slice(1, -1).replace(/\\(.)/g, '$1') : m[2]!;
    current[m[1]!.toLowerCase()] = v;
    if (m[3] !== ';') {
      out.push(current);
      current = {};
    }
    at = re.lastIndex;
  }
  if (Object.keys(current).length > 0) out.push(current);
  return out;
}

const first = (v: string | null): string | undefined => {
  const s = v?.split(',')[0]?.trim();
  return s ? s : undefined;
};
const cleanProto = (v: string | undefined): string | undefined => {
  const p = v?.toLowerCase();
  return p === 'https' || p === 'wss' ? 'https' : p === 'http' || p === 'ws' ? 'http' : undefined;
};
const cleanHost = (v: string | undefined): string | undefined => (v && v.length <= 255 && /^[A-Za-z0-9.\-_:[\]]+$/.test(v) ? v : undefined);
const cleanPort = (v: string | undefined): string | undefined => (v && /^\d{1,5}$/.test(v) && Number(v) <= 65535 ? String(Number(v)) : undefined);
const hostPort = (host: string): string | undefined => /:(\d{1,5})$/.exec(host)?.[1];

/**
 * The client behind `peer` (the socket's address). `ownProto` is the scheme the gateway itself
 * was reached with; the Host header gives its own host and port.
 */
export function resolveClient(peer: string | undefined, headers: Headers, cfg: ClientAddressConfig, ownProto: 'http' | 'https'): ClientInfo {
  const peerIp = (peer && normalizeIp(peer)) ?? peer ?? 'unknown';
  const ownHost = headers.get('host') ?? 'unknown';
  const own = (): ForwardedFacts => ({ for: peerIp, proto: ownProto, host: ownHost, port: hostPort(ownHost) ?? (ownProto === 'https' ? '443' : '80') });
  if (!cfg.trusted.has(peerIp)) return { ip: peerIp, viaProxy: false, forwarded: own() };

  const chain = [peerIp];
  let proto = cleanProto(first(headers.get('x-forwarded-proto')));
  let host = cleanHost(first(headers.get('x-forwarded-host')));
  const port = cleanPort(first(headers.get('x-forwarded-port')));
  const walk = (hops: Array<string | undefined>, onStop?: (index: number) => void): void => {
    let i = hops.length - 1;
    while (i >= 0 && cfg.trusted.has(chain[0]!)) {
      // An entry that is not an address (`unknown`, an obfuscated name, garbage) ends the walk:
      // the last real address is the best that is known.
      const hop = hops[i] !== undefined ? normalizeHop(hops[i]!) : undefined;
      if (hop === undefined) break;
      chain.unshift(hop);
      i--;
    }
    onStop?.(i + 1);
  };

  if (cfg.header === 'x-forwarded-for') {
    walk((headers.get('x-forwarded-for') ?? '').split(',').filter((h) => h.trim() !== ''));
  } else if (cfg.header === 'forwarded') {
    const elements = parseForwarded(headers.get('forwarded') ?? '');
    // The element describing the client's own connection says which scheme and host it used.
    walk(
      elements.map((e) => e.for),
      (i) => {
        const el = elements[Math.min(i, elements.length - 1)];
        proto = cleanProto(el?.proto) ?? proto;
        host = cleanHost(el?.host) ?? host;
      },
    );
  } else {
    const hop = normalizeHop(first(headers.get(cfg.header)) ?? '');
    if (hop !== undefined) chain.unshift(hop);
  }

  const p = proto ?? ownProto;
  const h = host ?? ownHost;
  return {
    ip: chain[0]!,
    viaProxy: true,
    forwarded: { for: chain.join(', '), proto: p, host: h, port: port ?? hostPort(h) ?? (p === 'https' ? '443' : '80') },
  };
}
