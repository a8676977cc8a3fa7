/**
 * Path matching (Hono's PatternRouter, so route paths use Hono syntax) and the upstream URL built
 * from a route's template. Params are decoded once, checked, and re-encoded as one path segment:
 * `%2e%2e`, `%2F`, `@`, CR/LF can never change the upstream host or leave the template.
 */
import { PatternRouter } from 'hono/router/pattern-router';
import { ConfigError, GatewayError } from '../errors.ts';
import type { ResolvedRoute } from './schema.ts';

export interface RouteMatch {
  route: ResolvedRoute;
  params: Record<string, string>;
}

export class Router {
  private readonly router = new PatternRouter<ResolvedRoute>();
  readonly routes: readonly ResolvedRoute[];

  constructor(routes: ResolvedRoute[]) {
    const seen = new Map<string, string>();
    for (const r of routes) {
      const prev = seen.get(r.path);
      if (prev)
        throw new ConfigError(
          { source: r.source, field: 'path', expected: `a path no other route defines (${prev} does)`, got: r.path },
          `${r.source}: path: ${r.path} is already defined by ${prev}`,
        );
      seen.set(r.path, r.source);
      this.router.add('GET', r.path, r);
    }
    this.routes = routes;
  }

  match(pathname: string): RouteMatch | undefined {
    const [found] = this.router.match('GET', pathname) as unknown as [Array<[ResolvedRoute, Record<string, string>]>];
    const first = found[0];
    if (!first) return undefined;
    const params: Record<string, string> = {};
    for (const [k, raw] of Object.entries(first[1])) params[k] = decodeParam(raw);
    return { route: first[0], params };
  }
}

function decodeParam(raw: string): string {
  let v: string;
  try {
    v = decodeURIComponent(raw);
  } catch {
    throw new GatewayError('bad_request', 'Malformed percent-encoding in the path');
  }
  // Dot segments would be resolved by the URL parser (also as %2e), escaping the template.
  // eslint-disable-next-line no-control-regex
  if (v === '.' || v === '..' || /[\u0000-\u001f\u007f]/.test(v)) throw new GatewayError('bad_request', 'Path parameter not allowed');
  return v;
}

export type ForwardQuery = 'all' | 'none' | readonly string[];

function paramName(piece: string): string {
  const eq = piece.indexOf('=');
  const raw = (eq < 0 ? piece : piece.slice(0, eq)).replace(/\+/g, ' ');
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/**
 * The part of the client's query string that may reach the upstream: never the token parameter
 * (on any route, public ones too), never a parameter the upstream template fixes (so the client
 * can neither repeat nor override it), and only what the route's `forwardQuery` lets through.
 * Kept pieces keep their exact spelling (no form re-encoding).
 */
export function forwardedQuery(search: string, template: string, forward: ForwardQuery, tokenParam: string): string {
  if (forward === 'none' || !search || search === '?') return '';
  const q = template.indexOf('?');
  const fixed = new Set(q < 0 ? [] : template.slice(q + 1).split('#')[0]!.split('&').filter(Boolean).map(paramName));
  const allow = forward === 'all' ? undefined : new Set(forward);
  return search
    .replace(/^\?/, '')
    .split('&')
    .filter((piece) => {
      if (!piece) return false;
      const name = paramName(piece);
      return name !== tokenParam && !fixed.has(name) && (allow === undefined || allow.has(name));
    })
    .join('&');
}

/**
 * Fill `:param` segments of an upstream template. The result keeps the template's scheme, host,
 * port and query; `query` (already filtered by `forwardedQuery`) is appended.
 */
export function buildUpstreamUrl(template: string, params: Record<string, string>, query: string): string {
  const filled = template.replace(/\/:([A-Za-z_][A-Za-z0-9_]*)/g, (_m, name: string) => `/${encodeURIComponent(params[name] ?? '')}`);
  const url = new URL(filled);
  const tmpl = new URL(template.replace(/\/:[A-Za-z_][A-Za-z0-9_]*/g, '/x'));
  if (url.host !== tmpl.host || url.protocol !== tmpl.protocol) throw new GatewayError('bad_request', 'Path parameter not allowed');
  const extra = query.replace(/^\?/, '');
  if (extra) url.search = url.search ? `${url.search}&${extra}` : `?${extra}`;
  return url.href;
}
