/**
 * The README's nginx recipe against a real nginx: the `nginx` code block is taken from README.md
 * as it is (only its two ports are replaced), served by a private nginx (`nginx -p DIR`), in front
 * of a real `wsgate start` with the recipe's TRUSTED_PROXIES. The client connects from 127.0.0.9.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectClient, freePort, startUpstream, stopAll, until } from '../helpers/gateway.ts';
import { childEnv, ROOT, run, tmpRoutes } from '../helpers/cli.ts';

afterEach(stopAll);

function findNginx(): { bin: string } | { missing: string } {
  try {
    return { bin: execFileSync('sh', ['-c', 'command -v nginx || ls /usr/sbin/nginx'], { encoding: 'utf8' }).trim().split('\n')[0]! };
  } catch {
    return { missing: 'nginx is not installed (apt-get install -y nginx-light)' };
  }
}

/** The README's nginx block (the one under "nginx in front"). */
function readmeNginxSnippet(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const m = /```nginx\n(# wsgate behind nginx[\s\S]*?)```/.exec(readme);
  if (!m) throw new Error('README.md has no ```nginx block starting with "# wsgate behind nginx"');
  return m[1]!;
}

async function startNginx(bin: string, gatewayPort: number, edit: (conf: string) => string = (c) => c) {
  const snippet = readmeNginxSnippet();
  expect(snippet).toContain('listen 8080;');
  expect(snippet).toContain('server 127.0.0.1:8787;');
  const port = await freePort();
  const dir = tmpRoutes({});
  mkdirSync(join(dir, 'logs'));
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((n) => `${n}_temp_path ${dir}/${n};`).join(' ');
  const http = edit(snippet.replace('listen 8080;', `listen 127.0.0.1:${port};`).replace('server 127.0.0.1:8787;', `server 127.0.0.1:${gatewayPort};`));
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off;\nmaster_process off;\npid ${dir}/nginx.pid;\nerror_log ${dir}/logs/error.log warn;\nevents { worker_connections 256; }\nhttp {\naccess_log off;\n${temp}\n${http}\n}\n`,
  );
  const p = run(['-p', dir, '-c', join(dir, 'nginx.conf')], { command: bin });
  await until(
    async () => {
      if (p.child.exitCode !== null) throw new Error(`nginx exited: ${p.stderr()} ${readFileSync(join(dir, 'logs/error.log'), 'utf8')}`);
      return fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
    },
    15_000,
    'nginx answering /healthz through to the gateway',
  );
  return { port };
}

describe('nginx in front (the README snippet, real nginx)', () => {
  const nginx = findNginx();

  it('upgrades through nginx; the client behind it is the client (its own X-Forwarded-For dropped), the upstream gets the chain', async (ctx) => {
    if ('missing' in nginx) {
      console.warn(`skipped: ${nginx.missing}`);
      return ctx.skip();
    }
    const up = await startUpstream();
    const dir = tmpRoutes({ 'svc.mjs': `export default { path: '/svc', upstream: '${up.url}', auth: false, heartbeat: 'nginx' };\n` });
    const gwPort = await freePort();
    const gw = run(['start', '--routes', dir, '--port', String(gwPort), '--host', '127.0.0.1'], { env: childEnv({ TRUSTED_PROXIES: '127.0.0.1', LOG_LEVEL: 'info' }) });
    await gw.waitFor(/wsgate listening/);
    const ng = await startNginx(nginx.bin, gwPort);
    const c = await connectClient(`ws://127.0.0.1:${ng.port}/svc`, undefined, { localAddress: '127.0.0.9', headers: { 'X-Forwarded-For': '6.6.6.6' } });
    c.ws.send('via nginx');
    expect((await c.next()).text).toBe('via nginx');
    const conn = await up.nextConnection();
    // nginx sent "6.6.6.6, 127.0.0.9": the gateway trusts only nginx (127.0.0.1) and stops at 127.0.0.9.
    expect(conn.headers).toMatchObject({ 'x-forwarded-for': '127.0.0.9, 127.0.0.1', 'x-forwarded-proto': 'http', 'x-forwarded-host': '127.0.0.1' });
    await gw.waitFor(/"event":"open"/);
    expect(JSON.parse(gw.stdout().split('\n').find((l) => l.includes('"event":"open"'))!)).toMatchObject({ ip: '127.0.0.9' });
  });

  it('proxy_read_timeout above the heartbeat keeps an idle WebSocket open through nginx; without heartbeats nginx cuts it (scaled: 2 s read timeout, pings after 500 ms idle)', async (ctx) => {
    if ('missing' in nginx) {
      console.warn(`skipped: ${nginx.missing}`);
      return ctx.skip();
    }
    const up = await startUpstream();
    const dir = tmpRoutes({
      'kept.mjs': `export default { path: '/kept', upstream: '${up.url}', auth: false, heartbeat: { intervalMs: 500, timeoutMs: 3000 } };\n`,
      'quiet.mjs': `export default { path: '/quiet', upstream: '${up.url}', auth: false, heartbeat: 'off' };\n`,
    });
    const gwPort = await freePort();
    const gw = run(['start', '--routes', dir, '--port', String(gwPort), '--host', '127.0.0.1'], { env: childEnv({ TRUSTED_PROXIES: '127.0.0.1', LOG_LEVEL: 'warn' }) });
    await gw.waitFor(/wsgate listening/);
    const ng = await startNginx(nginx.bin, gwPort, (conf) => {
      expect(conf).toMatch(/proxy_read_timeout 75s;/);
      return conf.replace(/proxy_read_timeout 75s;/, 'proxy_read_timeout 2s;').replace(/proxy_send_timeout 75s;/, 'proxy_send_timeout 2s;');
    });
    const kept = await connectClient(`ws://127.0.0.1:${ng.port}/kept`);
    const quiet = await connectClient(`ws://127.0.0.1:${ng.port}/quiet`);
    const started = Date.now();
    const quietClosed = await quiet.closed;
    expect(quietClosed.code).toBe(1006); // nginx closes the TCP connection: no close frame
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    // 3x the read timeout with no application traffic: the gateway's pings (answered by the client) keep it open.
    await new Promise((r) => setTimeout(r, Math.max(0, 6000 - (Date.now() - started))));
    expect(kept.ws.readyState).toBe(kept.ws.OPEN);
    kept.ws.send('still here');
    expect((await kept.next()).text).toBe('still here');
  });
});
