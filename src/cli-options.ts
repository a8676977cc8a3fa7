/**
 * Every setting a deployment can give the gateway process, in one table: its flag, its
 * environment variable, its default and one line of help. `wsgate start --help`, the Bun and
 * Deno entry points and the README's operator table all come from (or are checked against) this
 * table, so a setting cannot exist in one place and be missing in another.
 * A flag wins over its environment variable, which wins over the default.
 */

export type SettingType = 'string' | 'int' | 'bool' | 'list';

export interface Setting {
  /** The long flag, without dashes. */
  flag: string;
  /** The environment variable read when the flag is absent. */
  env?: string;
  type: SettingType;
  /** Shown in help; `undefined` means "not set". */
  default?: string;
  /** A different default under `wsgate dev`. */
  devDefault?: string;
  help: string;
  /** Value placeholder in help. */
  arg?: string;
}

/** Settings of the gateway process (`wsgate start`, `wsgate dev`, the Bun and Deno entries). */
export const SERVER_SETTINGS: readonly Setting[] = [
  { flag: 'routes', env: 'WSGATE_ROUTES', type: 'string', default: 'routes', arg: 'DIR', help: 'folder of route files (*.ts, *.mts, *.js, *.mjs)' },
  { flag: 'port', env: 'PORT', type: 'int', default: '8787', arg: 'N', help: 'port to listen on (0 picks a free one)' },
  { flag: 'host', env: 'WSGATE_HOST', type: 'string', default: '0.0.0.0', devDefault: '127.0.0.1', arg: 'ADDR', help: 'address to listen on' },
  { flag: 'tls-cert', env: 'TLS_CERT_FILE', type: 'string', arg: 'FILE', help: 'PEM certificate: serve wss:// (with --tls-key)' },
  { flag: 'tls-key', env: 'TLS_KEY_FILE', type: 'string', arg: 'FILE', help: 'PEM private key for --tls-cert' },
  { flag: 'store', env: 'STORE_URL', type: 'string', default: 'memory', arg: 'URL', help: 'presence/broadcast store: memory, redis://…, rediss://…' },
  { flag: 'log-level', env: 'LOG_LEVEL', type: 'string', default: 'info', arg: 'LEVEL', help: 'debug | info | warn | error | silent' },
  { flag: 'max-connections', env: 'WSGATE_MAX_CONNECTIONS', type: 'int', arg: 'N', help: 'open connections cap; past it 503 + Retry-After (default: from the fd limit)' },
  { flag: 'max-url-bytes', env: 'WSGATE_MAX_URL_BYTES', type: 'int', default: '8192', arg: 'N', help: 'longest request target (path + query); past it 414' },
  { flag: 'headers-timeout', env: 'WSGATE_HEADERS_TIMEOUT_MS', type: 'int', default: '5000', arg: 'MS', help: 'a client must send its request headers within this time (Node)' },
  { flag: 'max-header-bytes', env: 'WSGATE_MAX_HEADER_BYTES', type: 'int', default: '16384', arg: 'N', help: 'largest request head; past it 431 (Node)' },
  { flag: 'max-handshakes-per-ip', env: 'WSGATE_MAX_HANDSHAKES_PER_IP', type: 'int', default: '64', arg: 'N', help: 'handshakes in flight per client address; past it 429' },
  { flag: 'trust-proxy', env: 'TRUSTED_PROXIES', type: 'list', arg: 'LIST', help: 'proxies whose forwarding headers are believed: addresses, CIDRs, loopback, private, linklocal, @FILE (one per line); comma-separated' },
  { flag: 'client-ip-header', env: 'CLIENT_IP_HEADER', type: 'string', default: 'x-forwarded-for', arg: 'NAME', help: 'where a trusted proxy puts the client: x-forwarded-for, forwarded, or one-address headers such as cf-connecting-ip, x-real-ip' },
  { flag: 'proxy-protocol', env: 'PROXY_PROTOCOL', type: 'bool', help: 'every connection starts with a PROXY v1/v2 header (AWS NLB, Alibaba CLB TCP); Node only' },
  { flag: 'presence-ttl', env: 'PRESENCE_TTL_SEC', type: 'int', default: '30', arg: 'SEC', help: 'presence lease lifetime; a dead instance\'s users leave within it' },
  { flag: 'admin-audience', env: 'WSGATE_ADMIN_AUDIENCE', type: 'string', arg: 'AUD', help: 'turn the admin API on for JWTs with this aud and scope wsgate:admin (with only WSGATE_ADMIN_SECRET set, admin JWTs need aud wsgate-admin)' },
  { flag: 'admin-port', env: 'WSGATE_ADMIN_PORT', type: 'int', arg: 'N', help: 'serve /_wsgate/* and /metrics on this port only (not on the public one)' },
  { flag: 'admin-host', env: 'WSGATE_ADMIN_HOST', type: 'string', default: '127.0.0.1', arg: 'ADDR', help: 'address of the admin listener' },
  { flag: 'drain-window', env: 'WSGATE_DRAIN_WINDOW_MS', type: 'int', default: '5000', arg: 'MS', help: 'SIGTERM: close open connections spread over this window' },
  { flag: 'drain-deadline', env: 'WSGATE_DRAIN_DEADLINE_MS', type: 'int', default: '10000', arg: 'MS', help: 'SIGTERM: the process exits by this time, whatever is left' },
];

export type SettingValues = Record<string, string | number | boolean | string[] | undefined>;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** `node:util` parseArgs options for a list of settings (all as strings; typed by `resolveSettings`). */
export function parseArgsOptions(settings: readonly Setting[]): Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> {
  const out: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const s of settings) out[s.flag] = s.type === 'bool' ? { type: 'boolean' } : { type: 'string' };
  return out;
}

function typed(s: Setting, raw: string | boolean, from: string): string | number | boolean | string[] {
  switch (s.type) {
    case 'bool':
      if (typeof raw === 'boolean') return raw;
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off|)$/i.test(raw)) return false;
      throw new UsageError(`${from} ${raw}: expected 1/0, true/false`);
    case 'int': {
      const n = Number(raw);
      if (typeof raw !== 'string' || raw.trim() === '' || !Number.isInteger(n) || n < 0) throw new UsageError(`${from} ${String(raw)}: expected a whole number`);
      return n;
    }
    case 'list':
      return String(raw)
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean);
    default:
      return String(raw);
  }
}

/** Flag, else environment variable, else the (dev) default; each typed and validated. */
export function resolveSettings(
  settings: readonly Setting[],
  flags: Record<string, string | boolean | undefined | Array<string | boolean>>,
  env: Record<string, string | undefined>,
  dev = false,
): SettingValues {
  const out: SettingValues = {};
  for (const s of settings) {
    const flag = flags[s.flag];
    if (flag !== undefined && !Array.isArray(flag)) out[s.flag] = typed(s, flag, `--${s.flag}`);
    else if (s.env && env[s.env] !== undefined && env[s.env] !== '') out[s.flag] = typed(s, env[s.env]!, s.env);
    else {
      const d = dev && s.devDefault !== undefined ? s.devDefault : s.default;
      out[s.flag] = d === undefined ? undefined : typed(s, d, `--${s.flag}`);
    }
  }
  return out;
}

/** Help lines for a list of settings: flag, environment variable, default, help. */
export function settingsHelp(settings: readonly Setting[], dev = false): string {
  const rows = settings.map((s) => {
    const d = dev && s.devDefault !== undefined ? s.devDefault : s.default;
    return [`--${s.flag}${s.type === 'bool' ? '' : ` ${s.arg ?? 'VALUE'}`}`, s.env ?? '', `${s.help}${d !== undefined ? ` [${d}]` : ''}`];
  });
  const w0 = Math.max(...rows.map((r) => r[0]!.length));
  const w1 = Math.max(...rows.map((r) => r[1]!.length));
  return rows.map((r) => `  ${r[0]!.padEnd(w0)}  ${r[1]!.padEnd(w1)}  ${r[2]}`).join('\n');
}
