/**
 * The runtime contract on workerd: `wrangler dev` (Node 24 from devDependencies) serving a Worker
 * whose entry imports the contract's route files statically (test/helpers/wrangler-dev.ts), with
 * the environment passed as `--var`. Hub routes run in the channel's Durable Object.
 * wrangler or workerd missing, or unable to start here: a loud skip with the reason.
 */
import { runRuntimeContract } from '../contracts/runtime.contract.ts';
import { onWorkerd, startWorkerd } from '../helpers/wrangler-dev.ts';

await onWorkerd('runtime contract: workerd', () =>
  runRuntimeContract('workerd', async ({ routesDir, env }) => {
    const p = await startWorkerd({ routesDir, env });
    return { port: p.port, stop: p.stop };
  }),
);
