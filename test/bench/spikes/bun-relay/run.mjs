// The Bun relay floors next to nginx (measureTarget of the relay scenario, no tokens): 1 KB closed
// loop and 2,000 msg/s open loop, 100 connections. REPS=3 TARGETS=nginx,native,connect,pipe,frames,copy-bun node run.mjs
import { join } from 'node:path';
const B = new URL('../../', import.meta.url).pathname;
const { createLoad } = await import(B + 'lib/load.mjs');
const { startEcho, startNginx, ROOT } = await import(B + 'lib/targets.mjs');
const { startProcess, freePort } = await import(B + 'lib/procs.mjs');
const { measureTarget } = await import(B + 'scenarios/relay.mjs');
const bun = join(ROOT, 'node_modules/.bin/bun');
const reps = Number(process.env.REPS ?? 2);
const which = (process.env.TARGETS ?? 'nginx,native,connect,copy-bun').split(',');
const ctx = { retries: 1, disturbCores: 0.25, log: (s) => process.stderr.write(s + '\n') };
const p = { conns: 100, sizes: [1024], durationMs: 5000, rate: 2000, latencyMs: 5000, warmupMs: 1000 };
const echo = await startEcho();
const load = await createLoad(1);
const out = [];
async function start(n) {
  if (n === 'nginx') return startNginx(echo.port);
  const port = await freePort();
  const args = n === 'copy-bun' ? [join(B, 'servers/copy.mjs'), String(port), String(echo.port)] : [new URL(`./${n}.mjs`, import.meta.url).pathname, String(port), echo.url('/')];
  const h = await startProcess(n, bun, args, { ready: /READY/ });
  return { name: n, pid: h.pid, url: (path = '/') => `ws://127.0.0.1:${port}${path}`, stop: () => h.stop() };
}
try {
  for (let r = 0; r < reps; r++) {
    const row = {};
    for (const n of r % 2 ? [...which].reverse() : which) {
      const t = await start(n); t.path = '/';
      try { const m = await measureTarget(ctx, p, { ...t, name: n }, echo, load, null); row[n] = { cpuAtRate: m.m.cpuUsPerMsgAtRate, cpuRt: m.m.cpuUsPerRt_1024, rtps: m.m.rtps_1024, p50: m.m.lat_p50_us, disturbed: [m.raw.closed_1024.disturbed, m.raw.openLoop.disturbed] }; }
      finally { await t.stop(); t.cleanup?.(); }
    }
    out.push(row);
    console.log(JSON.stringify(row));
    for (const n of which) if (n !== 'nginx') console.log(`  rep ${r + 1} ${n}/nginx at 2000 msg/s: ${(row[n].cpuAtRate / row.nginx.cpuAtRate).toFixed(2)}, closed 1KB: ${(row[n].cpuRt / row.nginx.cpuRt).toFixed(2)}`);
  }
} finally { await load.stop(); await echo.stop(); }
process.exit(0);
