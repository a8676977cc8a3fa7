/**
 * Validates a route object once, at start-up, and applies defaults. Errors name the file, the
 * field path and what was expected, so a bad route file stops `wsgate start` with a clear line.
 */
import { ConfigError } from '../errors.ts';
import type { HeartbeatConfig, HeartbeatPreset, RouteConfig } from './define-route.ts';

export interface ResolvedHeartbeat {
  intervalMs: number;
  timeoutMs: number;
  keepaliveMessage?: string;
}

/**
 * Presets: ping well inside the balancer's idle limit (at most ~40% of it), so that one lost
 * ping still leaves a second one before the limit. AWS ALB 60 s, Alibaba CLB 15 s, Alibaba ALB
 * up to 60 s, nginx proxy_read_timeout 60 s.
 */
export const HEARTBEAT_PRESETS: Record<Exclude<HeartbeatPreset, 'off'>, ResolvedHeartbeat> = {
  default: { intervalMs: 25_000, timeoutMs: 10_000 },
  'aws-alb': { intervalMs: 25_000, timeoutMs: 10_000 },
  nginx: { intervalMs: 25_000, timeoutMs: 10_000 },
  'alibaba-alb': { intervalMs: 25_000, timeoutMs: 10_000 },
  'alibaba-clb': { intervalMs: 5_000, timeoutMs: 5_000 },
};

export interface ResolvedRoute {
  /** Where the route came from (file path or 'routes[i]'), for errors and logs. */
  source: string;
  /** Name for logs and metric labels: the path pattern. */
  name: string;
  path: string;
  upstreams: string[];
  balance: 'round-robin' | 'sticky';
  connectTimeoutMs: number;
  origins?: string[];
  allowMissingOrigin: boolean;
  heartbeat: ResolvedHeartbeat | false;
  maxMessageBytes: number;
  maxBufferedBytes: number;
  /** 0 = off. */
  sendTimeoutMs: number;
  maxConnectionAgeMs?: number;
  claimHeaders: Record<string, string>;
  forwardToken: boolean;
  /** Which client query parameters reach the upstream (never the token, never ones the template fixes). */
  forwardQuery: 'all' | 'none' | string[];
  channel?: string;
  presence: boolean;
  presenceEvents: boolean;
  echo: boolean;
  history?: { size: number; ttlSec: number };
  maxMessagesPerSec?: number;
  maxConnectionsPerUser?: number;
  /** The raw auth field, resolved against the environment by auth/. */
  auth: RouteConfig['auth'];
}

/** A route file or route object that is not valid (a ConfigError, code `config_invalid`). */
export class RouteError extends ConfigError {
  constructor(source: string, field: string, expected: string, got?: unknown) {
    super({ source, field, expected, got });
    this.name = 'RouteError';
  }
}

const KNOWN = new Set([
  'path', 'upstream', 'balance', 'connectTimeoutMs', 'auth', 'origins', 'allowMissingOrigin', 'heartbeat',
  'maxMessageBytes', 'maxBufferedBytes', 'sendTimeoutMs', 'maxConnectionAgeMs', 'claimHeaders', 'forwardToken', 'forwardQuery', 'channel',
  'presence', 'presenceEvents', 'echo', 'history', 'maxMessagesPerSec', 'maxConnectionsPerUser',
]);

function posInt(src: string, field: string, v: unknown, fallback: number | undefined, min = 1): number | undefined {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || Math.floor(v) !== v)
    throw new RouteError(src, field, `an integer >= ${min}`, v);
  return v;
}

function resolveHistory(src: string, h: unknown, channel: string | undefined): ResolvedRoute['history'] {
  if (h === undefined) return undefined;
  if (channel === undefined) throw new RouteError(src, 'history', 'a route with a channel');
  if (typeof h !== 'object' || h === null) throw new RouteError(src, 'history', '{ size, ttlSec }', h);
  const o = h as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'size' && k !== 'ttlSec') throw new RouteError(src, `history.${k}`, 'size or ttlSec');
  const size = posInt(src, 'history.size', o.size, undefined)!;
  const ttlSec = posInt(src, 'history.ttlSec', o.ttlSec, undefined)!;
  if (size === undefined || ttlSec === undefined) throw new RouteError(src, 'history', '{ size, ttlSec } (both)', h);
  if (size > 100_000) throw new RouteError(src, 'history.size', 'an integer <= 100000', size);
  return { size, ttlSec };
}

function resolveHeartbeat(src: string, hb: unknown): ResolvedHeartbeat | false {
  if (hb === undefined) return HEARTBEAT_PRESETS.default;
  if (hb === 'off' || hb === false) return false;
  if (typeof hb === 'string') {
    const preset = HEARTBEAT_PRESETS[hb as keyof typeof HEARTBEAT_PRESETS];
    if (!preset) throw new RouteError(src, 'heartbeat', `one of ${Object.keys(HEARTBEAT_PRESETS).join(', ')}, off`, hb);
    return preset;
  }
  if (typeof hb !== 'object' || hb === null) throw new RouteError(src, 'heartbeat', 'a preset name or an object', hb);
  const h = hb as HeartbeatConfig;
  const keepalive = h.keepaliveMessage;
  if (keepalive !== undefined && typeof keepalive !== 'string')
    throw new RouteError(src, 'heartbeat.keepaliveMessage', 'a string', keepalive);
  return {
    intervalMs: posInt(src, 'heartbeat.intervalMs', h.intervalMs, 25_000, 50)!,
    timeoutMs: posInt(src, 'heartbeat.timeoutMs', h.timeoutMs, 10_000, 50)!,
    ...(keepalive !== undefined ? { keepaliveMessage: keepalive } : {}),
  };
}

function resolveUpstreams(src: string, up: unknown, params: string[]): string[] {
  if (up === undefined) return [];
  const list = Array.isArray(up) ? up : [up];
  if (list.length === 0) throw new RouteError(src, 'upstream', 'a ws:// or wss:// URL or a non-empty list', up);
  return list.map((u, i) => {
    const field = Array.isArray(up) ? `upstream[${i}]` : 'upstream';
    if (typeof u !== 'string') throw new RouteError(src, field, 'a ws:// or wss:// URL template', u);
    let parsed: URL;
    try {
      parsed = new URL(u.replace(/\/:[A-Za-z_][A-Za-z0-9_]*/g, "/x"));
    } catch {
      throw new RouteError(src, field, 'a valid ws:// or wss:// URL template', u);
    }
    if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') throw new RouteError(src, field, 'a ws:// or wss:// URL', u);
    for (const m of u.slice(u.indexOf('//') + 2).matchAll(/\/:([A-Za-z_][A-Za-z0-9_]*)/g)) {
      if (!params.includes(m[1]!)) throw new RouteError(src, field, `params from the path (${params.join(', ') || 'none'})`, `:${m[1]}`);
    }
    return u;
  });
}

export function pathParams(path: string): string[] {
  return [...path.matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!);
}

export function resolveRoute(input: unknown, source: string): ResolvedRoute {
  if (typeof input !== 'object' || input === null) throw new RouteError(source, 'default export', 'a route object', input);
  const r = input as Record<string, unknown>;
  for (const k of Object.keys(r)) if (!KNOWN.has(k)) throw new RouteError(source, k, `a known field (${[...KNOWN].join(', ')})`);
  if (typeof r.path !== 'string' || !r.path.startsWith('/')) throw new RouteError(source, 'path', 'a string starting with /', r.path);
  if (r.path.startsWith('/_wsgate')) throw new RouteError(source, 'path', 'a path outside /_wsgate (reserved)', r.path);
  const params = pathParams(r.path);
  const upstreams = resolveUpstreams(source, r.upstream, params);
  if (upstreams.length === 0 && typeof r.channel !== 'string')
    throw new RouteError(source, 'upstream', 'an upstream URL (or a channel, for a hub route)');
  if (r.balance !== undefined && r.balance !== 'round-robin' && r.balance !== 'sticky')
    throw new RouteError(source, 'balance', "'round-robin' or 'sticky'", r.balance);
  if (r.auth !== undefined && r.auth !== false && (typeof r.auth !== 'object' || r.auth === null))
    throw new RouteError(source, 'auth', 'false or an object', r.auth);
  if (r.origins !== undefined && (!Array.isArray(r.origins) || r.origins.some((o) => typeof o !== 'string')))
    throw new RouteError(source, 'origins', 'a list of origins like https://app.example.com', r.origins);
  if (r.claimHeaders !== undefined) {
    if (typeof r.claimHeaders !== 'object' || r.claimHeaders === null) throw new RouteError(source, 'claimHeaders', 'an object claim -> header name', r.claimHeaders);
    for (const [claim, header] of Object.entries(r.claimHeaders))
      if (typeof header !== 'string' || !/^[A-Za-z0-9-]+$/.test(header)) throw new RouteError(source, `claimHeaders.${claim}`, 'a header name', header);
  }
  const fq = r.forwardQuery;
  if (fq !== undefined && fq !== 'all' && fq !== 'none' && (!Array.isArray(fq) || fq.some((n) => typeof n !== 'string' || n === '')))
    throw new RouteError(source, 'forwardQuery', "'all', 'none' or a list of parameter names", fq);
  if (r.channel !== undefined && (typeof r.channel !== 'string' || r.channel.length === 0))
    throw new RouteError(source, 'channel', 'a channel template like room:{room}', r.channel);
  for (const b of ['allowMissingOrigin', 'forwardToken', 'presence', 'presenceEvents', 'echo'] as const)
    if (r[b] !== undefined && typeof r[b] !== 'boolean') throw new RouteError(source, b, 'true or false', r[b]);
  const maxMessageBytes = posInt(source, 'maxMessageBytes', r.maxMessageBytes, 1 << 20)!;
  const channel = r.channel as string | undefined;
  const history = resolveHistory(source, r.history, channel);
  return {
    source,
    name: r.path,
    path: r.path,
    upstreams,
    balance: (r.balance as ResolvedRoute['balance']) ?? 'round-robin',
    connectTimeoutMs: posInt(source, 'connectTimeoutMs', r.connectTimeoutMs, 5_000)!,
    ...(r.origins ? { origins: r.origins as string[] } : {}),
    allowMissingOrigin: (r.allowMissingOrigin as boolean | undefined) ?? true,
    heartbeat: resolveHeartbeat(source, r.heartbeat),
    maxMessageBytes,
    maxBufferedBytes: posInt(source, 'maxBufferedBytes', r.maxBufferedBytes, Math.max(8 << 20, 4 * maxMessageBytes))!,
    sendTimeoutMs: r.sendTimeoutMs === false ? 0 : posInt(source, 'sendTimeoutMs', r.sendTimeoutMs, 60_000)!,
    ...(r.maxConnectionAgeMs !== undefined ? { maxConnectionAgeMs: posInt(source, 'maxConnectionAgeMs', r.maxConnectionAgeMs, undefined)! } : {}),
    claimHeaders: (r.claimHeaders as Record<string, string> | undefined) ?? { sub: 'X-User-Id' },
    forwardToken: (r.forwardToken as boolean | undefined) ?? false,
    forwardQuery: fq === undefined ? 'all' : Array.isArray(fq) ? [...(fq as string[])] : (fq as 'all' | 'none'),
    ...(channel ? { channel } : {}),
    presence: (r.presence as boolean | undefined) ?? channel !== undefined,
    presenceEvents: (r.presenceEvents as boolean | undefined) ?? upstreams.length === 0,
    echo: (r.echo as boolean | undefined) ?? false,
    ...(history ? { history } : {}),
    ...(r.maxMessagesPerSec !== undefined ? { maxMessagesPerSec: posInt(source, 'maxMessagesPerSec', r.maxMessagesPerSec, undefined)! } : {}),
    ...(r.maxConnectionsPerUser !== undefined ? { maxConnectionsPerUser: posInt(source, 'maxConnectionsPerUser', r.maxConnectionsPerUser, undefined)! } : {}),
    auth: r.auth as RouteConfig['auth'],
  };
}
