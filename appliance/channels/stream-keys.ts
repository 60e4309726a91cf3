/**
 * Stream keys: each belongs to a channel. The key itself is shown once, at creation; MongoDB keeps
 * only HMAC-SHA256(streamKeySecret, key), so a database dump gives no one a key that publishes.
 * Lookups (one per publish) are cached in Redis for a few seconds; a revoke overwrites the cache
 * entry, so a revoked key is refused at once, and so does disabling its channel (recache).
 */
import {createHmac, randomBytes} from 'node:crypto'

import type {Redis} from 'ioredis'
import type {Collection, Db} from 'mongodb'
import {z} from 'zod'

import {CHANNEL_PATTERN, type CreatedStreamKey, type RevokeResult, type StreamKeyInfo} from '../contract/index.js'
import {safeJson} from '../platform/json.js'

/** 32 random bytes, base64url (43 characters): fits node-media-server's stream name pattern. */
const KEY_BYTES = 32
/** Long enough to be unique per channel, short enough to type into `revoke --key-id`. */
const KEY_ID_LENGTH = 12
/** A cached answer lives this long; a revoke replaces it, so the TTL only bounds stale "unknown" answers. */
export const KEY_CACHE_TTL_SECONDS = 30
const CACHE_PREFIX = 'shing:stream-key:'

export const STREAM_KEYS_COLLECTION = 'streamKeys'
export const CHANNELS_COLLECTION = 'channels'

/** A channel name is wrong: the user can fix it. */
export class InvalidChannelError extends Error {
  override name = 'InvalidChannelError'
  constructor(channel: string) {
    super(`invalid channel name ${JSON.stringify(channel)}: use 1-63 of a-z, 0-9, _ and -, starting with a letter or digit`)
  }
}

export function assertChannel(channel: string): void {
  if (!CHANNEL_PATTERN.test(channel)) throw new InvalidChannelError(channel)
}

export const newStreamKey = (): string => randomBytes(KEY_BYTES).toString('base64url')

export const hashStreamKey = (secret: string, key: string): string => createHmac('sha256', secret).update(key).digest('hex')

/** What list shows and revoke takes: a prefix of the HMAC, never of the key. */
export const keyIdOf = (hash: string): string => hash.slice(0, KEY_ID_LENGTH)

interface StreamKeyDoc {
  channel: string
  keyId: string
  hash: string
  createdAt: Date
  revokedAt?: Date
  lastUsedAt?: Date
  /** The key the Go-live page publishes with (browserKey): derived, never shown, not listed. */
  browser?: number
}

interface ChannelDoc {
  name: string
  createdAt: Date
  /** A moderator disabled the channel (channels.ts): none of its keys publishes. */
  disabled?: unknown
}

export type KeyLookup =
  | {status: 'ok'; channel: string; keyId: string}
  | {status: 'unknown'}
  | {status: 'revoked'; channel: string; keyId: string}
  | {status: 'disabled'; channel: string; keyId: string}

const cachedLookupSchema = z.discriminatedUnion('status', [
  z.object({status: z.literal('ok'), channel: z.string(), keyId: z.string()}),
  z.object({status: z.literal('unknown')}),
  z.object({status: z.literal('revoked'), channel: z.string(), keyId: z.string()}),
  z.object({status: z.literal('disabled'), channel: z.string(), keyId: z.string()}),
])

const toInfo = (doc: StreamKeyDoc): StreamKeyInfo => ({
  channel: doc.channel,
  keyId: doc.keyId,
  createdAt: doc.createdAt.toISOString(),
  ...(doc.revokedAt === undefined ? {} : {revokedAt: doc.revokedAt.toISOString()}),
  ...(doc.lastUsedAt === undefined ? {} : {lastUsedAt: doc.lastUsedAt.toISOString()}),
})

export interface StreamKeysOptions {
  db: Db
  redis: Redis
  /** The streamKeySecret secret. */
  secret: string
}

export class StreamKeys {
  private readonly keys: Collection<StreamKeyDoc>
  private readonly channels: Collection<ChannelDoc>
  private indexes: Promise<void> | undefined

  constructor(private readonly options: StreamKeysOptions) {
    this.keys = options.db.collection<StreamKeyDoc>(STREAM_KEYS_COLLECTION)
    this.channels = options.db.collection<ChannelDoc>(CHANNELS_COLLECTION)
  }

  /** Once per process; createIndex is a no-op when the index is there. */
  private ensureIndexes(): Promise<void> {
    this.indexes ??= (async () => {
      await this.keys.createIndex({hash: 1}, {unique: true})
      await this.keys.createIndex({channel: 1})
      await this.channels.createIndex({name: 1}, {unique: true})
    })().catch((error: unknown) => {
      this.indexes = undefined
      throw error
    })
    return this.indexes
  }

  async create(channel: string): Promise<CreatedStreamKey> {
    assertChannel(channel)
    await this.ensureIndexes()
    const createdAt = new Date()
    await this.channels.updateOne({name: channel}, {$setOnInsert: {name: channel, createdAt}}, {upsert: true})
    const key = newStreamKey()
    const hash = hashStreamKey(this.options.secret, key)
    await this.keys.insertOne({channel, keyId: keyIdOf(hash), hash, createdAt})
    // A lookup of this hash before now cached "unknown": replace it.
    await this.options.redis.del(CACHE_PREFIX + hash)
    return {channel, keyId: keyIdOf(hash), key, createdAt: createdAt.toISOString()}
  }

  async list(channel?: string): Promise<StreamKeyInfo[]> {
    if (channel !== undefined) assertChannel(channel)
    const docs = await this.keys
      .find({...(channel === undefined ? {} : {channel}), browser: {$exists: false}}, {projection: {hash: 0}})
      .sort({channel: 1, createdAt: 1})
      .toArray()
    return docs.map(toInfo)
  }

  /**
   * The key the channel's browser broadcasts publish with, behind a ticket the ingest checked: a
   * stream key like the others (so a revoke or a disabled channel ends them the same way), derived
   * from the secret and a generation, so MongoDB holds only its hash. After a revoke the next call
   * makes the next generation: the owner, logged in, may go live from the browser again.
   */
  async browserKey(channel: string): Promise<{key: string; keyId: string}> {
    assertChannel(channel)
    await this.ensureIndexes()
    const docs = await this.keys.find({channel, browser: {$exists: true}}, {projection: {browser: 1, revokedAt: 1}}).toArray()
    const current = docs.find((d) => d.revokedAt === undefined)
    const generation = current?.browser ?? Math.max(0, ...docs.map((d) => d.browser ?? 0)) + 1
    const key = createHmac('sha256', this.options.secret).update(`shing browser key ${channel} ${generation}`).digest('base64url')
    const hash = hashStreamKey(this.options.secret, key)
    if (current === undefined) {
      await this.channels.updateOne({name: channel}, {$setOnInsert: {name: channel, createdAt: new Date()}}, {upsert: true})
      // Two tabs at once make the same generation: the second insert finds the first.
      await this.keys.insertOne({channel, keyId: keyIdOf(hash), hash, createdAt: new Date(), browser: generation}).catch((error: unknown) => {
        if ((error as {code?: number}).code !== 11000) throw error
      })
      await this.options.redis.del(CACHE_PREFIX + hash)
    }
    return {key, keyId: keyIdOf(hash)}
  }

  /** Every live key of the channel, or only the one with keyId. */
  async revoke(channel: string, keyId?: string): Promise<RevokeResult> {
    assertChannel(channel)
    const filter = {channel, revokedAt: {$exists: false}, ...(keyId === undefined ? {} : {keyId})}
    const docs = await this.keys.find(filter).toArray()
    if (docs.length === 0) return {channel, revoked: []}
    const revokedAt = new Date()
    await this.keys.updateMany({hash: {$in: docs.map((d) => d.hash)}}, {$set: {revokedAt}})
    // Overwrite (not just delete) the cache entries: a lookup that read MongoDB before the update
    // cannot then cache "ok" again, since it only writes the cache when the entry is absent.
    const pipeline = this.options.redis.multi()
    for (const doc of docs) {
      pipeline.set(CACHE_PREFIX + doc.hash, JSON.stringify({status: 'revoked', channel, keyId: doc.keyId}), 'EX', KEY_CACHE_TTL_SECONDS)
    }
    await pipeline.exec()
    // The browser key goes too (a browser broadcast ends like the others), but it was never listed.
    return {channel, revoked: docs.filter((d) => d.browser === undefined).map((d) => d.keyId)}
  }

  /** The channel a key publishes to: Redis first, then MongoDB (and the answer cached). */
  async lookup(key: string): Promise<KeyLookup> {
    const hash = hashStreamKey(this.options.secret, key)
    const cacheKey = CACHE_PREFIX + hash
    const cached = await this.options.redis.get(cacheKey)
    if (cached !== null) {
      const parsed = cachedLookupSchema.safeParse(safeJson(cached))
      if (parsed.success) return parsed.data
    }
    const doc = await this.keys.findOne({hash})
    const answer: KeyLookup = doc === null ? {status: 'unknown'} : await this.answerFor(doc)
    await this.options.redis.set(cacheKey, JSON.stringify(answer), 'EX', KEY_CACHE_TTL_SECONDS, 'NX')
    return answer
  }

  private async answerFor(doc: StreamKeyDoc, channelDisabled?: boolean): Promise<KeyLookup> {
    const {channel, keyId} = doc
    if (doc.revokedAt !== undefined) return {status: 'revoked', channel, keyId}
    const disabled = channelDisabled ?? (await this.channels.findOne({name: channel, disabled: {$exists: true}}, {projection: {_id: 1}})) !== null
    return {status: disabled ? 'disabled' : 'ok', channel, keyId}
  }

  /**
   * Overwrites the cached answer of every key of the channel after it was disabled or enabled, so
   * the ingest's next check (at publish, and at every heartbeat of a live one) sees it at once.
   */
  async recache(channel: string): Promise<void> {
    assertChannel(channel)
    const [docs, disabled] = await Promise.all([
      this.keys.find({channel}).toArray(),
      this.channels.findOne({name: channel, disabled: {$exists: true}}, {projection: {_id: 1}}).then((found) => found !== null),
    ])
    if (docs.length === 0) return
    const pipeline = this.options.redis.multi()
    for (const doc of docs) pipeline.set(CACHE_PREFIX + doc.hash, JSON.stringify(await this.answerFor(doc, disabled)), 'EX', KEY_CACHE_TTL_SECONDS)
    await pipeline.exec()
  }

  async markUsed(keyId: string, channel: string, at = new Date()): Promise<void> {
    await this.keys.updateOne({channel, keyId}, {$set: {lastUsedAt: at}})
  }
}
