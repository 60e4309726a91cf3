/**
 * The links account mail carries: a random token, known only to the mail and kept in Redis as its
 * SHA-256 (a Redis dump holds no usable link), expiring by itself. A link works once: following
 * it takes the record (GETDEL), so two clicks or a replayed link find nothing.
 */
import {createHash, randomBytes} from 'node:crypto'

import type {Redis} from 'ioredis'

export const mailLinkKinds = {
  /** Confirms the address an account signed up with. */
  verify: {ttlSeconds: 48 * 3600},
  /** Sets a new password; a password changed meanwhile makes it void (see `stamp`). */
  reset: {ttlSeconds: 3600},
  /** Moves an account to a new address, confirmed from that address. */
  'email-change': {ttlSeconds: 24 * 3600},
} as const
export type MailLinkKind = keyof typeof mailLinkKinds

export interface MailLinkRecord {
  userId: string
  /** The address the link was sent to (a verification is for that address only). */
  email: string
  /** For a reset: a fingerprint of the password it replaces. */
  stamp?: string
}

const key = (kind: MailLinkKind, token: string): string => `shing:mail-link:${kind}:${createHash('sha256').update(token).digest('hex')}`

/** A token is 32 random bytes, base64url: 43 characters. */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/

export class MailLinks {
  constructor(private readonly redis: Redis) {}

  async create(kind: MailLinkKind, record: MailLinkRecord): Promise<string> {
    const token = randomBytes(32).toString('base64url')
    await this.redis.set(key(kind, token), JSON.stringify(record), 'EX', mailLinkKinds[kind].ttlSeconds)
    return token
  }

  /** What the link is for, without using it up (a page that shows a form first). */
  async peek(kind: MailLinkKind, token: string): Promise<MailLinkRecord | undefined> {
    if (!TOKEN_PATTERN.test(token)) return undefined
    return parse(await this.redis.get(key(kind, token)))
  }

  /** Uses the link up: only the first caller gets its record. */
  async take(kind: MailLinkKind, token: string): Promise<MailLinkRecord | undefined> {
    if (!TOKEN_PATTERN.test(token)) return undefined
    return parse(await this.redis.getdel(key(kind, token)))
  }
}

function parse(value: string | null): MailLinkRecord | undefined {
  if (value === null) return undefined
  return JSON.parse(value) as MailLinkRecord
}

/** Changes whenever the password does: a reset link made before a change is void after it. */
export const passwordStamp = (passwordHash: string): string => createHash('sha256').update(passwordHash).digest('hex').slice(0, 16)
