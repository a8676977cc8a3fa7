/**
 * Presence on Redis (presence-store.ts): one hash per channel (`<base>:presence:<channel>`,
 * fields `<instance>\n<connId>` → user) and one hash of instance leases
 * (`<base>:presence-instances`, instance → expiry in ms on the Redis server's clock, so instance
 * clocks never matter). Reads are one script each (HGETALL of the leases, HGETALL of the channel,
 * prune the fields of lapsed instances). A channel hash expires 3 leases after its last writer
 * stopped renewing it, so abandoned channels do not pile up.
 */
import type { Redis } from 'ioredis';
import { field, parseField, type PresenceMember, type PresenceStore } from './presence-store.ts';

const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;
/** Live instances into `live`; lapsed ones removed from the lease hash (KEYS[2]). */
const LIVE = `${NOW}
local live = {} local lapsed = {}
local l = redis.call('HGETALL', KEYS[2])
for i = 1, #l, 2 do if tonumber(l[i + 1]) > now then live[l[i]] = true else lapsed[#lapsed + 1] = l[i] end end
if #lapsed > 0 then redis.call('HDEL', KEYS[2], unpack(lapsed)) end`;
/** Members of KEYS[1] whose instance is live into `out` (field, user, ...); prunes the others. */
const MEMBERS = `${LIVE}
local out = {} local dead = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local f = all[i]
  local sep = string.find(f, '\\n', 1, true)
  if sep and live[string.sub(f, 1, sep - 1)] then out[#out + 1] = f out[#out + 1] = all[i + 1] else dead[#dead + 1] = f end
end
for i = 1, #dead, 1000 do redis.call('HDEL', KEYS[1], unpack(dead, i, math.min(i + 999, #dead))) end`;

const SCRIPTS = {
  wsgPresenceJoin: {
    numberOfKeys: 2,
    lua: `${NOW}
local lapsed = 0
if tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') <= now then
  lapsed = 1 redis.call('HSET', KEYS[2], ARGV[1], now + tonumber(ARGV[4]))
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return lapsed`,
  },
  wsgPresenceRenew: {
    numberOfKeys: 1,
    lua: `${NOW}
local prev = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
redis.call('HSET', KEYS[1], ARGV[1], now + tonumber(ARGV[2]))
for i = 3, #ARGV do redis.call('PEXPIRE', ARGV[i], ARGV[3]) end
if prev <= now then return 1 end return 0`,
  },
  wsgPresenceMembers: { numberOfKeys: 2, lua: `${MEMBERS}\nreturn out` },
  wsgPresenceCount: { numberOfKeys: 2, lua: `${MEMBERS}\nreturn #out / 2` },
  wsgPresenceInstances: {
    numberOfKeys: 2,
    lua: `${LIVE}\nlocal ids = {} for id in pairs(live) do ids[#ids + 1] = id end return ids`,
  },
} as const;

type Scripted = {
  [K in keyof typeof SCRIPTS]: (...args: Array<string | number>) => Promise<unknown>;
};

export function createRedisPresence(client: Redis, base: string): PresenceStore {
  for (const [name, def] of Object.entries(SCRIPTS)) client.defineCommand(name, def);
  const r = client as unknown as Scripted;
  const leases = `${base}:presence-instances`;
  const key = (channel: string) => `${base}:presence:${channel}`;
  // A channel hash outlives its writers' last renewal by three leases (renewed every lease / 3).
  const keyTtl = (leaseMs: number) => Math.ceil(leaseMs * 3);

  return {
    async join(channel, instance, conn, user, leaseMs) {
      return (await r.wsgPresenceJoin(key(channel), leases, instance, field(instance, conn), user, Math.ceil(leaseMs), keyTtl(leaseMs))) === 1;
    },
    async leave(channel, instance, conn) {
      await client.hdel(key(channel), field(instance, conn));
    },
    async renew(instance, leaseMs, channels) {
      // Renewal cost per instance: one lease write; the PEXPIREs ride in the same script call
      // (channel keys as arguments: a single-node script, as is every script here).
      return (await r.wsgPresenceRenew(leases, instance, Math.ceil(leaseMs), keyTtl(leaseMs), ...channels.map(key))) === 1;
    },
    async restore(instance, leaseMs, members) {
      const p = client.pipeline();
      for (const [channel, conns] of members) {
        if (conns.size === 0) continue;
        const flat: string[] = [];
        for (const [conn, user] of conns) flat.push(field(instance, conn), user);
        p.hset(key(channel), ...flat);
        p.pexpire(key(channel), keyTtl(leaseMs));
      }
      // The lease first: a reader that sees it lapsed would prune the members being restored.
      await r.wsgPresenceRenew(leases, instance, Math.ceil(leaseMs), keyTtl(leaseMs));
      await check(await p.exec());
    },
    async members(channel) {
      const flat = (await r.wsgPresenceMembers(key(channel), leases)) as string[];
      const out: PresenceMember[] = [];
      for (let i = 0; i < flat.length; i += 2) out.push({ ...parseField(flat[i]!), user: flat[i + 1]! });
      return out;
    },
    async count(channel) {
      return Number(await r.wsgPresenceCount(key(channel), leases));
    },
    async instances() {
      return (await r.wsgPresenceInstances(leases, leases)) as string[];
    },
    async drop(instance, members) {
      const p = client.pipeline();
      p.hdel(leases, instance);
      for (const [channel, conns] of members) if (conns.size > 0) p.hdel(key(channel), ...[...conns.keys()].map((c) => field(instance, c)));
      await check(await p.exec());
    },
  };
}

async function check(results: Array<[Error | null, unknown]> | null): Promise<void> {
  const failed = results?.find(([err]) => err);
  if (failed) throw failed[0];
}
