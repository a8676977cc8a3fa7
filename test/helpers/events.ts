/** Hub-route JSON events as a client received them (text messages parsed, others skipped). */
import type { TestClient } from './gateway.ts';

export type Ev = { type: string; channel?: string; user?: string; from?: string | null; data?: unknown; users?: Array<{ user: string; connections: number }> };

export function events(c: TestClient): Ev[] {
  const out: Ev[] = [];
  for (const m of c.messages) {
    if (m.isBinary) continue;
    try {
      out.push(JSON.parse(m.data.toString()) as Ev);
    } catch {
      /* raw text */
    }
  }
  return out;
}

export const has = (c: TestClient, pred: (e: Ev) => boolean): boolean => events(c).some(pred);

/** The `presence` snapshot a connection gets first on joining, listing `user`. */
export const snapshotWith = (user: string) => (e: Ev): boolean => e.type === 'presence' && !!e.users?.some((u) => u.user === user);
