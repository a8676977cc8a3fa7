import { describe, expect, it } from 'vitest';
import memoryDriver from 'unstorage/drivers/memory';
import { withTtl } from '../../../src/store/ttl-driver.ts';

describe('withTtl', () => {
  it('sweeps expired keys out of the inner driver on writes, so unread leases do not leak', async () => {
    let now = 0;
    const inner = memoryDriver();
    const data = inner.getInstance?.() as Map<string, unknown>;
    const driver = withTtl(inner, { now: () => now, sweepIntervalMs: 1000 });
    for (let i = 0; i < 100; i++) await driver.setItem?.(`lease:${i}`, 'x', { ttl: 1 });
    await driver.setItem?.('keep', 'y', {});
    now += 1500;
    await driver.setItem?.('trigger', 'z', {});
    expect([...data.keys()].sort()).toEqual(['keep', 'trigger']);
  });

  it('clears only under the given base', async () => {
    const driver = withTtl(memoryDriver());
    await driver.setItem?.('a:1', '1', {});
    await driver.setItem?.('b:1', '2', {});
    await driver.clear?.('a:', {});
    expect(await driver.getKeys('', {})).toEqual(['b:1']);
  });
});
