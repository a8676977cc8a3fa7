/**
 * The per-IP handshake cap behind a balancer: a reconnect storm of 5,000 clients arriving at once
 * through one trusted proxy address all upgrade with the default cap (64 in flight per client
 * address), because the cap counts the forwarded client addresses; the same burst from one
 * client address is capped (429). Gateway, upstream and clients each run in their own process
 * with a raised fd limit (5,000 relayed connections are 10,000 sockets in the gateway alone).
 */
import { execFileSync } from 'node:child_process';
import { afterEach, expect, it } from 'vitest';
import { freePort, stopAll } from '../helpers/gateway.ts';
import { childEnv, ROOT, run, runToEnd, tmpRoutes } from '../helpers/cli.ts';

afterEach(stopAll);

const STORM = 5000;
const FDS = 12_000;

function hardFdLimit(): number {
  const out = execFileSync('bash', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim();
  return out === 'unlimited' ? Infinity : Number(out);
}

const withFds = (cmd: string) => ['-c', `ulimit -n ${FDS} && exec ${cmd}`];

async function storm(port: number, n: number, extra = ''): Promise<{ statuses: Record<string, number>; ms: number; concurrentOpen: number }> {
  const r = await runToEnd(withFds(`"${process.execPath}" test/helpers/storm-client.mjs ${port} ${n} /svc ${extra}`), { command: 'bash', timeoutMs: 120_000 });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

it(`${STORM} connections opened at once through one trusted proxy address, each with its own forwarded client address, all upgrade under the default per-IP cap`, async (ctx) => {
  const hard = hardFdLimit();
  if (hard < FDS) {
    console.warn(`skipped: the hard fd limit is ${hard}; this test needs ${FDS} per process (raise it with ulimit -Hn / limits.conf)`);
    return ctx.skip();
  }
  const up = run(withFds(`"${process.execPath}" test/helpers/echo-upstream.mjs`), { command: 'bash', cwd: ROOT });
  const upPort = Number((await up.waitFor(/listening (\d+)/))[1]);
  // A long dial timeout: what is measured is the per-IP cap; on a loaded 2-core machine the
  // loopback upstream alone took over 5 s (the default) to accept 5,000 dials (504s, not 429s).
  const route = `{ path: '/svc', upstream: 'ws://127.0.0.1:${upPort}', auth: false, heartbeat: 'off', connectTimeoutMs: 60000 }`;
  const dir = tmpRoutes({ 'svc.mjs': `export default ${route};\n` });
  const port = await freePort();
  const gw = run(withFds(`"${process.execPath}" dist/bin.js start --routes ${dir} --port ${port} --host 127.0.0.1 --headers-timeout 60000`), {
    command: 'bash',
    env: childEnv({ TRUSTED_PROXIES: '127.0.0.1', LOG_LEVEL: 'warn' }),
  });
  await gw.waitFor(/wsgate listening/, 20_000);

  const through = await storm(port, STORM);
  console.log(`storm through one trusted proxy: ${JSON.stringify(through)}`);
  expect(through.statuses).toEqual({ '101': STORM });
  expect(through.concurrentOpen).toBe(STORM);

  // The control: the same kind of burst as one client address is capped, so the cap is live in
  // this very process and only the forwarded addresses made the storm pass.
  const one = await storm(port, 2000, '--same-client');
  console.log(`the same burst from one client address: ${JSON.stringify(one)}`);
  expect(one.statuses['429'] ?? 0).toBeGreaterThan(0);
  expect(one.statuses['101'] ?? 0).toBeGreaterThanOrEqual(64);
  expect((one.statuses['101'] ?? 0) + (one.statuses['429'] ?? 0)).toBe(2000);
}, 300_000);
