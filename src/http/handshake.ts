/**
 * Checks on the shape of an upgrade request, in the order RELIABILITY group A asks for: nothing
 * here touches a token or dials an upstream, so a malformed request costs almost nothing.
 */
import { GatewayError } from '../errors.ts';
import type { ResolvedRoute } from '../routing/schema.ts';

/** `Upgrade: websocket` in any case (RFC 6455 §4.2.1; Hono's Deno/Workers helpers get this wrong). */
export function isUpgradeRequest(req: Request): boolean {
  const upgrade = req.headers.get('upgrade');
  return upgrade !== null && upgrade.split(',').some((v) => v.trim().toLowerCase() === 'websocket');
}

const KEY_RE = /^[A-Za-z0-9+/]{22}==$/;

/** A1–A5: method, Connection, key and version. Throws a GatewayError with the right status. */
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

/**
 * A8/A9: an allowlist entry is an exact origin (`https://app.example.com`) or a subdomain
 * pattern (`https://*.example.com`, which needs a real label before the dot, so look-alikes such
 * as `https://evilexample.com` fail). `null` matches only when listed literally.
 */
export function checkOrigin(route: ResolvedRoute, origin: string | null): void {
  if (!route.origins) return;
  if (origin === null) {
    if (route.allowMissingOrigin) return;
    throw new GatewayError('origin_not_allowed', 'An Origin header is required on this route');
  }
  const o = origin.trim().toLowerCase().replace(/\/$/, '');
  for (const allowed of route.origins) {
    const a = allowed.toLowerCase().replace(/\/$/, '');
    if (a === '*' || a === o) return;
    const star = a.indexOf('://*.');
    if (star > 0) {
      const scheme = a.slice(0, star + 3);
      const suffix = a.slice(star + 4); // ".example.com"
      if (o.startsWith(scheme) && o.endsWith(suffix) && o.length > scheme.length + suffix.length && !o.slice(scheme.length).includes('/'))
        return;
    }
  }
  throw new GatewayError('origin_not_allowed');
}
