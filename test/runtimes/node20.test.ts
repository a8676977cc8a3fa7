/**
 * The runtime contract on Node 20: the `node` on PATH (outside node_modules) running dist/bin.js start.
 * A missing binary is a loud skip with its reason (see test/helpers/runtimes.ts).
 */
import { runRuntimeContract } from '../contracts/runtime.contract.ts';
import { onRuntime } from '../helpers/runtimes.ts';

await onRuntime('node20', runRuntimeContract);
