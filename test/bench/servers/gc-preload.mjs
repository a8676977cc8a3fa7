// Loaded into measured Node processes with NODE_OPTIONS=--import. On SIGUSR2: full GC twice, then
// write process.memoryUsage() as JSON to $BENCH_HEAP_FILE. Lets the bench read the heap after GC
// of a process that exposes nothing for it (the gateway, the bare relay).
import { writeFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = globalThis.gc ?? runInNewContext('gc');
const file = process.env.BENCH_HEAP_FILE;
if (file) {
  process.on('SIGUSR2', () => {
    gc(); gc();
    writeFileSync(file, JSON.stringify({ t: Date.now(), ...process.memoryUsage() }));
  });
}
