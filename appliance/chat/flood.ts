/**
 * The checks every message passes in Redis, shared by every web instance, in one round trip: the
 * author's time-out, the channel's slow mode, and the author's token bucket (flood control). A
 * refused message costs nothing: no token, no slow-mode wait.
 */
import type {Redis, Result} from 'ioredis'

const timeoutKey = (channel: string, userId: string): string => `shing:chat:timeout:${channel}:${userId}`
const slowKey = (channel: string, userId: string): string => `shing:chat:slow:${channel}:${userId}`
const bucketKey = (userId: string): string => `shing:chat:bucket:${userId}`

// KEYS: timeout, slow, bucket. ARGV: slow-mode seconds (0: none), burst, refill per second.
// Returns {0} (go on), {1, until ms} (timed out), {2, wait ms} (slow mode), {3, wait ms} (flood).
const CHECK = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local untilMs = tonumber(redis.call('GET', KEYS[1]) or '0')
if untilMs > now then return {1, untilMs} end
local slow = tonumber(ARGV[1])
if slow > 0 then
  local ttl = redis.call('PTTL', KEYS[2])
  if ttl > 0 then return {2, ttl} end
end
local burst = tonumber(ARGV[2])
local rate = tonumber(ARGV[3]) / 1000
local state = redis.call('HMGET', KEYS[3], 'tokens', 'at')
local tokens = tonumber(state[1] or burst)
local at = tonumber(state[2] or now)
tokens = math.min(burst, tokens + (now - at) * rate)
if tokens < 1 then return {3, math.ceil((1 - tokens) / rate)} end
redis.call('HSET', KEYS[3], 'tokens', tostring(tokens - 1), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[3], math.ceil(burst / rate) + 1000)
if slow > 0 then redis.call('SET', KEYS[2], '1', 'PX', slow * 1000) end
return {0}
`

export type FloodVerdict = {ok: true} | {ok: false; reason: 'timed-out'; until: Date} | {ok: false; reason: 'slow-mode' | 'flood'; waitMs: number}

declare module 'ioredis' {
  interface RedisCommander<Context> {
    shingChatCheck(timeout: string, slow: string, bucket: string, slowSeconds: number, burst: number, perSecond: number): Result<number[], Context>
  }
}

export class ChatFloodGate {
  constructor(
    private readonly redis: Redis,
    private readonly limits: {burst: number; perSecond: number},
  ) {
    if (this.redis.shingChatCheck === undefined) redis.defineCommand('shingChatCheck', {numberOfKeys: 3, lua: CHECK})
  }

  /** Whether this author may send now; a yes takes a token (and starts the slow-mode wait). */
  async check(channel: string, userId: string, slowModeSeconds: number): Promise<FloodVerdict> {
    const [code, value] = await this.redis.shingChatCheck(timeoutKey(channel, userId), slowKey(channel, userId), bucketKey(userId), slowModeSeconds, this.limits.burst, this.limits.perSecond)
    if (code === 1) return {ok: false, reason: 'timed-out', until: new Date(value ?? 0)}
    if (code === 2) return {ok: false, reason: 'slow-mode', waitMs: value ?? 0}
    if (code === 3) return {ok: false, reason: 'flood', waitMs: value ?? 0}
    return {ok: true}
  }

  async timeOut(channel: string, userId: string, seconds: number): Promise<Date> {
    const until = new Date(Date.now() + seconds * 1000)
    await this.redis.set(timeoutKey(channel, userId), String(until.getTime()), 'PX', seconds * 1000)
    return until
  }

  /** When this author's time-out ends, or undefined when none runs. */
  async timedOutUntil(channel: string, userId: string): Promise<Date | undefined> {
    const until = Number((await this.redis.get(timeoutKey(channel, userId))) ?? 0)
    return until > Date.now() ? new Date(until) : undefined
  }

  async endTimeout(channel: string, userId: string): Promise<void> {
    await this.redis.del(timeoutKey(channel, userId))
  }
}
