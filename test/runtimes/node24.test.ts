/**
 * The runtime contract on Node 24: node_modules/.bin/node (npm package node@24) running dist/bin.js start.
 * A missing binary is a loud skip with its reason (see test/helpers/runtimes.ts).
 */
import { runRuntimeContract } from '../contracts/runtime.contract.ts';
import { onRuntime } from '../helpers/runtimes.ts';

await onRuntime('node24', runRuntimeContract);
