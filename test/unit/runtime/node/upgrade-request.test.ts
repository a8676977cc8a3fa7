/**
 * The Node upgrade path's lightweight request: it must read like the WHATWG Request it replaces
 * (same URL, method, header semantics), and build the real one for anything else.
 */
import { describe, expect, it } from 'vitest';
import type { IncomingMessage } from 'node:http';
import { RawHeaders, upgradeRequest } from '../../../../src/runtime/node/upgrade-request.ts';

const RAW = [
  'Host',
  '127.0.0.1:8080',
  'Connection',
  'Upgrade',
  'Upgrade',
  'websocket',
  'Sec-WebSocket-Protocol',
  'chat',
  'sec-websocket-protocol',
  ' bearer.abc ',
  'X-Forwarded-For',
  '10.0.0.1',
  'X-FORWARDED-FOR',
  '10.0.0.2',
  'Set-Cookie',
  'a=1',
  'set-cookie',
  'b=2',
  'Authorization',
  'Bearer x',
];
const incoming = (url: string, rawHeaders = RAW) => ({ url, method: 'GET', rawHeaders }) as unknown as IncomingMessage;

describe('upgrade request (Node)', () => {
  it('headers read exactly as a WHATWG Headers built from the same raw fields', () => {
    const real = new Headers();
    for (let i = 0; i < RAW.length; i += 2) real.append(RAW[i]!, RAW[i + 1]!);
    const light = new RawHeaders(RAW) as unknown as Headers;
    for (const name of ['host', 'HOST', 'sec-websocket-protocol', 'x-forwarded-for', 'authorization', 'set-cookie', 'missing'])
      expect(light.get(name), name).toBe(real.get(name));
    expect(light.has('Upgrade')).toBe(true);
    expect(light.has('origin')).toBe(false);
    expect([...light]).toEqual([...real]);
    expect(light.getSetCookie()).toEqual(real.getSetCookie());
    const seen: string[] = [];
    light.forEach((v, k) => seen.push(`${k}=${v}`));
    expect(seen).toEqual([...real].map(([k, v]) => `${k}=${v}`));
    expect(Object.fromEntries(new Headers(light))).toEqual(Object.fromEntries(real));
    expect(light).toBeInstanceOf(Headers);
    expect(() => light.set('x', 'y')).toThrow(TypeError);
    expect(() => light.append('x', 'y')).toThrow(TypeError);
    expect(() => light.delete('host')).toThrow(TypeError);
  });

  it('url is origin-form on gateway.local; anything else builds the real Request', async () => {
    const r = upgradeRequest(incoming('/room/a?token=t'), false);
    expect(r).toBeInstanceOf(Request);
    expect(r.url).toBe('http://gateway.local/room/a?token=t');
    expect(r.method).toBe('GET');
    expect(new URL(r.url).searchParams.get('token')).toBe('t');
    expect(upgradeRequest(incoming('//evil.example/x'), true).url).toBe('https://gateway.local/evil.example/x'); // a path, never a host
    expect(upgradeRequest(incoming('http://evil.example/x'), false).url).toBe('http://gateway.local/');
    // Delegated members: a signal, a body (none for GET), clone() keeps the headers.
    expect(r.signal).toBeInstanceOf(AbortSignal);
    expect(r.body).toBeNull();
    expect(r.bodyUsed).toBe(false);
    const c = r.clone();
    expect(c.headers.get('x-forwarded-for')).toBe('10.0.0.1, 10.0.0.2');
    expect(await c.text()).toBe('');
  });
});
