/**
 * What the gateway forwards to the upstream, through a real gateway and a real `ws` upstream on
 * loopback: the client's query (template-fixed parameters win, the token never passes, the
 * route's `forwardQuery` filters) and claim headers (one encoding for any Unicode, a 400 with
 * its own code for what cannot be sent — never a 502).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RouteConfig } from '../../src/index.ts';
import { connectClient, countDials, expectRefused, startGateway, startUpstream, stopAll } from '../helpers/gateway.ts';
import { claims, hs } from '../helpers/tokens.ts';

afterEach(stopAll);

async function setup(route: Partial<RouteConfig>, upstreamPath = '') {
  const up = await startUpstream();
  const dials = countDials(up);
  const gw = await startGateway([{ path: '/rooms/:room', upstream: `${up.url}${upstreamPath}`, ...route } as RouteConfig]);
  return { up, dials, gw };
}

/** Query string of the upstream request as the upstream saw it, as [name, value] pairs. */
const pairs = (url: string) => [...new URL(url, 'ws://x').searchParams.entries()];

describe('query forwarding', () => {
  it('a parameter fixed by the upstream template is neither repeated nor overridden by the client', async () => {
    const { up, gw } = await setup({}, '/rooms/:room?role=viewer');
    const token = await hs();
    await connectClient(`${gw.url('/rooms/x', token)}&role=admin&ROLE=x&r%6fle=admin2&role&extra=1`);
    const seen = await up.nextConnection();
    expect(pairs(seen.url).filter(([k]) => k === 'role')).toEqual([['role', 'viewer']]);
    expect(pairs(seen.url)).toContainEqual(['extra', '1']);
    expect(seen.url.startsWith('/rooms/x?role=viewer')).toBe(true);
    expect(seen.url).not.toContain('token');
  });

  it("forwardQuery: 'none' sends only the template's own query", async () => {
    const { up, gw } = await setup({ forwardQuery: 'none' }, '/rooms/:room?v=2');
    await connectClient(`${gw.url('/rooms/x', await hs())}&a=1&b=2`);
    expect((await up.nextConnection()).url).toBe('/rooms/x?v=2');
  });

  it('forwardQuery as an allowlist passes only the listed names, in their exact spelling', async () => {
    const { up, gw } = await setup({ forwardQuery: ['lang', 'since'] });
    await connectClient(`${gw.url('/rooms/x', await hs())}&lang=pt%2DBR&debug=1&since=42&admin=true`);
    expect((await up.nextConnection()).url).toBe('/?lang=pt%2DBR&since=42');
  });

  it("the default forwards every other client parameter ('all')", async () => {
    const { up, gw } = await setup({});
    await connectClient(`${gw.url('/rooms/x', await hs())}&a=1&b=two%20words`);
    expect((await up.nextConnection()).url).toBe('/?a=1&b=two%20words');
  });

  it('the token parameter is stripped on a public route too', async () => {
    const { up, gw } = await setup({ auth: false });
    const token = await hs();
    await connectClient(`${gw.url('/rooms/x')}?token=${token}&keep=1&tok%65n=${token}`);
    const seen = await up.nextConnection();
    expect(seen.url).toBe('/?keep=1');
    expect(seen.url).not.toContain(token.slice(0, 20));
  });

  it('a route file with a bad forwardQuery is refused at start-up, naming the field', async () => {
    await expect(startGateway([{ path: '/x', upstream: 'ws://127.0.0.1:1', forwardQuery: 'some' } as unknown as RouteConfig])).rejects.toThrow(/forwardQuery/);
  });
});

describe('claim headers', () => {
  it.each([
    ['Chinese', '用户'],
    ['Latin with a euro sign', 'José€'],
    ['emoji', 'a😀b'],
    ['a percent sign and spaces', '50% off now'],
    ['CR/LF and NUL', 'a\r\nX-Evil: 1\0'],
  ])('a %s claim reaches the upstream percent-encoded as UTF-8 (decodeURIComponent gives it back)', async (_n, sub) => {
    const { up, gw } = await setup({ claimHeaders: { sub: 'X-User-Id', name: 'X-User-Name' } });
    const c = await connectClient(gw.url('/rooms/x', await hs(claims({ sub, name: { first: sub } }))));
    const seen = await up.nextConnection();
    const header = seen.headers['x-user-id'] as string;
    expect(header).toMatch(/^[\x21-\x7e]+$/);
    expect(decodeURIComponent(header)).toBe(sub);
    expect(JSON.parse(decodeURIComponent(seen.headers['x-user-name'] as string))).toEqual({ first: sub });
    expect(seen.headers['x-evil']).toBeUndefined();
    c.ws.send('hi');
    expect((await c.next()).text).toBe('hi');
  });

  it('a plain ASCII id passes unchanged', async () => {
    const { up, gw } = await setup({});
    await connectClient(gw.url('/rooms/x', await hs(claims({ sub: 'user-42_A.b~c' }))));
    expect((await up.nextConnection()).headers['x-user-id']).toBe('user-42_A.b~c');
  });

  it('a claim that cannot be sent (lone surrogate, or too long) → 400 claim_unsendable before any dial, never 502', async () => {
    const { gw, dials } = await setup({ claimHeaders: { sub: 'X-User-Id', bio: 'X-Bio' } });
    const lone = await expectRefused(gw.url('/rooms/x', await hs(claims({ sub: 'a\ud800b' }))));
    expect(lone.status).toBe(400);
    expect(lone.body.error).toBe('claim_unsendable');
    const long = await expectRefused(gw.url('/rooms/x', await hs(claims({ bio: 'é'.repeat(3000) }))));
    expect(long.status).toBe(400);
    expect(long.body.error).toBe('claim_unsendable');
    expect(dials()).toBe(0);
  });
});
