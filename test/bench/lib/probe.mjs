// Memory probes of a measured process: RSS from /proc, heap after GC through the preload's
// SIGUSR2 hook (servers/gc-preload.mjs), and the gateway's /metrics heap line when it exists.
import { readFileSync, existsSync } from 'node:fs';
import { rssBytes } from './cpu.mjs';
import { sleep } from './procs.mjs';

export async function heapAfterGc(target, timeoutMs = 5000) {
  if (!target.heapFile) return null;
  const before = existsSync(target.heapFile) ? readFileSync(target.heapFile, 'utf8') : '';
  try { process.kill(target.pid, 'SIGUSR2'); } catch { return null; }
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    await sleep(25);
    try {
      const s = readFileSync(target.heapFile, 'utf8');
      if (s && s !== before) return JSON.parse(s);
    } catch {}
  }
  return null;
}

/** `process_heap_used_bytes` from GET /metrics, or null when the line or endpoint is absent. */
export async function metricsHeap(port) {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(3000) });
    const m = /^process_heap_used_bytes(?:\{[^}]*\})?\s+([0-9.e+]+)/m.exec(await r.text());
    return m ? Number(m[1]) : null;
  } catch { return null; }
}

/** RSS (tree) and heap after GC of a target in one go. */
export async function memory(target, { tree = true } = {}) {
  const heap = await heapAfterGc(target);
  await sleep(100); // RSS after the GC settled
  return { rss: rssBytes(target.pid, tree), heapUsed: heap?.heapUsed ?? null, heapTotal: heap?.heapTotal ?? null,
    external: heap?.external ?? null, metricsHeap: target.port && target.name.startsWith('gateway') ? await metricsHeap(target.port) : null };
}
