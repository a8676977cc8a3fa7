// Errors carry a stable code and keep what caused them: every start-up failure is a ConfigError
// (`config_invalid`) naming its source, field and expectation; a failed upstream dial has a code;
// an unknown error thrown inside the gateway stays reachable as `cause` of the `internal` error.
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveAuth } from '../../src/auth/index.ts';
import { UpstreamDialError } from '../../src/core/leg.ts';
import { dialWithFailover } from '../../src/core/upstream.ts';
import { ConfigError, ERROR_TABLE, GatewayError, toGatewayError } from '../../src/errors.ts';
import { resolveOptions } from '../../src/options.ts';
import { Router } from '../../src/routing/router.ts';
import { RouteError, resolveRoute } from '../../src/routing/schema.ts';
import { createNodeAdapter } from '../../src/runtime/node/adapter.ts';
import { loadRouteFiles } from '../../src/runtime/route-files.ts';
import { createStore } from '../../src/store/index.ts';

const route = (over: Record<string, unknown> = {}) => ({ path: '/echo', upstream: 'ws://127.0.0.1:9/x', auth: false, ...over });

/** What a caller catching a start-up failure can branch on. */
async function configProblem(fn: () => unknown) {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    return { code: e.code, source: e.source, field: e.field, expected: e.expected, message: e.message, cause: e.cause };
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

describe('toGatewayError', () => {
  it('keeps an unknown error as the cause of `internal`; a GatewayError passes through', () => {
    const original = new TypeError('boom');
    const e = toGatewayError(original);
    expect(e.code).toBe('internal');
    expect(e.cause).toBe(original);
    expect(e.message).toBe(ERROR_TABLE.internal.message); // the client never sees the original text
    const g = new GatewayError('not_found');
    expect(toGatewayError(g)).toBe(g);
  });
});

describe('start-up failures are ConfigErrors (code config_invalid) with source, field and expectation', () => {
  it('a route field', async () => {
    const p = await configProblem(() => resolveRoute(route({ maxMessageBytes: -1 }), 'routes/echo.ts'));
    expect(p).toMatchObject({ code: 'config_invalid', source: 'routes/echo.ts', field: 'maxMessageBytes', expected: expect.stringMatching(/integer/) });
    expect(p.message).toMatch(/^routes\/echo\.ts: maxMessageBytes: expected an integer >= \d+, got -1$/);
    expect(() => resolveRoute(route({ nope: 1 }), 'r.ts')).toThrow(RouteError);
  });

  it('two routes with one path', async () => {
    const a = resolveRoute(route(), 'a.ts');
    const b = resolveRoute(route(), 'b.ts');
    expect(await configProblem(() => new Router([a, b]))).toMatchObject({ code: 'config_invalid', source: 'b.ts', field: 'path' });
  });

  it('an auth setting', async () => {
    const p = await configProblem(() => resolveAuth({ secret: 'short' }, {}, 'routes/chat.ts'));
    expect(p).toMatchObject({ code: 'config_invalid', source: 'routes/chat.ts', field: 'auth.secret', expected: expect.stringMatching(/at least 32/) });
  });

  it('an auth public key that does not parse keeps the parser error as cause', async () => {
    const p = await configProblem(() => resolveAuth({ publicKey: 'not a key' }, {}, 'routes/chat.ts'));
    expect(p).toMatchObject({ code: 'config_invalid', field: 'auth.publicKey' });
    expect(p.cause).toBeInstanceOf(Error);
  });

  it('a gateway option', async () => {
    const p = await configProblem(() => resolveOptions({ routes: [], maxConnections: 0 }));
    expect(p).toMatchObject({ code: 'config_invalid', source: 'options', field: 'maxConnections', expected: 'a positive integer' });
    expect(p.message).toBe('options.maxConnections: expected a positive integer, got 0');
  });

  it('a store URL (the password is never echoed)', async () => {
    const p = await configProblem(() => createStore('postgres://u:secret@db/x'));
    expect(p).toMatchObject({ code: 'config_invalid', source: 'store URL', field: 'url' });
    expect(p.message).not.toContain('secret');
  });

  it('a routes folder that cannot be read keeps the file-system error as cause', async () => {
    const p = await configProblem(() => loadRouteFiles('/nonexistent/wsgate-routes'));
    expect(p).toMatchObject({ code: 'config_invalid', source: '/nonexistent/wsgate-routes', field: '--routes' });
    expect((p.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });
});

describe('upstream dial errors have codes', () => {
  const adapter = createNodeAdapter();
  afterEach(() => adapter.dispose());

  it('UpstreamDialError carries the code its handshake answers with', () => {
    const e = new UpstreamDialError('timeout', 'no answer');
    expect(e).toBeInstanceOf(GatewayError);
    expect([e.code, e.kind, e.status]).toEqual(['upstream_timeout', 'timeout', 504]);
    expect(new UpstreamDialError('rejected', 'HTTP 403', 403).code).toBe('upstream_rejected');
  });

  it('a refused dial becomes upstream_unavailable, with the dial error as cause', async () => {
    // A port that was just free on loopback: nothing listens there.
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const r = resolveRoute(route({ upstream: `ws://127.0.0.1:${port}/x` }), 'r.ts');
    const kinds: string[] = [];
    const err = await dialWithFailover(adapter, r, { urls: [`ws://127.0.0.1:${port}/x`], protocols: [], headers: {} }, undefined, (k) => kinds.push(k)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('upstream_unavailable');
    expect((err as GatewayError).cause).toBeInstanceOf(UpstreamDialError);
    expect(((err as GatewayError).cause as UpstreamDialError).code).toBe('upstream_unavailable');
    expect(kinds).toEqual(['unavailable']);
  });
});
