/**
 * IP addresses and CIDR ranges as bytes, with Web APIs only (runs on every runtime). Addresses
 * are compared in one canonical form: IPv4 as 4 bytes, IPv6 as 16, and an IPv4-mapped IPv6
 * address (`::ffff:127.0.0.1`, what a dual-stack listener reports) as the IPv4 address it maps.
 */

function parseV4(s: string): Uint8Array | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    // No leading zeros: `010` is octal to some parsers and decimal to others.
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) return undefined;
    out[i] = Number(p);
  }
  return out;
}

function parseV6(s: string): Uint8Array | undefined {
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string): number[] | undefined => {
    if (h === '') return [];
    const out: number[] = [];
    const parts = h.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseV4(p);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) out.push(parseInt(p, 16));
      else return undefined;
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return undefined;
  const all = [...head, ...new Array<number>(fill).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

const isMapped = (b: Uint8Array): boolean => b.length === 16 && b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;

/** An address (no port) as 4 or 16 bytes, IPv4-mapped folded to IPv4; undefined if not an address. */
export function parseIp(input: string): Uint8Array | undefined {
  let s = input.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const zone = s.indexOf('%');
  if (zone > 0) s = s.slice(0, zone);
  if (s.length > 45) return undefined;
  const b = s.includes(':') ? parseV6(s) : parseV4(s);
  return b && isMapped(b) ? b.slice(12) : b;
}

/** The canonical text of an address: dotted IPv4, or RFC 5952 IPv6 (lower case, longest zero run as `::`). */
export function formatIp(b: Uint8Array): string {
  if (b.length === 4) return b.join('.');
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i]! << 8) | b[i + 1]!);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** The canonical form of an address, or undefined when `s` is not one. */
export function normalizeIp(s: string): string | undefined {
  const b = parseIp(s);
  return b ? formatIp(b) : undefined;
}

/**
 * An address as forwarding headers write it, port allowed: `203.0.113.7`, `203.0.113.7:4711`,
 * `2001:db8::1`, `[2001:db8::1]:4711`. Canonical form, or undefined.
 */
export function normalizeHop(entry: string): string | undefined {
  const s = entry.trim();
  const bracket = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(s);
  if (bracket) return normalizeIp(bracket[1]!);
  const v4port = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(s);
  return normalizeIp(v4port ? v4port[1]! : s);
}

export interface Cidr {
  bytes: Uint8Array;
  prefix: number;
}

/** `10.0.0.0/8`, `2001:db8::/32`, or a single address (a /32 or /128). Throws on anything else. */
export function parseCidr(text: string): Cidr {
  const [addr = '', len, extra] = text.trim().split('/');
  const raw = addr.includes(':') ? parseV6(addr.replace(/^\[|\]$/g, '')) : parseV4(addr);
  if (!raw || extra !== undefined) throw new Error(`"${text}" is not an address or CIDR range`);
  const max = raw.length * 8;
  let prefix = max;
  if (len !== undefined) {
    if (!/^\d{1,3}$/.test(len) || Number(len) > max) throw new Error(`"${text}": prefix length must be 0 to ${max}`);
    prefix = Number(len);
  }
  // ::ffff:10.0.0.0/104 is 10.0.0.0/8: ranges are kept in the same form as the addresses they match.
  if (isMapped(raw) && prefix >= 96) return { bytes: raw.slice(12), prefix: prefix - 96 };
  return { bytes: raw, prefix };
}

export function cidrContains(c: Cidr, b: Uint8Array): boolean {
  if (c.bytes.length !== b.length) return false;
  const full = c.prefix >> 3;
  for (let i = 0; i < full; i++) if (c.bytes[i] !== b[i]) return false;
  const rest = c.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (c.bytes[full]! & mask) === (b[full]! & mask);
}
