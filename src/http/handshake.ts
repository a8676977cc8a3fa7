/**
 * Checks on the shape of an upgrade request, cheapest first (method, headers, key, version): nothing
 * here touches a token or dials an upstream, so a malformed request costs almost nothing.
 */
import { GatewayError } from '../errors.ts';
import type { ResolvedRoute } from '../routing/schema.ts';

/** `Upgrade: websocket` in any case (RFC 6455 §4.2.1; Hono's Deno/Workers helpers get this wrong). */
export function isUpgradeRequest(req: Request): boolean {
  const upgrade = req.headers.get('upgrade');
  return (upgrade ?? '').split(',').some((v) => v.trim().toLowerCase() === 'websocket');
}

const KEY_RE = /^[A-Za-z0-9+/]{22}==$/;

/** Method, Connection, key and version. Throws a GatewayError with the right status. */
export function checkHandshake(req: Request): void {
  if (req.method !== 'GET') throw new GatewayError('method_not_allowed', undefined, { allow: 'GET' });
  const connection = req.headers.get('connection') ?? '';
  if (!connection.split(',').some((v) => v.trim().toLowerCase() === 'upgrade'))
    throw new GatewayError('bad_handshake', 'Connection header must include Upgrade');
  const key = req.headers.get('sec-websocket-key');
  if (key === null || !KEY_RE.test(key.trim())) throw new GatewayError('bad_handshake', 'Sec-WebSocket-Key must be 16 bytes, base64');
  if (req.headers.get('sec-websocket-version')?.trim() !== '13')
    throw new GatewayError('unsupported_version', undefined, { 'sec-websocket-version': '13' });
}

interface ParsedOrigin {
  scheme: string;
  host: string;
  port: string;
}

/**
 * An origin as the browser serialises it: `scheme://host[:port]` and nothing else. Parsed with
 * URL (so a default port is normalised away) after a shape check: userinfo, a path, `?`, `#` or
 * `\` make it "not an origin" (`https://evil.io?.example.com` is evil.io with a query, never a
 * subdomain of example.com).
 */
export function parseOrigin(value: string): ParsedOrigin | undefined {
  const v = value.trim().toLowerCase().replace(/\/$/, '');
  // scheme://authority and nothing else: no userinfo, path, query, fragment or backslash.
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^/?#\\@\s]+$/.test(v)) return undefined;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return undefined;
  }
  if (u.username || u.password || u.search || u.hash || (u.pathname !== '/' && u.pathname !== '')) return undefined;
  if (!u.hostname) return undefined;
  return { scheme: u.protocol, host: u.hostname, port: u.port };
}

function originAllowed(o: ParsedOrigin, allowed: string): boolean {
  const star = allowed.indexOf('://*.');
  if (star < 0) {
    const a = parseOrigin(allowed);
    return a !== undefined && a.scheme === o.scheme && a.host === o.host && a.port === o.port;
  }
  // `https://*.example.com[:port]`: parse the entry with a stand-in label, then match the suffix.
  const a = parseOrigin(allowed.replace('://*.', '://wildcard.'));
  if (!a || a.scheme !== o.scheme || a.port !== o.port) return false;
  const suffix = a.host.slice('wildcard'.length); // ".example.com"
  return o.host.endsWith(suffix) && o.host.length > suffix.length && !o.host.startsWith('.');
}

/**
 * An allowlist entry is an exact origin (`https://app.example.com`) or a subdomain
 * pattern (`https://*.example.com`, which needs a real label before the dot, so look-alikes such
 * as `https://evilexample.com` fail). Both sides are parsed (scheme, host, port) before matching.
 * `null` matches only when listed literally.
 */
export function checkOrigin(route: ResolvedRoute, origin: string | null): void {
  if (!route.origins) return;
  if (origin === null) {
    if (route.allowMissingOrigin) return;
    throw new GatewayError('origin_not_allowed', 'An Origin header is required on this route');
  }
  if (route.origins.includes('*')) return;
  const trimmed = origin.trim().toLowerCase();
  if (trimmed === 'null') {
    if (route.origins.some((a) => a.trim().toLowerCase() === 'null')) return;
    throw new GatewayError('origin_not_allowed');
  }
  const o = parseOrigin(trimmed);
  if (o && route.origins.some((a) => originAllowed(o, a.trim().toLowerCase()))) return;
  throw new GatewayError('origin_not_allowed');
}
