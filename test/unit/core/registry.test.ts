// The registry's indexes are private: lookups go through methods, and only add/remove change them.
import { describe, expect, it } from 'vitest';
import { Registry } from '../../../src/core/registry.ts';
import type { Session } from '../../../src/core/session.ts';

/** The fields of a Session the registry reads. */
const session = (id: string, userId?: string, channel?: string, route = 'chat') =>
  ({ id, userId, channel, route: { name: route, upstreams: route === 'echo' ? ['ws://up/'] : [] } }) as unknown as Session;

describe('Registry', () => {
  it('finds connections by id, user and channel, and empties every index on remove', () => {
    const r = new Registry();
    const a = session('a', 'ann', 'room');
    const b = session('b', 'ann', undefined, 'echo');
    const c = session('c', undefined, 'room');
    for (const s of [a, b, c]) r.add(s);
    expect(r.size).toBe(3);
    expect(r.get('b')).toBe(b);
    expect([...r.ofUser('ann')]).toEqual([a, b]);
    expect([...r.inChannel('room')]).toEqual([a, c]);
    expect(r.countUser('ann', 'chat')).toBe(1);
    expect(Object.fromEntries(r.openByRoute())).toEqual({ chat: 2, echo: 1 });
    expect(r.sockets).toBe(4); // two hub connections (one socket each), one relayed (two)
    for (const s of r.all()) r.remove(s); // all() is a snapshot: removing while iterating is safe
    r.remove(a); // twice is harmless
    expect(r.indexSizes()).toEqual({ ids: 0, users: 0, channels: 0, routes: 0 });
    expect(r.sockets).toBe(0);
    expect(r.get('a')).toBeUndefined();
    expect(r.ofUser('ann').size + r.inChannel('room').size).toBe(0);
  });

  it('keeps its indexes private (the typecheck fails here if one becomes public)', () => {
    const r = new Registry();
    r.add(session('a', 'ann', 'room'));
    // @ts-expect-error byId is private: look up with get()/all()
    const byId: Map<string, Session> = r.byId;
    // @ts-expect-error byUser is private: look up with ofUser()
    const byUser: Map<string, Set<Session>> = r.byUser;
    // @ts-expect-error byChannel is private: look up with inChannel()
    const byChannel: Map<string, Set<Session>> = r.byChannel;
    expect([byId.size, byUser.size, byChannel.size]).toEqual([1, 1, 1]);
  });
});
