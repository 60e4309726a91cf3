/**
 * The account operations an admin runs from the terminal (`shing user …`), for a site whose
 * admins are locked out or that has none yet: passwords are generated here and shown once, so
 * none travels on a command line.
 */
import {randomBytes} from 'node:crypto'

import type {Redis} from 'ioredis'
import type {Db} from 'mongodb'

import type {CreatedUser, PasswordReset, Role, TwoFactorReset} from '../contract/index.js'
import {RedisSessionStore} from './sessions.js'
import {Users} from './users.js'

/** 18 random bytes as base64url: 24 characters, 144 bits. */
const generatePassword = (): string => randomBytes(18).toString('base64url')

/** An account that is not there: the admin can fix the name. */
export class UnknownUserError extends Error {
  override name = 'UnknownUserError'
  constructor(username: string) {
    super(`no account is named ${JSON.stringify(username)}`)
  }
}

export async function createUser(db: Db, input: {username: string; email: string; role: Role}): Promise<CreatedUser> {
  const users = new Users(db)
  await users.ensureIndexes()
  const password = generatePassword()
  const user = await users.create({...input, password})
  return {username: user.username, email: user.email, role: user.role, password, createdAt: user.createdAt.toISOString()}
}

export async function resetPassword(db: Db, redis: Redis, username: string): Promise<PasswordReset> {
  const users = new Users(db)
  const user = await users.byUsername(username)
  if (user === null) throw new UnknownUserError(username)
  const password = generatePassword()
  await users.setPassword(user._id, password, user.username)
  const sessionsEnded = await new RedisSessionStore(redis).endAll(user._id.toHexString())
  return {username: user.username, password, sessionsEnded}
}

/** Turns two-factor log-in off, for someone who lost their phone and their recovery codes. */
export async function resetTwoFactor(db: Db, username: string): Promise<TwoFactorReset> {
  const users = new Users(db)
  const user = await users.byUsername(username)
  if (user === null) throw new UnknownUserError(username)
  return {username: user.username, wasOn: await users.disableTotp(user._id)}
}
