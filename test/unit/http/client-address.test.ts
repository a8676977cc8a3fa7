/**
 * Address parsing, CIDR matching and the forwarding-chain walk (pure functions; the socket-level
 * behaviour is proven in test/gateway/trusted-proxies.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { parseForwarded, resolveClient, TrustedProxies } from '../../../src/http/client-address.ts';
import { normalizeHop, normalizeIp, parseCidr } from '../../../src/http/ip.ts';

const cfg = (list: string[], header = 'x-forwarded-for') => ({ trusted: new TrustedProxies(list), header });
const h = (o: Record<string, string>) => new Headers({ host: 'gw.example:8787', ...o });

describe('addresses', () => {
  it('normalises IPv4, IPv6 (RFC 5952) and IPv4-mapped IPv6 to one form', () => {
    expect(normalizeIp('127.0.0.1')).toBe('127.0.0.1');
    expect(normalizeIp('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(normalizeIp('::FFFF:7f00:1')).toBe('127.0.0.1');
    expect(normalizeIp('2001:DB8:0:0:0:0:0:1')).toBe('2001:db8::1');
    expect(normalizeIp('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(normalizeIp('fe80::1%eth0')).toBe('fe80::1');
    expect(normalizeIp('::')).toBe('::');
    for (const bad of ['', '1.2.3', '1.2.3.256', '01.2.3.4', '1::2::3', 'gggg::1', 'unknown', '1.2.3.4.5', ':::'])
      expect(normalizeIp(bad), bad).toBeUndefined();
  });

  it('reads forwarded hops with ports and brackets', () => {
    expect(normalizeHop(' 203.0.113.7:4711 ')).toBe('203.0.113.7');
    expect(normalizeHop('[2001:db8::7]:443')).toBe('2001:db8::7');
    expect(normalizeHop('[2001:db8::7]')).toBe('2001:db8::7');
    expect(normalizeHop('_hidden')).toBeUndefined();
  });

  it('matches CIDR ranges in both families; an IPv4-mapped peer matches an IPv4 range', () => {
    const t = new TrustedProxies(['10.0.0.0/8', '2001:db8::/32', '192.0.2.5', '::ffff:198.51.100.0/120']);
    expect(t.has('10.255.1.2')).toBe(true);
    expect(t.has('::ffff:10.1.2.3')).toBe(true);
    expect(t.has('11.0.0.1')).toBe(false);
    expect(t.has('2001:db8:ffff::1')).toBe(true);
    expect(t.has('2001:db9::1')).toBe(false);
    expect(t.has('192.0.2.5')).toBe(true);
    expect(t.has('192.0.2.6')).toBe(false);
    expect(t.has('198.51.100.77')).toBe(true);
    expect(new TrustedProxies(['172.16.0.0/12']).has('172.31.255.255')).toBe(true);
    expect(new TrustedProxies(['172.16.0.0/12']).has('172.32.0.0')).toBe(false);
  });

  it('expands the loopback, private and linklocal presets', () => {
    const t = new TrustedProxies(['loopback', 'private']);
    for (const a of ['127.0.0.1', '127.9.9.9', '::1', '::ffff:127.0.0.1', '10.1.1.1', '172.20.0.1', '192.168.1.1', '100.100.1.1', 'fd00::1'])
      expect(t.has(a), a).toBe(true);
    for (const a of ['8.8.8.8', '2001:db8::1', '169.254.1.1']) expect(t.has(a), a).toBe(false);
    expect(new TrustedProxies(['linklocal']).has('169.254.1.1')).toBe(true);
  });

  it('refuses an entry that is neither an address, a range nor a preset, naming it', () => {
    expect(() => new TrustedProxies(['10.0.0.0/33'])).toThrow(/10\.0\.0\.0\/33/);
    expect(() => new TrustedProxies(['lopback'])).toThrow(/"lopback".*loopback, private/);
    expect(() => parseCidr('1.2.3.4/8/9')).toThrow();
  });
});

describe('the client behind trusted proxies', () => {
  it('an untrusted peer: its own address, forwarded headers ignored, the gateway\'s own scheme/host/port', () => {
    const c = resolveClient('198.51.100.9', h({ 'x-forwarded-for': '1.1.1.1', 'x-forwarded-proto': 'https', 'x-forwarded-port': '443' }), cfg(['10.0.0.0/8']), 'http');
    expect(c).toEqual({ ip: '198.51.100.9', viaProxy: false, forwarded: { for: '198.51.100.9', proto: 'http', host: 'gw.example:8787', port: '8787' } });
  });

  it('X-Forwarded-For: the right-most untrusted hop; the client\'s own entries left of it are dropped', () => {
    const c = resolveClient('::ffff:10.0.0.2', h({ 'x-forwarded-for': '6.6.6.6, 203.0.113.7, 10.0.0.1', 'x-forwarded-proto': 'https', 'x-forwarded-port': '443', 'x-forwarded-host': 'app.example' }), cfg(['10.0.0.0/8']), 'http');
    expect(c.ip).toBe('203.0.113.7');
    expect(c.forwarded).toEqual({ for: '203.0.113.7, 10.0.0.1, 10.0.0.2', proto: 'https', host: 'app.example', port: '443' });
  });

  it('X-Forwarded-For: a non-address hop ends the walk at the last real address', () => {
    expect(resolveClient('10.0.0.2', h({ 'x-forwarded-for': '203.0.113.7, unknown' }), cfg(['10.0.0.0/8']), 'http').ip).toBe('10.0.0.2');
  });

  it('Forwarded (RFC 7239): quoted IPv6 with port, the client element gives proto and host', () => {
    const fwd = 'for=6.6.6.6, for="[2001:db8::7]:4711";proto=https;host="app.example", for=10.0.0.1;proto=http';
    const c = resolveClient('10.0.0.2', h({ forwarded: fwd }), cfg(['private'], 'forwarded'), 'http');
    expect(c.ip).toBe('2001:db8::7');
    expect(c.forwarded).toMatchObject({ for: '2001:db8::7, 10.0.0.1, 10.0.0.2', proto: 'https', host: 'app.example', port: '443' });
    expect(parseForwarded('for=a;by=b, for="x,y"')).toEqual([{ for: 'a', by: 'b' }, { for: 'x,y' }]);
    expect(parseForwarded('for=a, =broken')).toEqual([]);
  });

  it('a one-address header (CF-Connecting-IP) from a trusted peer', () => {
    const c = resolveClient('127.0.0.1', h({ 'cf-connecting-ip': '2001:db8::9', 'x-forwarded-for': '9.9.9.9' }), cfg(['loopback'], 'cf-connecting-ip'), 'http');
    expect(c.ip).toBe('2001:db8::9');
    expect(c.forwarded.for).toBe('2001:db8::9, 127.0.0.1');
    expect(resolveClient('127.0.0.1', h({ 'cf-connecting-ip': 'junk' }), cfg(['loopback'], 'cf-connecting-ip'), 'http').ip).toBe('127.0.0.1');
  });
});
