import { defineConfig } from 'vitest/config';

// Real sockets and real processes: generous timeouts, and files run in separate forks so one
// file's servers and signal handlers never leak into another's.
export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 4,
    // Above the readiness bound of child processes (test/helpers/readiness.ts, at most 75 s), so
    // a loaded machine slows tests down instead of failing them.
    testTimeout: 90_000,
    hookTimeout: 90_000,
    reporters: ['default'],
  },
});
