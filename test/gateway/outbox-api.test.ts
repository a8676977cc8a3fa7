/**
 * The publish API while the store is away (a store whose broker is down, in process): 202
 * `{ queued: true, recipients, delivered }` while the outage outbox has room — delivered to this
 * instance's members at once — and 503 `store_unavailable` once it is full (1,000 messages).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connectClient, startGateway, stopAll, until } from '../helpers/gateway.ts';
import { events, snapshotWith } from '../helpers/events.ts';
import { createMemoryStore } from '../../src/store/memory.ts';
import type { Store } from '../../src/store/types.ts';
import { OUTBOX_LIMITS } from '../../src/core/outbox.ts';
import { claims, hs } from '../helpers/tokens.ts';

const ADMIN = 'outbox-api-admin-secret-0123456789';
afterEach(stopAll);

function brokerDown(): Store {
  const m = createMemoryStore();
  const down = () => Promise.reject(new Error('broker down'));
  return { ...m, health: () => 'degraded', pubsub: { publish: down, subscribe: down }, history: { publish: down, read: down } };
}

describe('publish API during a store outage', () => {
  it('answers 202 queued while the outbox has room, 503 store_unavailable once it is full', async () => {
    const gw = await startGateway([{ path: '/chat/:room', channel: 'room:{room}', heartbeat: 'off' }], { adminSecret: ADMIN, store: brokerDown() });
    const c = await connectClient(gw.url('/chat/x', await hs(claims({ sub: 'alice' }))));
    await until(() => events(c).some(snapshotWith('alice')), 3000, 'joined');
    const post = (body: string) => gw.http('/_wsgate/channels/room:x/messages', { method: 'POST', body, headers: { authorization: `Bearer ${ADMIN}` } });
    const first = await post('m0');
    expect(first.status).toBe(202);
    expect(await first.json()).toEqual({ queued: true, recipients: 1, delivered: 1 });
    for (let i = 1; i < OUTBOX_LIMITS.maxMessages; i++) expect((await post(`m${i}`)).status).toBe(202);
    const full = await post('overflow');
    expect(full.status).toBe(503);
    expect(await full.json()).toMatchObject({ error: 'store_unavailable' });
    // Every one of them reached the local member, the refused one included.
    await until(() => events(c).filter((e) => e.type === 'message').length === OUTBOX_LIMITS.maxMessages + 1, 5000, 'local deliveries');
  });
});
