/**
 * Running out of file descriptors: a real `wsgate start` under `ulimit -n 120` relaying to an
 * upstream in this process. The default connection cap comes from the fd limit, so the gateway
 * refuses with 503 `overloaded` + Retry-After before the kernel refuses anything; with a cap set
 * too high, EMFILE at the upstream dial is still 503 `overloaded`, never a 502 that blames the
 * upstream.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { socketBudgetForFdLimit } from '../../src/runtime/fd-limit.ts';
import { freePort, startUpstream, stopAll } from '../helpers/gateway.ts';
import { hs } from '../helpers/tokens.ts';
import { BIN, childEnv, run, tmpRoutes } from '../helpers/cli.ts';

afterEach(stopAll);

const FD_LIMIT = 120;

async function lowFdGateway(upstream: string, flags: string[] = []) {
  const dir = tmpRoutes({
    'svc.mjs': `export default ${JSON.stringify({ path: '/svc', upstream, heartbeat: 'off' })};`,
    'hub.mjs': `export default ${JSON.stringify({ path: '/hub', channel: 'hub', heartbeat: 'off' })};`,
  });
  const port = await freePort();
  const cmd = [process.execPath, BIN, 'start', '--routes', dir, '--port', String(port), '--host', '127.0.0.1', ...flags].map((a) => `'${a}'`).join(' ');
  const p = run(['-c', `ulimit -n ${FD_LIMIT} && exec ${cmd}`], { command: 'bash', env: childEnv({ LOG_LEVEL: 'warn' }) });
  await p.waitFor(/wsgate listening on/);
  return { p, port };
}

type Outcome = { kind: 'open'; ws: WebSocket } | { kind: 'refused'; status: number; body: string; retryAfter?: string } | { kind: 'reset'; error: string };

/** One handshake, settled as open, an HTTP refusal, or a transport error (reset / EOF). */
function attempt(url: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on('open', () => resolve({ kind: 'open', ws }));
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d));
      res.on('end', () => {
        const retryAfter = res.headers['retry-after'];
        resolve({ kind: 'refused', status: res.statusCode ?? 0, body, ...(retryAfter ? { retryAfter: String(retryAfter) } : {}) });
      });
    });
    ws.on('error', (err) => resolve({ kind: 'reset', error: err.message }));
  });
}

async function metric(port: number, re: RegExp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (re.test(line)) sum += Number(line.split(' ').pop());
  return sum;
}

describe('file descriptors exhausted', () => {
  it('the default connection cap follows the fd limit: past it 503 overloaded + Retry-After, never 502, never a reset', async () => {
    const up = await startUpstream();
    const { p, port } = await lowFdGateway(up.url);
    // The cap it derived is printed at start.
    const budget = socketBudgetForFdLimit(FD_LIMIT);
    expect(p.stderr()).toContain(`max ${budget / 2} relayed or ${budget} hub connections (fd limit)`);
    const token = await hs();
    const outcomes: Outcome[] = [];
    for (let i = 0; i < 90; i++) outcomes.push(await attempt(`ws://127.0.0.1:${port}/svc?token=${token}`));
    const open = outcomes.filter((o) => o.kind === 'open');
    const refused = outcomes.filter((o): o is Extract<Outcome, { kind: 'refused' }> => o.kind === 'refused');
    expect(outcomes.filter((o) => o.kind === 'reset')).toEqual([]);
    expect(open.length).toBe(budget / 2); // two sockets each: client and upstream leg
    expect(refused.length).toBe(90 - open.length);
    for (const r of refused) {
      expect(r.status).toBe(503);
      expect(JSON.parse(r.body)).toMatchObject({ error: 'overloaded' });
      expect(r.retryAfter).toBeDefined();
    }
    // The open ones still relay.
    const first = open[0]!.ws;
    const echoed = new Promise<string>((r) => first.once('message', (d) => r(String(d))));
    first.send('still working');
    expect(await echoed).toBe('still working');
    for (const o of open) o.ws.terminate();
    expect(await metric(port, /^wsgate_upstream_connect_failures_total/)).toBe(0);
    expect(await metric(port, /^wsgate_handshakes_total\{.*outcome="overloaded"/)).toBe(refused.length);
  });

  it('the fd budget counts sockets: a hub connection holds one, so twice as many hub connections fit; relays take what is left', async () => {
    const up = await startUpstream();
    const { port } = await lowFdGateway(up.url);
    const budget = socketBudgetForFdLimit(FD_LIMIT);
    const token = await hs();
    const hub: Outcome[] = [];
    for (let i = 0; i < budget - 10; i++) hub.push(await attempt(`ws://127.0.0.1:${port}/hub?token=${token}`));
    expect(hub.filter((o) => o.kind !== 'open')).toEqual([]);
    // 10 sockets left: five relayed connections, then 503; then single hub sockets no more.
    const relay: Outcome[] = [];
    for (let i = 0; i < 8; i++) relay.push(await attempt(`ws://127.0.0.1:${port}/svc?token=${token}`));
    expect(relay.map((o) => (o.kind === 'refused' ? o.status : o.kind))).toEqual(['open', 'open', 'open', 'open', 'open', 503, 503, 503]);
    const more = await attempt(`ws://127.0.0.1:${port}/hub?token=${token}`);
    expect(more.kind === 'refused' && more.status).toBe(503);
    // Closing one relayed connection frees two sockets: one more relay fits.
    const first = relay[0] as Extract<Outcome, { kind: 'open' }>;
    first.ws.terminate();
    let again: Outcome = { kind: 'reset', error: 'not tried' };
    for (let i = 0; i < 50 && again.kind !== 'open'; i++) {
      again = await attempt(`ws://127.0.0.1:${port}/svc?token=${token}`);
      if (again.kind === 'refused') await new Promise((r) => setTimeout(r, 20)); // the close is still on its way
    }
    expect(again.kind).toBe('open');
    for (const o of [...hub, ...relay, again]) if (o.kind === 'open') o.ws.terminate();
  });

  it('with a cap above the fd limit, EMFILE at the upstream dial → 503 overloaded, counted as overload, not as an upstream failure', async () => {
    const up = await startUpstream();
    const { p, port } = await lowFdGateway(up.url, ['--max-connections', '1000']);
    expect(p.stderr()).toContain('max 1000 connections'); // set explicitly: no fd-derived socket budget
    const token = await hs();
    // All at once: the accepts take the last descriptors, so the dials that follow hit EMFILE.
    // (Accepts past the limit are refused by the kernel/libuv before the gateway sees a request:
    // that is what the fd-derived default cap, above, prevents.)
    const outcomes = await Promise.all(Array.from({ length: 90 }, () => attempt(`ws://127.0.0.1:${port}/svc?token=${token}`)));
    const refused = outcomes.filter((o): o is Extract<Outcome, { kind: 'refused' }> => o.kind === 'refused');
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      expect(r.status).toBe(503);
      expect(JSON.parse(r.body)).toMatchObject({ error: 'overloaded' });
      expect(r.retryAfter).toBeDefined();
    }
    for (const o of outcomes) if (o.kind === 'open') o.ws.terminate();
    // Descriptors come back once the clients are gone; then the counters can be read.
    let failures = -1;
    for (let i = 0; i < 100 && failures < 0; i++) failures = await metric(port, /^wsgate_upstream_connect_failures_total/).catch(() => -1);
    expect(failures).toBe(0);
    expect(await metric(port, /^wsgate_handshakes_total\{.*outcome="overloaded"/)).toBe(refused.length);
  });
});
