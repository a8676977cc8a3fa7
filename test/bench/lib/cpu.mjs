// CPU and memory from /proc: per process tree (utime+stime), machine total from /proc/stat, and
// "disturbance" = busy CPU on the machine that none of our processes used during a phase.
import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

export const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

function statFields(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = s.slice(s.lastIndexOf(')') + 2).split(' '); // rest[0] = state (field 3)
  return { ppid: Number(rest[1]), utime: Number(rest[11]), stime: Number(rest[12]),
    cutime: Number(rest[13]), cstime: Number(rest[14]) };
}

/** pid -> ppid for every process on the machine. */
function processTable() {
  const t = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try { t.set(Number(d), statFields(d)); } catch {}
  }
  return t;
}

function descendants(table, root) {
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, f] of table) if (f.ppid === out[i]) out.push(pid);
  return out.filter((p) => table.has(p));
}

/** CPU ticks (utime+stime) of a process and all its live descendants. */
export function treeTicks(root, table = processTable()) {
  let t = 0;
  for (const p of descendants(table, root)) { const f = table.get(p); t += f.utime + f.stime; }
  return t;
}

function machineTicks() {
  const l = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = l;
  return { busy: user + nice + system + irq + softirq, steal: steal || 0, total: l.slice(0, 8).reduce((a, b) => a + b, 0), idle: idle + iowait };
}

/**
 * Start a measurement over named process trees. `finish()` returns CPU µs per tree, the wall
 * time, our total, the machine's busy time and what other processes used (in cores).
 */
export function startCpu(trees) {
  const table = processTable();
  const m0 = machineTicks();
  const t0 = process.hrtime.bigint();
  const before = Object.fromEntries(Object.entries(trees).map(([k, pid]) => [k, pid ? treeTicks(pid, table) : 0]));
  const ours0 = treeTicks(process.pid, table) + selfChildrenTicks();
  return {
    finish() {
      const tab = processTable();
      const m1 = machineTicks();
      const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
      const us = (ticks) => (ticks * 1e6) / CLK_TCK;
      const cpuUs = {};
      for (const [k, pid] of Object.entries(trees)) cpuUs[k] = pid ? us(Math.max(0, treeTicks(pid, tab) - before[k])) : 0;
      const oursUs = us(treeTicks(process.pid, tab) + selfChildrenTicks() - ours0);
      const busyUs = us(m1.busy - m0.busy);
      const otherCores = Math.max(0, (busyUs - oursUs) / 1e6 / wallS);
      return { wallS, cpuUs, oursUs, busyUs, stealCores: us(m1.steal - m0.steal) / 1e6 / wallS, otherCores };
    },
  };
}

// Reaped children's CPU lands in our cutime/cstime; count it so a child exiting mid-phase is not
// reported as someone else's load.
function selfChildrenTicks() {
  const f = statFields(process.pid);
  return f.cutime + f.cstime;
}

/** Resident set size of one process in bytes (VmRSS), or of the tree when tree=true. */
export function rssBytes(pid, tree = false) {
  const pids = tree ? descendants(processTable(), pid) : [pid];
  let kb = 0;
  for (const p of pids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {}
  }
  return kb * 1024;
}

/** Kernel memory: TCP sockstat (buffer pages, sockets in use), TCP slab object size, machine-wide slab total. */
export function kernelTcp() {
  const s = readFileSync('/proc/net/sockstat', 'utf8');
  const m = /TCP: inuse (\d+) orphan \d+ tw \d+ alloc (\d+) mem (\d+)/.exec(s);
  let slabObj = null;
  try {
    const l = readFileSync('/proc/slabinfo', 'utf8').split('\n').find((x) => x.startsWith('TCP '));
    if (l) slabObj = Number(l.trim().split(/\s+/)[3]);
  } catch {}
  const slab = /^Slab:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return { inuse: Number(m?.[1] ?? 0), alloc: Number(m?.[2] ?? 0), memBytes: Number(m?.[3] ?? 0) * 4096, tcpSlabObjBytes: slabObj,
    slabBytes: slab ? Number(slab[1]) * 1024 : null };
}

export function fdLimit() {
  const l = readFileSync('/proc/self/limits', 'utf8').split('\n').find((x) => x.startsWith('Max open files'));
  const [soft, hard] = l.trim().split(/\s+/).slice(3, 5).map((x) => (x === 'unlimited' ? Infinity : Number(x)));
  return { soft, hard };
}
