// Token extraction: no token, a token in two places (refused), the subprotocol carrier never echoed, the URL stripped.
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors.ts';
import { extractToken, stripTokenFromSearch, stripTokenFromUrl, upstreamProtocols } from '../../../src/auth/index.ts';
import type { TokenLocation } from '../../../src/auth/index.ts';

const ALL: TokenLocation = { tokenFrom: ['query', 'header', 'protocol'], queryParam: 'token' };
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.sig-_AZ09';

function req(path: string, headers: Record<string, string> = {}): Request {
  return new Request(`http://gw.test${path}`, { headers });
}

function codeOf(fn: () => unknown): { code: string; status: number; headers: Record<string, string> } {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(GatewayError);
    const g = e as GatewayError;
    return { code: g.code, status: g.status, headers: g.headers };
  }
  throw new Error('expected a GatewayError');
}

describe('extractToken', () => {
  it('reads ?token=', () => {
    expect(extractToken(req(`/chat?a=1&token=${JWT}`), ALL)).toEqual({ token: JWT, source: 'query' });
  });
  it('reads Authorization: Bearer (scheme case-insensitive)', () => {
    expect(extractToken(req('/chat', { authorization: `bearer  ${JWT}` }), ALL)).toEqual({ token: JWT, source: 'header' });
  });
  it('reads a bearer.<JWT> subprotocol among others', () => {
    const r = req('/chat', { 'sec-websocket-protocol': `chat.v1, bearer.${JWT},json` });
    expect(extractToken(r, ALL)).toEqual({ token: JWT, source: 'protocol' });
  });
  it('honours a custom query parameter name', () => {
    expect(extractToken(req(`/c?access_token=${JWT}&token=x`), { tokenFrom: ['query'], queryParam: 'access_token' }).token).toBe(JWT);
  });

  it('no token anywhere → token_missing 401 with a bare Bearer challenge', () => {
    const e = codeOf(() => extractToken(req('/chat?other=1', { authorization: 'Basic dXNlcjpwYXNz' }), ALL));
    expect(e).toMatchObject({ code: 'token_missing', status: 401 });
    expect(e.headers['WWW-Authenticate']).toBe('Bearer realm="wsgate"');
  });

  it('only sources in tokenFrom count', () => {
    const onlyHeader: TokenLocation = { tokenFrom: ['header'], queryParam: 'token' };
    expect(codeOf(() => extractToken(req(`/c?token=${JWT}`), onlyHeader)).code).toBe('token_missing');
    // a query token is ignored (not ambiguous) when only the header is allowed
    expect(extractToken(req(`/c?token=other`, { authorization: `Bearer ${JWT}` }), onlyHeader).token).toBe(JWT);
    const onlyProto: TokenLocation = { tokenFrom: ['protocol'], queryParam: 'token' };
    expect(codeOf(() => extractToken(req('/c', { authorization: `Bearer ${JWT}` }), onlyProto)).code).toBe('token_missing');
  });

  it.each([
    ['query + header', `/c?token=${JWT}`, { authorization: `Bearer ${JWT}` }],
    ['header + protocol', '/c', { authorization: `Bearer ${JWT}`, 'sec-websocket-protocol': `bearer.${JWT}` }],
    ['query + protocol', `/c?token=${JWT}`, { 'sec-websocket-protocol': `bearer.${JWT}` }],
    ['two query params', `/c?token=${JWT}&token=${JWT}`, {}],
    ['two protocol carriers', '/c', { 'sec-websocket-protocol': `bearer.${JWT}, bearer.${JWT}` }],
    ['two Authorization headers', '/c', { authorization: `Bearer ${JWT}, Bearer ${JWT}` }],
  ])('token in two places (%s) → token_ambiguous 400', (_name, path, headers) => {
    const e = codeOf(() => extractToken(req(path, headers), ALL));
    expect(e).toMatchObject({ code: 'token_ambiguous', status: 400 });
    expect(e.headers['WWW-Authenticate']).toContain('error="invalid_request"');
  });

  it('an empty token still counts as given (verification rejects it later)', () => {
    expect(extractToken(req('/c?token='), ALL)).toEqual({ token: '', source: 'query' });
    expect(codeOf(() => extractToken(req('/c?token=', { authorization: `Bearer ${JWT}` }), ALL)).code).toBe('token_ambiguous');
  });
});

describe('upstreamProtocols', () => {
  it('drops every bearer. carrier and keeps the rest in order', () => {
    const r = req('/c', { 'sec-websocket-protocol': `chat.v2,bearer.${JWT} , json, Bearer.${JWT}` });
    const protos = upstreamProtocols(r);
    expect(protos).toEqual(['chat.v2', 'json']);
    expect(protos.join(',')).not.toContain(JWT);
  });
  it('no header → empty list', () => {
    expect(upstreamProtocols(req('/c'))).toEqual([]);
  });
});

describe('stripTokenFromUrl', () => {
  it('removes the token and keeps other params byte for byte', () => {
    const u = new URL(`http://gw.test/c?a=%20x&token=${JWT}&b=1+2&a=2&t%6Fken=also`);
    const out = stripTokenFromUrl(u, 'token');
    expect(out.search).toBe('?a=%20x&b=1+2&a=2');
    expect(out.href).not.toContain(JWT);
    expect(u.href).toContain(JWT); // input untouched
  });
  it('leaves no dangling ? when the token was the only param', () => {
    expect(stripTokenFromUrl(new URL(`http://gw.test/c?token=${JWT}`), 'token').href).toBe('http://gw.test/c');
  });
  it('custom parameter name', () => {
    expect(stripTokenFromUrl(new URL('http://gw.test/c?jwt=1&token=2'), 'jwt').search).toBe('?token=2');
  });
  it('stripTokenFromSearch gives the same query string as stripTokenFromUrl', () => {
    for (const q of ['', '?', `?token=${JWT}`, `?a=%20x&token=${JWT}&b=1+2&a=2&t%6Fken=also`, '?jwt=1&token=2', '?&&a=1&&', '?token', `?a=%E2%82%AC&token=${JWT}`]) {
      const u = new URL(`http://gw.test/c${q}`);
      expect(stripTokenFromSearch(u.search, 'token'), q).toBe(stripTokenFromUrl(u, 'token').search);
    }
  });
});

describe('extractToken with an already-parsed query string', () => {
  it('reads the token from the given search, same answers as from the request URL', () => {
    const r = req(`/chat?a=1&token=${JWT}`);
    expect(extractToken(r, ALL, new URL(r.url).search)).toEqual(extractToken(r, ALL));
    expect(codeOf(() => extractToken(req(`/c?token=a&token=b`), ALL, '?token=a&token=b')).code).toBe('token_ambiguous');
  });
});
