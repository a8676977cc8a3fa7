// Process manager: every process the bench measures is started here, tracked by PID and stopped
// by PID (its whole process group), also when the harness exits or gets SIGINT/SIGTERM.
import { spawn, fork, execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const live = new Map(); // pid -> { name, child }
let hooked = false;

function killGroup(pid, signal) {
  try { process.kill(-pid, signal); return; } catch {}
  try { process.kill(pid, signal); } catch {}
}

export function killAllNow() {
  for (const pid of live.keys()) killGroup(pid, 'SIGKILL');
  live.clear();
}

function hookExit() {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAllNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      process.stderr.write(`\n[bench] ${sig}: stopping ${live.size} child process(es)\n`);
      killAllNow();
      process.exit(130);
    });
  }
  process.on('uncaughtException', (e) => { console.error(e); killAllNow(); process.exit(1); });
}

/** A free TCP port on 127.0.0.1 (bind to 0, close, hand it out). */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

/** CPU list for --pin: one core for the measured process, the rest for the load. */
export function pinPrefix(pin, cpus) {
  return pin ? ['taskset', '-c', String(cpus)] : [];
}

/**
 * Start a process in its own process group. `ready` is an async predicate polled until true
 * (or a { stdoutMatch } regexp). Output is kept (last 8 KB) for error messages.
 */
export async function startProcess(name, cmd, args, { env, cwd, ready, readyTimeoutMs = 15000, pin } = {}) {
  hookExit();
  const argv = [...(pin ? ['taskset', '-c', String(pin)] : []), cmd, ...args];
  const child = spawn(argv[0], argv.slice(1), {
    cwd, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d) => { out = (out + d.toString()).slice(-8192); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  child.on('exit', (code, sig) => { exited = { code, sig }; live.delete(child.pid); });
  const spawnErr = await new Promise((res) => { child.once('spawn', () => res(null)); child.once('error', res); });
  if (spawnErr) throw new Error(`${name}: cannot start ${argv.join(' ')}: ${spawnErr.message}`);
  live.set(child.pid, { name, child });
  const handle = {
    name, pid: child.pid, child,
    output: () => out,
    get exited() { return exited; },
    stop: (timeoutMs = 3000) => stopProcess(handle, timeoutMs),
  };
  const t0 = Date.now();
  for (;;) {
    if (exited) throw new Error(`${name} exited (${exited.code ?? exited.sig}) before ready:\n${out.slice(-2000)}`);
    try {
      if (ready instanceof RegExp ? ready.test(out) : ready ? await ready() : true) break;
    } catch {}
    if (Date.now() - t0 > readyTimeoutMs) {
      await handle.stop(500);
      throw new Error(`${name} not ready after ${readyTimeoutMs} ms:\n${out.slice(-2000)}`);
    }
    await sleep(50);
  }
  handle.startupMs = Date.now() - t0;
  return handle;
}

/** SIGTERM the group, then SIGKILL after timeoutMs. */
export async function stopProcess(handle, timeoutMs = 3000) {
  if (!handle || handle.exited) return;
  const done = new Promise((res) => handle.child.once('exit', res));
  killGroup(handle.pid, 'SIGTERM');
  const t = setTimeout(() => killGroup(handle.pid, 'SIGKILL'), timeoutMs);
  await done;
  clearTimeout(t);
  killGroup(handle.pid, 'SIGKILL'); // leftovers of the group (nginx workers)
  live.delete(handle.pid);
}

/** A forked Node worker with a request/response IPC protocol (the load generator). */
export function forkWorker(name, script, { env, execArgv = [] } = {}) {
  hookExit();
  const child = fork(script, [], {
    env: { ...process.env, ...env }, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    detached: true,
  });
  live.set(child.pid, { name, child });
  let seq = 0;
  const pending = new Map();
  let exitInfo = null;
  child.on('message', (m) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.error) p.reject(new Error(`${name}: ${m.error}`)); else p.resolve(m.result);
  });
  child.on('exit', (code, sig) => {
    exitInfo = { code, sig };
    live.delete(child.pid);
    for (const p of pending.values()) p.reject(new Error(`${name} exited (${code ?? sig})`));
    pending.clear();
  });
  return {
    name, pid: child.pid,
    call(cmd, args = {}) {
      if (exitInfo) return Promise.reject(new Error(`${name} already exited`));
      const id = ++seq;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.send({ id, cmd, args });
      });
    },
    async stop() {
      if (exitInfo) return;
      const done = new Promise((res) => child.once('exit', res));
      killGroup(child.pid, 'SIGTERM');
      const t = setTimeout(() => killGroup(child.pid, 'SIGKILL'), 2000);
      await done;
      clearTimeout(t);
    },
  };
}

/** Wait until an HTTP GET answers `status`. */
export function httpReady(url, status = 200) {
  return async () => {
    const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await r.arrayBuffer();
    return r.status === status;
  };
}

export function sh(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts }).trim();
}

export function tryRun(cmd, args, opts) {
  try { return sh(cmd, args, opts); } catch { return null; }
}

export { sleep };
