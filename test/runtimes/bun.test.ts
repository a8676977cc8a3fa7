/**
 * The runtime contract on Bun: node_modules/.bin/bun running src/runtime/bun/main.ts (npm run start:bun).
 * A missing binary is a loud skip with its reason (see test/helpers/runtimes.ts).
 */
import { runRuntimeContract } from '../contracts/runtime.contract.ts';
import { onRuntime } from '../helpers/runtimes.ts';

await onRuntime('bun', runRuntimeContract);
