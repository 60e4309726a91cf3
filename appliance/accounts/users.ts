/**
 * Accounts in MongoDB (`users`). Usernames and e-mail addresses are unique without regard to case
 * (a lower-cased key each, with a unique index); the username is also the URL of the user.
 */
import {MongoServerError, ObjectId, type Collection, type Db} from 'mongodb'

import {roles, type Role} from '../contract/index.js'
import {FieldError} from '../platform/field-error.js'
import {decoyHash, hashPassword, passwordProblem, verifyPassword} from './passwords.js'
import type {TotpRecord} from './two-factor.js'

export const USERS_COLLECTION = 'users'
export {roles, type Role}
/** pending: signed up on a site where an admin approves new accounts, not approved yet. */
export const accountStatuses = ['active', 'pending', 'suspended', 'banned'] as const
export type AccountStatus = (typeof accountStatuses)[number]

/** 3-30 of letters, digits, _ and -, starting with a letter or digit. */
export const USERNAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{2,29}$/
/** Enough of RFC 5322 to catch typos; the verification mail checks the rest. */
const EMAIL_PATTERN = /^[^\s@<>"']{1,64}@[^\s@<>"']+\.[^\s@<>"']{2,}$/

export interface UserDoc {
  _id: ObjectId
  username: string
  usernameKey: string
  email: string
  emailKey: string
  passwordHash: string
  role: Role
  status: AccountStatus
  createdAt: Date
  passwordChangedAt?: Date
  /** When the owner followed the verification link sent to `email` (absent: not verified). */
  emailVerifiedAt?: Date
  /** Two-factor log-in, when its owner turned it on. */
  totp?: TotpRecord
}

/** What a page may know of the person looking at it. */
export interface Viewer {
  id: string
  username: string
  role: Role
  /** The account's address is confirmed (on a site that sends mail; see Outbox.enabled). */
  emailVerified: boolean
}

export const viewerOf = (user: UserDoc): Viewer => ({id: user._id.toHexString(), username: user.username, role: user.role, emailVerified: user.emailVerifiedAt !== undefined})

export class AccountInputError extends FieldError<'username' | 'email' | 'password'> {
  override name = 'AccountInputError'
}

export function usernameProblem(username: string): string | undefined {
  if (!USERNAME_PATTERN.test(username)) return 'Use 3-30 letters, digits, _ or -, starting with a letter or digit.'
  return undefined
}

export function emailProblem(email: string): string | undefined {
  if (email.length > 254 || !EMAIL_PATTERN.test(email)) return 'Enter an e-mail address such as name@example.org.'
  return undefined
}

export class Users {
  readonly collection: Collection<UserDoc>

  constructor(db: Db) {
    this.collection = db.collection<UserDoc>(USERS_COLLECTION)
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({usernameKey: 1}, {unique: true, name: 'username_unique'})
    await this.collection.createIndex({emailKey: 1}, {unique: true, name: 'email_unique'})
  }

  /** Creates an account; AccountInputError names the field to fix (a taken name or address among them). */
  async create(input: {username: string; email: string; password: string; role?: Role; status?: AccountStatus}): Promise<UserDoc> {
    const username = input.username.trim()
    const email = input.email.trim()
    const problems = [
      ['username', usernameProblem(username)],
      ['email', emailProblem(email)],
      ['password', passwordProblem(input.password, username)],
    ] as const
    for (const [field, problem] of problems) if (problem !== undefined) throw new AccountInputError(field, problem)
    const user: UserDoc = {
      _id: new ObjectId(),
      username,
      usernameKey: username.toLowerCase(),
      email,
      emailKey: email.toLowerCase(),
      passwordHash: await hashPassword(input.password),
      role: input.role ?? 'user',
      status: input.status ?? 'active',
      createdAt: new Date(),
    }
    try {
      await this.collection.insertOne(user)
    } catch (error) {
      if (error instanceof MongoServerError && error.code === 11000) {
        // Which index refused it: the username (public anyway) or the address.
        if (await this.collection.findOne({usernameKey: user.usernameKey}, {projection: {_id: 1}})) throw new AccountInputError('username', 'That username is taken; choose another.', true)
        throw new AccountInputError('email', 'An account already uses this e-mail address: log in instead.', true)
      }
      throw error
    }
    return user
  }

  async remove(id: ObjectId): Promise<void> {
    await this.collection.deleteOne({_id: id})
  }

  byId(id: string): Promise<UserDoc | null> {
    if (!ObjectId.isValid(id)) return Promise.resolve(null)
    return this.collection.findOne({_id: new ObjectId(id)})
  }

  byUsername(username: string): Promise<UserDoc | null> {
    return this.collection.findOne({usernameKey: username.trim().toLowerCase()})
  }

  /**
   * The account for a username or e-mail address and its password, or null. An unknown name costs
   * as much time as a wrong password, so the answer's timing tells nobody which names exist.
   */
  async authenticate(login: string, password: string): Promise<UserDoc | null> {
    const user = await this.byLogin(login)
    if (user === null) {
      await verifyPassword(password, await decoyHash())
      return null
    }
    return (await verifyPassword(password, user.passwordHash)) ? user : null
  }

  /** The account for a username or an e-mail address (any case). */
  byLogin(login: string): Promise<UserDoc | null> {
    const key = login.trim().toLowerCase()
    return this.collection.findOne(key.includes('@') ? {emailKey: key} : {usernameKey: key})
  }

  /** Confirms the address, if the account still has the one the link was sent to. */
  async markEmailVerified(id: ObjectId, email: string): Promise<boolean> {
    const result = await this.collection.updateOne({_id: id, emailKey: email.toLowerCase()}, {$set: {emailVerifiedAt: new Date()}})
    return result.matchedCount === 1
  }

  /** Moves the account to a new address; `verified` when its owner proved they read it. */
  async setEmail(id: ObjectId, email: string, verified: boolean): Promise<void> {
    const problem = emailProblem(email)
    if (problem !== undefined) throw new AccountInputError('email', problem)
    try {
      await this.collection.updateOne(
        {_id: id},
        verified ? {$set: {email, emailKey: email.toLowerCase(), emailVerifiedAt: new Date()}} : {$set: {email, emailKey: email.toLowerCase()}, $unset: {emailVerifiedAt: ''}},
      )
    } catch (error) {
      if (error instanceof MongoServerError && error.code === 11000) throw new AccountInputError('email', 'Another account uses this e-mail address.', true)
      throw error
    }
  }

  async enableTotp(id: ObjectId, totp: TotpRecord): Promise<void> {
    await this.collection.updateOne({_id: id}, {$set: {totp}})
  }

  /** Turns two-factor log-in off; false when it was not on. */
  async disableTotp(id: ObjectId): Promise<boolean> {
    const result = await this.collection.updateOne({_id: id, totp: {$exists: true}}, {$unset: {totp: ''}})
    return result.modifiedCount === 1
  }

  /** Records a code's time step; false when as new a code was used already (a replay, or a race). */
  async useTotpStep(id: ObjectId, step: number): Promise<boolean> {
    const result = await this.collection.updateOne(
      {_id: id, totp: {$exists: true}, $or: [{'totp.lastStep': {$exists: false}}, {'totp.lastStep': {$lt: step}}]},
      {$set: {'totp.lastStep': step}},
    )
    return result.modifiedCount === 1
  }

  /** Uses a recovery code up; false when the account has no such code (left). */
  async useRecoveryCode(id: ObjectId, hash: string): Promise<boolean> {
    const result = await this.collection.updateOne({_id: id, 'totp.recoveryHashes': hash}, {$pull: {'totp.recoveryHashes': hash}})
    return result.modifiedCount === 1
  }

  async setRecoveryCodes(id: ObjectId, hashes: string[]): Promise<void> {
    await this.collection.updateOne({_id: id, totp: {$exists: true}}, {$set: {'totp.recoveryHashes': hashes}})
  }

  /** Accounts whose username or e-mail starts with `query` (any case), or the newest ones when it is empty. */
  search(query: string, limit = 50): Promise<UserDoc[]> {
    const key = query.trim().toLowerCase()
    const prefix = new RegExp(`^${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`)
    const filter = key === '' ? {} : {$or: [{usernameKey: prefix}, {emailKey: prefix}]}
    return this.collection.find(filter, {projection: {passwordHash: 0}}).sort({createdAt: -1}).limit(limit).toArray() as Promise<UserDoc[]>
  }

  async setPassword(id: ObjectId, password: string, username: string): Promise<void> {
    const problem = passwordProblem(password, username)
    if (problem) throw new AccountInputError('password', problem)
    await this.collection.updateOne({_id: id}, {$set: {passwordHash: await hashPassword(password), passwordChangedAt: new Date()}})
  }

  async setStatus(id: ObjectId, status: AccountStatus): Promise<void> {
    await this.collection.updateOne({_id: id}, {$set: {status}})
  }

  /**
   * Makes the account admin if the site has none yet; false otherwise. (Two first admins at the
   * same instant would need two confirmed owners of the one admin address.)
   */
  async promoteFirstAdmin(id: ObjectId): Promise<boolean> {
    if ((await this.collection.findOne({role: 'admin'}, {projection: {_id: 1}})) !== null) return false
    return (await this.collection.updateOne({_id: id}, {$set: {role: 'admin'}})).modifiedCount === 1
  }

  async setRole(id: ObjectId, role: Role): Promise<void> {
    await this.collection.updateOne({_id: id}, {$set: {role}})
  }
}
