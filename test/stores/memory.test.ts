import { createMemoryStore } from '../../src/store/memory.ts';
import { runStoreContract } from '../contracts/store.contract.ts';

runStoreContract('memory', async () => {
  let now = 1_700_000_000_000;
  const store = createMemoryStore({ now: () => now });
  return {
    store,
    cleanup: () => store.dispose(),
    advanceTime: async (ms) => {
      now += ms;
    },
  };
});
