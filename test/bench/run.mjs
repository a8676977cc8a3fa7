#!/usr/bin/env node
// wsgate benchmark harness. `npm run bench` (full), `npm run bench:smoke` (every scenario, tiny).
// Options: --smoke --reps N --scenarios a,b --targets direct,nginx,relay,copy,gateway[,gateway-ws] --pin
//   --conns N --duration MS --rate N --latency-duration MS --retries N --disturb-cores X --out DIR
//   --mem-sizes 1000,5000,20000 --subs 10,1000,10000 --hb-preset NAME --hb-window MS --hb-conns N
//   --fault SCENARIO (make that scenario throw: checks that a crash exits non-zero)
// Every process started is stopped by PID at the end, on error and on Ctrl-C.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync, accessSync, constants } from 'node:fs';
import { delimiter, join, sep } from 'node:path';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { killAllNow, tryRun } from './lib/procs.mjs';
import { CLK_TCK, fdLimit } from './lib/cpu.mjs';
import { ensureNginx, gitSha, gitDirty, runtimeVersion, gatewayAvailable, ROOT } from './lib/targets.mjs';
import { summarize, markdown } from './report.mjs';
import * as relay from './scenarios/relay.mjs';
import * as handshake from './scenarios/handshake.mjs';
import * as memory from './scenarios/memory.mjs';
import * as broadcast from './scenarios/broadcast.mjs';
import * as hubJoin from './scenarios/hub-join.mjs';
import * as presence from './scenarios/presence.mjs';
import * as slow from './scenarios/slow-consumer.mjs';
import * as heartbeat from './scenarios/heartbeat.mjs';
import * as runtimes from './scenarios/runtimes.mjs';
import * as coldstart from './scenarios/coldstart.mjs';

const ALL = [relay, handshake, memory, broadcast, hubJoin, presence, slow, heartbeat, runtimes, coldstart];

/**
 * `npm run` puts node_modules/.bin first on PATH, where the `node` devDependency (Node 24, for
 * the runtime matrix) lives: the whole bench — gateway "node20", bare relay, echo, load — would
 * then run on Node 24. Find the Node the user has on PATH outside node_modules.
 */
function userNode() {
  if (!process.execPath.includes(`${sep}node_modules${sep}`)) return null;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir || dir.includes(`${sep}node_modules${sep}`) || dir.endsWith(`${sep}node_modules${sep}.bin`)) continue;
    const bin = join(dir, 'node');
    try { accessSync(bin, constants.X_OK); return bin; } catch { /* next */ }
  }
  return null;
}

/** Re-runs this harness under `node`, forwarding signals and the exit code. */
function rerunUnder(node) {
  console.log(`[bench] re-running under ${node} (the Node on PATH; npm put node_modules/.bin/node first)`);
  const child = spawn(node, process.argv.slice(1), { stdio: 'inherit', env: { ...process.env, WSGATE_BENCH_REEXEC: '1' } });
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

function parseArgs(argv) {
  const o = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const k = a.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (['smoke', 'pin', 'noInstall', 'help'].includes(k)) o[k] = true;
    else o[k] = argv[++i];
  }
  for (const k of ['reps', 'conns', 'duration', 'rate', 'latencyDuration', 'retries', 'hbWindow', 'samples']) if (o[k] != null) o[k] = Number(o[k]);
  for (const k of ['memSizes', 'subs']) if (o[k]) o[k] = o[k].split(',').map(Number);
  return o;
}

function environment(ctx) {
  const nginx = ctx.targets.includes('nginx') ? ensureNginx({ install: !ctx.noInstall, log: ctx.log }) : { reason: 'not selected (--targets)' };
  return {
    date: new Date().toISOString(),
    gitSha: gitSha(), gitDirty: gitDirty(),
    node: process.version, runtimes: Object.fromEntries(['node24', 'bun', 'deno'].map((r) => [r, runtimeVersion(r)])),
    nginx: nginx.version ?? `absent (${nginx.reason})`,
    redis: tryRun('redis-server', ['--version']),
    cpuModel: cpus()[0]?.model, cpus: cpus().length, memBytes: totalmem(),
    kernel: tryRun('uname', ['-sr']), loadavg: readFileSync('/proc/loadavg', 'utf8').trim(),
    clkTck: CLK_TCK, fdLimit: fdLimit(), pinned: !!ctx.pin,
    wsVersion: JSON.parse(readFileSync(join(ROOT, 'node_modules/ws/package.json'), 'utf8')).version,
    gateway: gatewayAvailable() ?? 'dist/bin.js',
  };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.help) { console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1).filter((l, i, a) => a.slice(0, i + 1).every((x) => x.startsWith('//'))).join('\n')); return 0; }
  const smoke = !!o.smoke;
  const ctx = {
    smoke, pin: !!o.pin, noInstall: !!o.noInstall,
    reps: o.reps ?? (smoke ? 1 : 3), retries: o.retries ?? (smoke ? 0 : 1),
    disturbCores: Number(o.disturbCores ?? 0.25),
    targets: (o.targets ?? 'direct,nginx,relay,copy,gateway').split(','),
    opts: o,
    log: (s) => process.stderr.write(`${s}\n`),
  };
  const selected = o.scenarios ? ALL.filter((s) => o.scenarios.split(',').includes(s.name)) : ALL;
  const outDir = o.out ?? join(ROOT, 'test/bench/results');
  mkdirSync(outDir, { recursive: true });
  const t0 = Date.now();
  const env = environment(ctx);
  ctx.log(`[bench] ${smoke ? 'smoke' : 'full'} run: ${selected.map((s) => s.name).join(', ')}; targets ${ctx.targets.join(', ')}; ${ctx.reps} repetition(s); nginx ${env.nginx}`);
  if (env.gateway !== 'dist/bin.js' && ctx.targets.includes('gateway')) ctx.log(`[bench] !!! ${env.gateway}: gateway figures will be missing and the run exits non-zero`);
  if (ctx.targets.includes('nginx') && (!env.nginx || env.nginx.startsWith('absent'))) ctx.log(`[bench] !!! NGINX ABSENT: ${env.nginx} — nginx comparisons will be n/a`);

  const results = {};
  let crashed = 0;
  for (const s of selected) {
    const p = s.params(smoke, o);
    results[s.name] = { title: s.title, params: p, reps: [] };
    ctx.log(`[bench] scenario ${s.name}: ${JSON.stringify(p)}`);
    const ts = Date.now();
    for (let rep = 0; rep < ctx.reps; rep++) {
      ctx.log(`  repetition ${rep + 1}/${ctx.reps}`);
      try {
        if (o.fault === s.name) throw new Error('fault injected with --fault (proves a crash fails the run)');
        results[s.name].reps.push(await s.run(ctx, p, rep));
      } catch (e) {
        crashed++;
        ctx.log(`  !!! scenario ${s.name} crashed: ${e.stack}`);
        results[s.name].reps.push({ crashed: e.message });
        killAllNow();
        break;
      }
    }
    results[s.name].seconds = (Date.now() - ts) / 1000;
    ctx.log(`  (${s.name}: ${results[s.name].seconds.toFixed(1)} s)`);
  }
  const summary = summarize(ALL.filter((s) => results[s.name]), results);
  const failedTargets = Object.entries(summary.scenarios).flatMap(([n, s]) => Object.entries(s.failed).map(([t, e]) => `${n}/${t}: ${e}`));
  const doc = { environment: env, options: o, smoke, durationS: (Date.now() - t0) / 1000, results, summary };
  const stamp = smoke ? 'smoke' : new Date().toISOString().replace(/[:.]/g, '-');
  const base = join(outDir, `bench-${stamp}`);
  writeFileSync(`${base}.json`, JSON.stringify(doc, null, 1));
  const md = markdown(doc);
  writeFileSync(`${base}.md`, md);
  if (!smoke) { writeFileSync(join(outDir, 'latest.json'), JSON.stringify(doc, null, 1)); writeFileSync(join(outDir, 'latest.md'), md); }
  process.stdout.write(`${md}\n`);
  ctx.log(`[bench] wrote ${base}.json and ${base}.md in ${doc.durationS.toFixed(1)} s`);
  if (crashed || failedTargets.length) {
    ctx.log(`[bench] FAILED: ${crashed} scenario(s) crashed; ${failedTargets.length} target failure(s)`);
    for (const f of failedTargets) ctx.log(`  - ${f.split('\n')[0]}`);
    return 1;
  }
  return 0;
}

const node = process.env.WSGATE_BENCH_REEXEC ? null : userNode();
if (node) rerunUnder(node);
else main().then((code) => { killAllNow(); process.exit(code); }, (e) => { console.error(e); killAllNow(); process.exit(1); });
