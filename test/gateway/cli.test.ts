/**
 * The `wsgate` command as a user runs it (issue item 8 and "Done when"): real child processes,
 * each bounded by timeouts and SIGKILLed in afterEach. Route folders are temp folders outside
 * the repo, holding `.ts` files written as plain objects (no imports).
 */
import { jwtVerify } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { connectClient, expectRefused, freePort, startUpstream, stopAll, until, type UpstreamConnection } from '../helpers/gateway.ts';
import { claims, hs, TEST_SECRET, TEST_SECRET_BYTES } from '../helpers/tokens.ts';
import { childEnv, ROOT, run, runToEnd, startProcess, tmpRoutes } from '../helpers/cli.ts';

afterEach(stopAll);

describe('wsgate routes', () => {
  it('validates and prints the route table', async () => {
    const dir = tmpRoutes({
      'chat.ts': `export default { path: '/chat/:room', upstream: 'ws://127.0.0.1:9000/rooms/:room', heartbeat: 'alibaba-clb' } as const;\n`,
      'pub.mjs': `export default { path: '/public', upstream: 'wss://svc.example.com/ws', auth: false, heartbeat: 'off' };\n`,
      '_helper.ts': `throw new Error('files starting with _ are not routes');\n`,
    });
    const r = await runToEnd(['routes', '--routes', dir]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^PATH\s+UPSTREAM\s+AUTH\s+HEARTBEAT\s+CHANNEL$/);
    expect(lines).toHaveLength(3);
    expect(r.stdout).toMatch(/\/chat\/:room\s+ws:\/\/127\.0\.0\.1:9000\/rooms\/:room\s+jwt\s+5000\/5000 ms\s+-/);
    expect(r.stdout).toMatch(/\/public\s+wss:\/\/svc\.example\.com\/ws\s+public\s+off\s+-/);
  });

  const invalid: Array<[string, Record<string, string>, string, RegExp]> = [
    ['an http:// upstream', { 'bad.ts': `export default { path: '/x', upstream: 'http://x' };\n` }, 'bad.ts', /upstream: expected a ws:\/\/ or wss:\/\/ URL/],
    ['a missing path', { 'nopath.ts': `export default { upstream: 'ws://127.0.0.1:1' };\n` }, 'nopath.ts', /path: expected a string starting with \//],
    ['an unknown field', { 'typo.ts': `export default { path: '/t', upstream: 'ws://127.0.0.1:1', hearbeat: 'off' };\n` }, 'typo.ts', /hearbeat: expected a known field/],
    ['an upstream param not in the path', { 'param.ts': `export default { path: '/p', upstream: 'ws://127.0.0.1:1/:room' };\n` }, 'param.ts', /upstream: expected params from the path/],
    ['a bad heartbeat preset', { 'hb.ts': `export default { path: '/h', upstream: 'ws://127.0.0.1:1', heartbeat: 'aws' };\n` }, 'hb.ts', /heartbeat: expected one of/],
    [
      'two files with the same path',
      { 'a.ts': `export default { path: '/same', upstream: 'ws://127.0.0.1:1' };\n`, 'b.ts': `export default { path: '/same', upstream: 'ws://127.0.0.1:2' };\n` },
      'b.ts',
      /path: \/same is already defined by .*a\.ts/,
    ],
    ['no default export', { 'nodef.ts': `export const route = { path: '/n', upstream: 'ws://127.0.0.1:1' };\n` }, 'nodef.ts', /default export/],
    ['a syntax error', { 'syntax.ts': `export default { path: '/s', upstream: };\n` }, 'syntax.ts', /cannot load/],
  ];

  it(`invalid route folders (${invalid.map((c) => c[0]).join('; ')}) → exit 2 naming the file and the field`, async () => {
    // Run in parallel (one process each) to keep the file fast on a small box.
    await Promise.all(
      invalid.map(async ([name, files, file, message]) => {
        const dir = tmpRoutes(files);
        const r = await runToEnd(['routes', '--routes', dir]);
        expect(r.code, name).toBe(2);
        expect(r.stderr, name).toContain(`${dir}/${file}`);
        expect(r.stderr, name).toMatch(message);
        expect(r.stdout, name).toBe('');
      }),
    );
  }, 30_000);

  it('an auth problem (no key configured) → exit 2 naming the file and auth field', async () => {
    const dir = tmpRoutes({ 'svc.ts': `export default { path: '/svc', upstream: 'ws://127.0.0.1:1' };\n` });
    const env = childEnv();
    delete env.JWT_SECRET;
    const r = await runToEnd(['routes', '--routes', dir], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${dir}/svc.ts`);
    expect(r.stderr).toMatch(/auth\.secret/);
  });

  it('a missing folder → exit 2', async () => {
    const r = await runToEnd(['routes', '--routes', '/nonexistent/wsgate-routes']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--routes \/nonexistent\/wsgate-routes: cannot read the folder/);
  });

  it('`wsgate start` with an invalid route file stops at start-up with exit 2', async () => {
    const dir = tmpRoutes({ 'bad.ts': `export default { path: '/x', upstream: 'http://x' };\n` });
    const r = await runToEnd(['start', '--routes', dir, '--port', String(await freePort())]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${dir}/bad.ts: upstream`);
  });
});

describe('wsgate token', () => {
  it('mints an HS256 JWT that verifies with JWT_SECRET and carries the given claims', async () => {
    const r = await runToEnd(['token', '--sub', 'alice', '--claim', 'role=admin', '--claim', 'level=5', '--ttl', '600']);
    expect(r.code).toBe(0);
    const token = r.stdout.trim();
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const { payload, protectedHeader } = await jwtVerify(token, TEST_SECRET_BYTES, { algorithms: ['HS256'] });
    expect(protectedHeader.alg).toBe('HS256');
    expect(payload.sub).toBe('alice');
    expect(payload.role).toBe('admin');
    expect(payload.level).toBe(5);
    const now = Math.floor(Date.now() / 1000);
    expect(payload.exp! - now).toBeGreaterThan(590);
    expect(payload.exp! - now).toBeLessThanOrEqual(601);
    // It does not verify with another secret.
    await expect(jwtVerify(token, new TextEncoder().encode(`${TEST_SECRET}-other`))).rejects.toThrow();
  });

  it('without JWT_SECRET, or with a bad --claim → exit 2 with one clear line', async () => {
    const env = childEnv();
    delete env.JWT_SECRET;
    const a = await runToEnd(['token', '--sub', 'x'], { env });
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/JWT_SECRET is not set/);
    const b = await runToEnd(['token', '--claim', 'novalue']);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/--claim novalue: expected key=value/);
  });
});

describe('wsgate start with a user route folder outside the repo', () => {
  it('relays text and binary both ways, 401 JSON without a token, token never in the upstream URL, 502 JSON once the upstream is down', async () => {
    const received: Array<{ data: Buffer; isBinary: boolean }> = [];
    const up = await startUpstream({
      onConnection: (c: UpstreamConnection) => {
        c.ws.on('message', (data, isBinary) => received.push({ data: data as Buffer, isBinary }));
        c.ws.send('hello from upstream');
        c.ws.send(Buffer.from([0, 1, 2, 255]), { binary: true });
      },
    });
    const dir = tmpRoutes({
      'my-service.ts': `// A route file a user wrote: a plain object, no imports.\nexport default {\n  path: '/svc/:room',\n  upstream: '${up.url}/rooms/:room',\n  connectTimeoutMs: 2000,\n} as const;\n`,
    });
    const port = await freePort();
    await startProcess(dir, port, childEnv({ LOG_LEVEL: 'warn' }));
    const token = await hs(claims({ sub: 'cli-user' }));

    // 401 JSON without a token.
    const noToken = await expectRefused(`ws://127.0.0.1:${port}/svc/lobby`);
    expect(noToken.status).toBe(401);
    expect(noToken.headers['content-type']).toMatch(/application\/json/);
    expect(noToken.body.error).toBe('token_missing');
    expect(noToken.headers['www-authenticate']).toMatch(/^Bearer/);
    expect((await expectRefused(`ws://127.0.0.1:${port}/svc/lobby?token=${await hs(claims({ exp: 1 }))}`)).status).toBe(401);
    expect(up.connections).toHaveLength(0);

    const c = await connectClient(`ws://127.0.0.1:${port}/svc/lobby?token=${token}&v=2`);
    const seen = await up.nextConnection();
    expect(seen.url).toBe('/rooms/lobby?v=2');
    expect(seen.url).not.toContain('token');
    expect(JSON.stringify(seen.headers)).not.toContain(token.split('.')[2]!);
    expect(seen.headers['x-user-id']).toBe('cli-user');

    // upstream → client, text and binary
    const m1 = await c.next();
    expect(m1).toMatchObject({ isBinary: false, text: 'hello from upstream' });
    const m2 = await c.next();
    expect(m2.isBinary).toBe(true);
    expect([...m2.data]).toEqual([0, 1, 2, 255]);
    // client → upstream (and echoed back), text and binary
    const bin = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 256));
    c.ws.send('text from client');
    c.ws.send(bin, { binary: true });
    const e1 = await c.next();
    const e2 = await c.next();
    expect(e1).toMatchObject({ isBinary: false, text: 'text from client' });
    expect(e2.isBinary).toBe(true);
    expect(Buffer.compare(e2.data, bin)).toBe(0);
    await until(() => received.length === 2, 2000, 'upstream received both');
    expect(received[0]).toMatchObject({ isBinary: false });
    expect(received[0]!.data.toString()).toBe('text from client');
    expect(received[1]!.isBinary).toBe(true);
    expect(Buffer.compare(received[1]!.data, bin)).toBe(0);

    // Upstream down → the live client is closed, and new handshakes get 502 JSON.
    await up.close();
    const closed = await c.closed;
    expect(closed.code).toBeGreaterThanOrEqual(1000);
    const down = await expectRefused(`ws://127.0.0.1:${port}/svc/lobby?token=${token}`);
    expect(down.status).toBe(502);
    expect(down.headers['content-type']).toMatch(/application\/json/);
    expect(down.body).toMatchObject({ error: 'upstream_unavailable', message: expect.any(String) });
  }, 30_000);
});

describe('npm start (wsgate dev)', () => {
  it('prints a URL, a dev token and a client command that talks to the echo upstream', async () => {
    const env = childEnv();
    delete env.JWT_SECRET; // a clean machine: dev makes up its own secret
    const port = await freePort();
    const dev = run(['dev', '--routes', 'routes', '--port', String(port)], { env });
    const tryIt = await dev.waitFor(/Try it:\s+(.+)\n/, 20_000);
    const out = dev.stdout();
    const gateway = /Gateway:\s+(ws:\/\/\S+)/.exec(out)?.[1];
    const devToken = /Dev token:\s+(\S+)/.exec(out)?.[1];
    expect(gateway).toBe(`ws://127.0.0.1:${port}`);
    expect(devToken).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const command = tryIt[1]!.trim();
    expect(command).toContain(devToken!);
    expect(command).toMatch(/^node \S+ client '/);

    // Paste the command into a shell, type "hello".
    const client = run(['-c', command], { command: '/bin/sh', cwd: ROOT, env, input: 'hello\n' });
    const timer = setTimeout(() => client.child.kill('SIGKILL'), 15_000);
    const exit = await client.exited;
    clearTimeout(timer);
    expect(client.stdout().split('\n')).toContain('hello');
    expect(client.stderr()).toMatch(/connected/);
    expect(client.stderr()).toMatch(/closed 1000/);
    expect(exit.code).toBe(0);

    // The dev token is a real token for that gateway: `whoami` reaches the echo upstream with identity headers.
    const c = await connectClient(`${gateway}/echo?token=${devToken}`);
    c.ws.send('whoami');
    const who = JSON.parse((await c.next()).text) as { url: string; user: string };
    expect(who.user).toBe('dev-user');
    expect(who.url).not.toContain('token');
    expect(dev.child.exitCode).toBeNull();
  }, 40_000);
});
