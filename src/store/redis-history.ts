/**
 * History on Redis (history-store.ts): per channel a stream `<base>:history:<channel>` (entry id
 * `<offset>-0`, field `m` = the published text) and a meta hash `<base>:history-meta:<channel>`
 * (`epoch`, `top`). One script appends (XADD … MAXLEN size), stamps and PUBLISHes, so the order
 * of a channel's pub/sub messages is the order of its offsets; both keys expire `ttlSec` after
 * the last publish, and a channel whose meta is gone starts a new epoch.
 */
import type { Redis } from 'ioredis';
import { newEpoch, type HistoryEntry, type HistoryStore } from './history-store.ts';

const SCRIPTS = {
  // KEYS: stream, meta. ARGV: topic, wire, size, ttlMs, candidate epoch.
  wsgHistoryPublish: {
    numberOfKeys: 2,
    lua: `
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if not epoch then
  epoch = ARGV[5]
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'epoch', epoch, 'top', 0)
end
local offset = redis.call('HINCRBY', KEYS[2], 'top', 1)
local message = '{"o":' .. offset .. ',"ep":"' .. epoch .. '",' .. string.sub(ARGV[2], 2)
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[3], offset .. '-0', 'm', message)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('PUBLISH', ARGV[1], message)
return {offset, epoch}`,
  },
  // KEYS: stream, meta. ARGV: since, limit, candidate epoch, ttlMs for a new epoch.
  wsgHistoryRead: {
    numberOfKeys: 2,
    lua: `
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if not epoch then
  epoch = ARGV[3]
  redis.call('HSET', KEYS[2], 'epoch', epoch, 'top', 0)
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
local top = tonumber(redis.call('HGET', KEYS[2], 'top'))
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local firstOffset = top + 1
if #first > 0 then firstOffset = tonumber(string.match(first[1][1], '^(%d+)')) end
local since = tonumber(ARGV[1])
if since < firstOffset - 1 or since > top then return {epoch, top, 0} end
local out = {epoch, top, 1}
if since < top then
  local entries = redis.call('XRANGE', KEYS[1], '(' .. since .. '-0', '+', 'COUNT', ARGV[2])
  for _, e in ipairs(entries) do out[#out + 1] = e[2][2] end
end
return out`,
  },
} as const;

type Scripted = { [K in keyof typeof SCRIPTS]: (...args: Array<string | number>) => Promise<unknown> };

export function createRedisHistory(client: Redis, base: string, prefix: string): HistoryStore {
  for (const [name, def] of Object.entries(SCRIPTS)) client.defineCommand(name, def);
  const r = client as unknown as Scripted;
  const keys = (channel: string) => [`${base}:history:${channel}`, `${base}:history-meta:${channel}`];

  return {
    async publish(channel, topic, wire, opts) {
      const [offset, epoch] = (await r.wsgHistoryPublish(...keys(channel), prefix + topic, wire, opts.size, opts.ttlSec * 1000, newEpoch())) as [number, string];
      return { offset: Number(offset), epoch };
    },
    async read(channel, since, epoch, limit) {
      const [current, top, complete, ...messages] = (await r.wsgHistoryRead(...keys(channel), since, limit, newEpoch(), 60_000)) as [string, number, number, ...string[]];
      const ok = complete === 1 && (epoch === undefined || epoch === current);
      const entries: HistoryEntry[] = ok ? messages.map((message, i) => ({ offset: since + 1 + i, message })) : [];
      return { epoch: current, top: Number(top), entries, complete: ok };
    },
  };
}
