/**
 * Where a handshake carries its token: `?token=`, `Authorization: Bearer`, or an offered
 * subprotocol `bearer.<JWT>` (browsers cannot set headers on a WebSocket). A token given in two
 * places is refused and never echoed back or forwarded.
 */
import { authError } from './errors.ts';

export type TokenSource = 'query' | 'header' | 'protocol';

/** The part of ResolvedAuth that token extraction needs. */
export interface TokenLocation {
  tokenFrom: readonly TokenSource[];
  queryParam: string;
}

export interface ExtractedToken {
  token: string;
  source: TokenSource;
}

/** Prefix of the subprotocol entry that carries a token. */
export const PROTOCOL_PREFIX = 'bearer.';

/** Offered subprotocols, in order, trimmed, empty entries dropped. */
export function offeredProtocols(request: Request): string[] {
  const raw = request.headers.get('sec-websocket-protocol');
  if (!raw) return [];
  return raw.split(',').map((p) => p.trim()).filter((p) => p.length > 0);
}

function isCarrier(protocol: string): boolean {
  return protocol.toLowerCase().startsWith(PROTOCOL_PREFIX);
}

/** Offered subprotocols without any `bearer.` carrier: what may go upstream or be echoed. */
export function upstreamProtocols(request: Request): string[] {
  return offeredProtocols(request).filter((p) => !isCarrier(p));
}

/** Decode a query component the way URLSearchParams does, without throwing on bad escapes. */
function decodeComponent(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/** Raw `name=value` pieces of a query string whose decoded name is `name`. */
function queryValues(search: string, name: string): string[] {
  const out: string[] = [];
  for (const piece of search.replace(/^\?/, '').split('&')) {
    if (!piece) continue;
    const eq = piece.indexOf('=');
    const key = decodeComponent(eq < 0 ? piece : piece.slice(0, eq));
    if (key === name) out.push(eq < 0 ? '' : decodeComponent(piece.slice(eq + 1)));
  }
  return out;
}

/**
 * A query string (`?a=1&b=2`, as URL.search gives it) without the token parameter. Other
 * parameters keep their exact spelling (no re-encoding by URLSearchParams), order and duplicates.
 */
export function stripTokenFromSearch(search: string, queryParam: string): string {
  if (!search) return '';
  const kept = search
    .slice(1)
    .split('&')
    .filter((piece) => {
      if (!piece) return false;
      const eq = piece.indexOf('=');
      return decodeComponent(eq < 0 ? piece : piece.slice(0, eq)) !== queryParam;
    });
  return kept.length ? `?${kept.join('&')}` : '';
}

/** A copy of `url` without the token parameter (see stripTokenFromSearch). */
export function stripTokenFromUrl(url: URL, queryParam: string): URL {
  const out = new URL(url.href);
  if (out.search) out.search = stripTokenFromSearch(out.search, queryParam);
  return out;
}

function fromQuery(request: Request, param: string, search: string | undefined): string[] {
  if (search === undefined) {
    try {
      search = new URL(request.url).search;
    } catch {
      return [];
    }
  }
  return queryValues(search, param);
}

function fromHeader(request: Request): string[] {
  const raw = request.headers.get('authorization');
  if (raw === null) return [];
  const value = raw.trim();
  const m = /^bearer(?:[ \t]+(.*))?$/i.exec(value);
  if (!m) return []; // another scheme (Basic, ...) is not a token source
  const rest = (m[1] ?? '').trim();
  // Several Authorization headers arrive joined by ", ": more than one bearer credential.
  const parts = rest.split(/,\s*bearer[ \t]+/i);
  return parts.map((p) => p.trim());
}

function fromProtocol(request: Request): string[] {
  return offeredProtocols(request)
    .filter(isCarrier)
    .map((p) => p.slice(PROTOCOL_PREFIX.length));
}

/**
 * The one token of a handshake, from the sources `auth.tokenFrom` allows.
 * Throws `token_missing` (none) or `token_ambiguous` (more than one, also two in one place).
 * An empty value counts as given; verification then rejects it as malformed. `search` is the
 * request URL's query string when the caller has already parsed it.
 */
export function extractToken(request: Request, auth: TokenLocation, search?: string): ExtractedToken {
  const found: ExtractedToken[] = [];
  for (const source of auth.tokenFrom) {
    const values =
      source === 'query' ? fromQuery(request, auth.queryParam, search) : source === 'header' ? fromHeader(request) : fromProtocol(request);
    for (const token of values) found.push({ token, source });
  }
  if (found.length === 0) throw authError('token_missing');
  if (found.length > 1) throw authError('token_ambiguous');
  return found[0]!;
}
