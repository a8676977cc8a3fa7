/**
 * The runtime contract on Deno: node_modules/.bin/deno running src/runtime/deno/main.ts (npm run start:deno).
 * A missing binary is a loud skip with its reason (see test/helpers/runtimes.ts).
 */
import { runRuntimeContract } from '../contracts/runtime.contract.ts';
import { onRuntime } from '../helpers/runtimes.ts';

await onRuntime('deno', runRuntimeContract);
