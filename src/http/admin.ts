/**
 * The server-side channel API under `/_wsgate`, behind an admin credential: either the shared
 * secret (`WSGATE_ADMIN_SECRET`) or a JWT, verified with the gateway-wide keys, whose `aud` is
 * the admin audience (`WSGATE_ADMIN_AUDIENCE`, default `wsgate-admin`: a token minted for another
 * service never opens it) and whose `scope` contains `wsgate:admin`. Mounted only when a secret
 * or an admin audience is configured (see gateway.ts).
 *
 *   GET    /_wsgate/channels/:channel/presence   → { channel, users: [{ user, connections }], connections }
 *   POST   /_wsgate/channels/:channel/messages   → { recipients, offset?, delivered } (body: the message, as text;
 *                                                  `delivered` is a deprecated alias of `recipients`);
 *                                                  202 { queued: true, … } while the store is away,
 *                                                  503 store_unavailable once the outbox is full
 *   GET    /_wsgate/users/:user/connections      → { user, connections: [{ id, route, channel }] } (this instance)
 *   DELETE /_wsgate/connections/:id?code=&reason= → { closed }     (on whichever instance holds it; 404 when none reports it)
 *
 * Request bodies are counted while they stream: past `maxBodyBytes` the answer is 413 and
 * nothing more is read or kept.
 */
import type { Context, Hono } from 'hono';
import type { Verifier } from '../auth/index.ts';
import type { Channels } from '../core/channels.ts';
import { isSendableCloseCode } from '../core/close-codes.ts';
import type { Registry } from '../core/registry.ts';
import { GatewayError } from '../errors.ts';

export interface AdminDeps {
  channels: Channels | undefined;
  registry: Registry;
  adminSecret: string | undefined;
  /** Gateway-wide verifier, for admin tokens. */
  verifier: Verifier | undefined;
  maxBodyBytes?: number;
}

/** Constant-time check of `Authorization: Bearer <secret>` (also used for the metrics token). */
export function bearerMatches(header: string | undefined, secret: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  return m !== null && constantTimeEqual(m[1]!.trim(), secret);
}

/** The body as text, read chunk by chunk; 413 as soon as it passes `max` bytes (the rest is never read). */
export async function readBodyLimited(req: Request, max: number): Promise<string> {
  const tooLarge = () => new GatewayError('body_too_large', `Body over ${max} bytes`, { connection: 'close' });
  const declared = req.headers.get('content-length');
  if (declared !== null && Number(declared) > max) throw tooLarge();
  if (!req.body) return '';
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
    if (n > max) {
      void reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  const all = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  return new TextDecoder().decode(all);
}

function constantTimeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i % x.length] ?? 0) ^ (y[i % y.length] ?? 0);
  return diff === 0;
}

async function authorize(c: Context, deps: AdminDeps): Promise<void> {
  const header = c.req.header('authorization') ?? '';
  const m = /^Bearer\s+(.+)$/i.exec(header);
  const fail = new GatewayError('admin_unauthorized', undefined, { 'www-authenticate': 'Bearer realm="wsgate-admin"' });
  if (!m) throw fail;
  const credential = m[1]!.trim();
  if (deps.adminSecret && constantTimeEqual(credential, deps.adminSecret)) return;
  if (deps.verifier && credential.split('.').length === 3) {
    try {
      const { claims } = await deps.verifier.verify(credential);
      const scope = claims.scope;
      const scopes = Array.isArray(scope) ? scope : typeof scope === 'string' ? scope.split(' ') : [];
      if (scopes.includes('wsgate:admin')) return;
    } catch {
      /* fall through to 401 */
    }
  }
  throw fail;
}

export function mountAdminApi(app: Hono, deps: AdminDeps): void {
  const maxBody = deps.maxBodyBytes ?? 1 << 20;
  app.use('/_wsgate/*', async (c, next) => {
    await authorize(c, deps);
    await next();
  });

  const channels = (): Channels => {
    if (!deps.channels) throw new GatewayError('not_found', 'No route has a channel');
    return deps.channels;
  };

  app.get('/_wsgate/channels/:channel/presence', async (c) => {
    const channel = c.req.param('channel');
    const users = await channels().presence(channel).catch(() => {
      throw new GatewayError('store_unavailable');
    });
    return c.json({ channel, users, connections: users.reduce((a, u) => a + u.connections, 0) });
  });

  app.post('/_wsgate/channels/:channel/messages', async (c) => {
    const body = await readBodyLimited(c.req.raw, maxBody);
    const { recipients, offset, queued } = await channels().publishMessage(c.req.param('channel'), body).catch(() => {
      throw new GatewayError('store_unavailable', 'Published locally only: the store is unavailable and the outage outbox is full');
    });
    // `delivered` (the old name: it never counted deliveries) stays one release as an alias.
    if (queued) return c.json({ queued: true, recipients, delivered: recipients }, 202);
    return c.json({ recipients, ...(offset !== undefined ? { offset } : {}), delivered: recipients });
  });

  app.get('/_wsgate/users/:user/connections', (c) => {
    const user = c.req.param('user');
    const connections = [...deps.registry.ofUser(user)].map((s) => ({ id: s.id, route: s.route.name, channel: s.channel ?? null }));
    return c.json({ user, connections });
  });

  app.delete('/_wsgate/connections/:id', async (c) => {
    const code = Number(c.req.query('code') ?? 4903);
    if (!isSendableCloseCode(code)) throw new GatewayError('bad_request', 'code must be a sendable close code');
    const reason = (c.req.query('reason') ?? 'Closed by an administrator').slice(0, 120);
    const id = c.req.param('id');
    const local = deps.registry.get(id);
    if (local) {
      local.close(code, reason, 'admin');
      return c.json({ closed: 'here' });
    }
    const remote = deps.channels
      ? await deps.channels.closeRemote(id, code, reason).catch(() => {
          throw new GatewayError('store_unavailable');
        })
      : false;
    // Only an instance that holds the connection answers; silence means no such connection.
    if (!remote) throw new GatewayError('not_found', 'No such connection');
    return c.json({ closed: 'forwarded' });
  });
}
