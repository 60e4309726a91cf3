/**
 * Server-side sessions in Redis, for @fastify/session: every web instance reads the same ones, and
 * a log-out, a "log out everywhere", a password change or a ban ends them at once everywhere.
 * Each session is `shing:session:<id>` (JSON, expiring with its cookie); each user's session ids are
 * also in the set `shing:user-sessions:<user id>`, which is how all of them are found.
 */
import type {SessionStore} from '@fastify/session'
import type {Session} from 'fastify'
import type {Redis} from 'ioredis'

declare module 'fastify' {
  interface Session {
    /** The logged-in account (its MongoDB id), absent for a visitor. */
    userId?: string
    /** When this log-in happened (ISO). */
    loggedInAt?: string
  }
}

const SESSION_PREFIX = 'shing:session:'
const USER_PREFIX = 'shing:user-sessions:'
/** A logged-in session nobody uses expires after this long (the cookie says the same). */
export const SESSION_TTL_SECONDS = 30 * 24 * 3600
/** A visitor's session (it holds only the CSRF secret of a form) expires after this long. */
export const VISITOR_SESSION_TTL_SECONDS = 2 * 3600

type Callback = (error?: unknown) => void

export class RedisSessionStore implements SessionStore {
  constructor(private readonly redis: Redis) {}

  set(sessionId: string, session: Session, callback: Callback): void {
    const expires = session.cookie.expires === null || session.cookie.expires === undefined ? undefined : new Date(session.cookie.expires).getTime()
    const ttl = expires === undefined ? SESSION_TTL_SECONDS : Math.max(1, Math.ceil((expires - Date.now()) / 1000))
    const multi = this.redis.multi().set(SESSION_PREFIX + sessionId, JSON.stringify(session), 'EX', ttl)
    if (session.userId !== undefined) multi.sadd(USER_PREFIX + session.userId, sessionId).expire(USER_PREFIX + session.userId, SESSION_TTL_SECONDS)
    multi.exec().then(() => callback(), callback)
  }

  get(sessionId: string, callback: (error: unknown, session?: Session | null) => void): void {
    this.redis.get(SESSION_PREFIX + sessionId).then(
      (json) => callback(null, json === null ? null : (JSON.parse(json) as Session)),
      (error: unknown) => callback(error),
    )
  }

  destroy(sessionId: string, callback: Callback): void {
    this.redis.del(SESSION_PREFIX + sessionId).then(() => callback(), callback)
  }

  /** Ends every session of a user (on every web instance at once); how many there were. */
  async endAll(userId: string, except?: string): Promise<number> {
    const ids = (await this.redis.smembers(USER_PREFIX + userId)).filter((id) => id !== except)
    if (ids.length === 0) return 0
    const multi = this.redis.multi().del(...ids.map((id) => SESSION_PREFIX + id))
    multi.srem(USER_PREFIX + userId, ...ids)
    const results = await multi.exec()
    return Number(results?.[0]?.[1] ?? 0)
  }

  /** How many of a user's sessions are still alive (expired ones leave the set here). */
  async count(userId: string): Promise<number> {
    const ids = await this.redis.smembers(USER_PREFIX + userId)
    if (ids.length === 0) return 0
    const exists = ids.reduce((multi, id) => multi.exists(SESSION_PREFIX + id), this.redis.multi())
    const answers = (await exists.exec()) ?? []
    const dead = ids.filter((_, i) => answers[i]?.[1] !== 1)
    if (dead.length > 0) await this.redis.srem(USER_PREFIX + userId, ...dead)
    return ids.length - dead.length
  }
}
