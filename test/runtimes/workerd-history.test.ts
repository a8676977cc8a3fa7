/**
 * History and recovery on workerd: `wrangler dev`, hub routes with `history` served by the
 * channel's Durable Object (its store holds the history; the Worker's publish API routes to it).
 * The same scenarios as on Node: away ~5 s while 100 are published, back with the last offset →
 * exactly those 100, in order, then live; too old or another epoch → gap.
 */
import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { stopAll } from '../helpers/gateway.ts';
import { awayAndBack, HISTORY_ROUTES, tooOld, type Target } from '../helpers/history-scenarios.ts';
import { routesDir, stopProcesses } from '../helpers/processes.ts';
import { TEST_SECRET } from '../helpers/tokens.ts';
import { onWorkerd, startWorkerd, type WorkerdProcess } from '../helpers/wrangler-dev.ts';

const ADMIN = 'workers-history-admin-secret-0123456789';

await onWorkerd('workerd history (Durable Object)', () => {
  describe('workerd history and recovery (Durable Object)', () => {
    let gw: WorkerdProcess;
    let t: Target;
    beforeAll(async () => {
      gw = await startWorkerd({ routesDir: routesDir(HISTORY_ROUTES), env: { JWT_SECRET: TEST_SECRET, WSGATE_ADMIN_SECRET: ADMIN } });
      t = {
        url: (path, token) => `ws://127.0.0.1:${gw.port}${path}${path.includes('?') ? '&' : '?'}token=${token}`,
        admin: (path, init = {}) => fetch(`http://127.0.0.1:${gw.port}${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN}` } }),
      };
    }, 30_000);
    afterEach(stopAll);
    afterAll(async () => {
      await gw?.stop();
      await stopProcesses();
    });
    const room = () => `r${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

    it('away 5 s while 100 are published, back with its last offset: exactly those 100 in order, then live', async () => {
      await awayAndBack(t, t, room()); // each publish crosses wrangler dev: ~35 s here, not 5
    }, 120_000);
    it('an offset older than the history (or another epoch) gets gap with the current offset', async () => {
      await tooOld(t, room());
    }, 30_000);
  });
});
