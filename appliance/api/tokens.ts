/**
 * Personal access tokens (`accessTokens` in MongoDB): a script's way into the API as its user,
 * limited to the scopes the user chose. The token is shown once, at creation; MongoDB keeps only
 * its SHA-256 (the token is 256 random bits: no salt or slow hash is needed against guessing),
 * so a database dump gives nobody a token that works.
 */
import {createHash, randomBytes} from 'node:crypto'

import {ObjectId, type Collection, type Db} from 'mongodb'

import {FieldError} from '../platform/field-error.js'

export const ACCESS_TOKENS_COLLECTION = 'accessTokens'
/** read: the account and its channels; stream-keys: make and revoke its channels' keys; admin: the admin API (admins only). */
export const tokenScopes = ['read', 'stream-keys', 'admin'] as const
export type TokenScope = (typeof tokenScopes)[number]

const TOKEN_PREFIX = 'shing_pat_'
/** shing_pat_ and 32 random bytes in base64url: a secret scanner finds it by its prefix. */
export const TOKEN_PATTERN = /^shing_pat_[A-Za-z0-9_-]{43}$/
export const TOKEN_NAME_MAX = 60
export const MAX_TOKENS_PER_USER = 20
/** Last-used times are written at most this often per token: a busy script costs no write per request. */
const LAST_USED_RESOLUTION_MS = 60_000

export interface AccessTokenDoc {
  _id: ObjectId
  userId: string
  name: string
  scopes: TokenScope[]
  /** SHA-256 of the token, hex. */
  hash: string
  createdAt: Date
  lastUsedAt?: Date
}

/** What a list shows of a token: never the token. */
export type AccessTokenInfo = Omit<AccessTokenDoc, 'hash'>

export class TokenInputError extends FieldError<'name' | 'scopes'> {
  override name = 'TokenInputError'
}

const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex')

export class AccessTokens {
  readonly collection: Collection<AccessTokenDoc>

  constructor(db: Db) {
    this.collection = db.collection<AccessTokenDoc>(ACCESS_TOKENS_COLLECTION)
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({hash: 1}, {unique: true, name: 'hash_unique'})
    await this.collection.createIndex({userId: 1})
  }

  /** Makes a token for a user; `admin` only when the user is an admin. The token is in the answer and nowhere else. */
  async create(input: {userId: string; isAdmin: boolean; name: string; scopes: readonly string[]}): Promise<{token: string; info: AccessTokenInfo}> {
    const name = input.name.trim()
    if (name === '' || name.length > TOKEN_NAME_MAX) throw new TokenInputError('name', `Name the token (1-${TOKEN_NAME_MAX} characters), after the script that uses it.`)
    const unknown = input.scopes.find((scope) => !(tokenScopes as readonly string[]).includes(scope))
    if (unknown !== undefined) throw new TokenInputError('scopes', `There is no scope ${JSON.stringify(unknown.slice(0, 40))}: choose from ${tokenScopes.join(', ')}.`)
    const scopes = tokenScopes.filter((scope) => input.scopes.includes(scope))
    if (scopes.length === 0) throw new TokenInputError('scopes', 'Choose at least one scope: what the script may do.')
    if (scopes.includes('admin') && !input.isAdmin) throw new TokenInputError('scopes', 'Only an admin can make a token with the admin scope.')
    if ((await this.collection.countDocuments({userId: input.userId})) >= MAX_TOKENS_PER_USER) {
      throw new TokenInputError('name', `You have ${MAX_TOKENS_PER_USER} tokens already: revoke one you no longer use first.`)
    }
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url')
    const doc: AccessTokenDoc = {_id: new ObjectId(), userId: input.userId, name, scopes, hash: hashToken(token), createdAt: new Date()}
    await this.collection.insertOne(doc)
    const {hash: _hash, ...info} = doc
    return {token, info}
  }

  list(userId: string): Promise<AccessTokenInfo[]> {
    return this.collection.find({userId}, {projection: {hash: 0}}).sort({createdAt: -1}).toArray()
  }

  /** Revokes one of the user's tokens (it is deleted: it never works again); false when there was none. */
  async revoke(userId: string, id: string): Promise<boolean> {
    if (!ObjectId.isValid(id)) return false
    return (await this.collection.deleteOne({_id: new ObjectId(id), userId})).deletedCount === 1
  }

  /** The token's document, or null for a malformed, unknown or revoked token; notes when it was last used. */
  async verify(token: string, now = new Date()): Promise<AccessTokenDoc | null> {
    if (!TOKEN_PATTERN.test(token)) return null
    const doc = await this.collection.findOne({hash: hashToken(token)})
    if (doc !== null && (doc.lastUsedAt === undefined || now.getTime() - doc.lastUsedAt.getTime() >= LAST_USED_RESOLUTION_MS)) {
      await this.collection.updateOne({_id: doc._id}, {$set: {lastUsedAt: now}})
    }
    return doc
  }
}
