import { defineConfig } from 'vitest/config';

// Real sockets and real processes: generous timeouts, and files run in separate forks so one
// file's servers and signal handlers never leak into another's.
export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 4,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ['default'],
  },
});
