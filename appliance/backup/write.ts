/**
 * Writes one backup of the running site into the target folder: MongoDB through the driver (each
 * collection as canonical Extended JSON, so ObjectIds and dates come back as they were), the Redis
 * keys that must survive (DUMP, with their time to live), the objects by content (only what is not
 * already in the target), the sealed config, and the manifest last. Everything is written into a
 * `.partial` folder that becomes the backup by one rename: an interrupted backup (Ctrl-C, a full
 * disk, a killed task) leaves nothing that claims to be whole.
 */
import {createHash, randomBytes} from 'node:crypto'
import {createWriteStream} from 'node:fs'
import {link, mkdir, open, readdir, rename, rm, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {Transform, type Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {createGzip} from 'node:zlib'

import type {Redis} from 'ioredis'
import {BSON, type Db} from 'mongodb'

import {
  BACKUP_FORMAT,
  BACKUP_MANIFEST,
  BACKUP_REDIS_FILE,
  BACKUP_SEALED_CONFIG,
  DURABLE_REDIS_PREFIXES,
  MONGO_DATABASE,
  type BackupManifest,
  type BackupObject,
  type BackupProgress,
  type BackupSummary,
} from '../contract/index.js'
import {isMissingObject, type Storage} from '../platform/storage.js'
import {BackupProblem, blobPath, completeBackups, eachAtOnce, exists, fileSha256, OBJECTS_AT_ONCE, partialPath, prune, readManifest} from './target.js'

export interface BackupSources {
  db: Db
  redis: Redis
  storage: Storage
}

export interface WriteBackupOptions {
  dir: string
  id: string
  version: string
  sealedConfig?: string
  keep?: number
  onProgress: (p: BackupProgress) => void
}

/** Lines through gzip into a file; the file's sha256 and size once written. */
async function writeLines(file: string, lines: AsyncIterable<string>): Promise<{sha256: string; bytes: number}> {
  async function* chunks(): AsyncGenerator<Buffer> {
    let batch = ''
    for await (const line of lines) {
      batch += `${line}\n`
      if (batch.length >= 256 * 1024) {
        yield Buffer.from(batch)
        batch = ''
      }
    }
    if (batch !== '') yield Buffer.from(batch)
  }
  await pipeline(chunks, createGzip({level: 6}), createWriteStream(file, {flush: true}))
  return {sha256: await fileSha256(file), bytes: (await stat(file)).size}
}

/** Copies a readable into a new blob (temp file, hashed on the way, renamed to its hash). */
async function storeBlob(dir: string, source: Readable): Promise<{sha256: string; bytes: number; isNew: boolean}> {
  const temp = path.join(dir, 'blobs', 'tmp', randomBytes(8).toString('hex'))
  const hash = createHash('sha256')
  let bytes = 0
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk)
      bytes += chunk.length
      done(null, chunk)
    },
  })
  try {
    // flush: on disk before it takes its name (a blob is trusted by its name from then on).
    await pipeline(source, tap, createWriteStream(temp, {flush: true}))
    const sha256 = hash.digest('hex')
    const final = blobPath(dir, sha256)
    await mkdir(path.dirname(final), {recursive: true})
    // link fails when the blob is there already (the same bytes under another key, maybe copied
    // at this very moment by another of the copies running at once): then it is not new.
    const isNew = await link(temp, final).then(
      () => true,
      async (error: NodeJS.ErrnoException) => {
        if (error.code === 'EEXIST') return false
        // A file system without hard links (some network shares): a rename, which replaces the same bytes.
        if (error.code !== 'EPERM' && error.code !== 'ENOTSUP' && error.code !== 'EOPNOTSUPP') throw error
        const there = await exists(final)
        await rename(temp, final)
        return !there
      },
    )
    await rm(temp, {force: true})
    return {sha256, bytes, isNew}
  } catch (error) {
    await rm(temp, {force: true})
    throw error
  }
}

/** A progress callback that reports at most once a second (and always the last one). */
function throttled(onProgress: (p: BackupProgress) => void): (p: BackupProgress, force?: boolean) => void {
  let last = 0
  return (p, force = false) => {
    const now = Date.now()
    if (force || now - last >= 1000) {
      last = now
      onProgress(p)
    }
  }
}

export async function writeBackup(sources: BackupSources, options: WriteBackupOptions): Promise<BackupSummary> {
  try {
    return await write(sources, options)
  } catch (error) {
    // A failed backup (a full disk, a storage error) leaves nothing behind, and frees its space.
    await rm(partialPath(options.dir, options.id), {recursive: true, force: true}).catch(() => undefined)
    throw error
  }
}

async function write(sources: BackupSources, options: WriteBackupOptions): Promise<BackupSummary> {
  const started = Date.now()
  const {dir, id} = options
  const progress = throttled(options.onProgress)
  await mkdir(path.join(dir, 'blobs', 'tmp'), {recursive: true})
  // What an earlier interrupted backup left: never a backup, and in the way of nothing but space.
  for (const name of await readdir(dir)) if (/^\.\d{8}T\d{6}Z\.partial$/.test(name)) await rm(path.join(dir, name), {recursive: true, force: true})
  for (const name of await readdir(path.join(dir, 'blobs', 'tmp'))) await rm(path.join(dir, 'blobs', 'tmp', name), {force: true})
  if (await exists(path.join(dir, id))) throw new BackupProblem(`a backup ${id} is already in ${dir}`, ['Wait a second and run it again'])
  const partial = partialPath(dir, id)
  await mkdir(path.join(partial, 'mongo'), {recursive: true})
  let written = 0

  // MongoDB: every collection of the site's database.
  const collections = (await sources.db.listCollections({}, {nameOnly: true}).toArray())
    .map((c) => c.name)
    .filter((name) => !name.startsWith('system.'))
    .sort()
  const mongo: BackupManifest['mongo'] = {database: MONGO_DATABASE, collections: []}
  let documents = 0
  for (const [index, name] of collections.entries()) {
    let count = 0
    const file = `mongo/${encodeURIComponent(name)}.ejson.gz`
    const cursor = sources.db.collection(name).find({}, {batchSize: 1000})
    async function* lines(): AsyncGenerator<string> {
      for await (const doc of cursor) {
        count++
        yield BSON.EJSON.stringify(doc, {relaxed: false})
      }
    }
    const out = await writeLines(path.join(partial, file), lines())
    written += out.bytes
    documents += count
    mongo.collections.push({name, documents: count, file, sha256: out.sha256})
    progress({step: 'mongo', done: index + 1, total: collections.length, text: `MongoDB: ${name} (${count} documents)`}, index + 1 === collections.length)
  }

  // Redis: only what must survive, with each key's remaining time to live.
  let keys = 0
  async function* redisLines(): AsyncGenerator<string> {
    for (const prefix of DURABLE_REDIS_PREFIXES) {
      let cursor = '0'
      do {
        const [next, batch] = await sources.redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
        cursor = next
        if (batch.length === 0) continue
        const pipe = sources.redis.pipeline()
        for (const key of batch) pipe.dumpBuffer(key).pttl(key)
        const replies = (await pipe.exec()) ?? []
        for (const [i, key] of batch.entries()) {
          const [dumpError, value] = replies[i * 2] ?? [null, null]
          const [ttlError, ttl] = replies[i * 2 + 1] ?? [null, -2]
          if (dumpError || ttlError) throw new Error(`Redis refused to read ${key}: ${(dumpError ?? ttlError)?.message ?? ''}`)
          // Gone (or expired) between the scan and the dump: nothing to keep.
          if (value === null || value === undefined || ttl === -2) continue
          keys++
          // The moment it expires (not how long it had left): a restore a week later does not make a link valid again.
          yield JSON.stringify({k: key, x: (ttl as number) > 0 ? Date.now() + (ttl as number) : 0, v: (value as Buffer).toString('base64')})
        }
      } while (cursor !== '0')
    }
  }
  const redisOut = await writeLines(path.join(partial, BACKUP_REDIS_FILE), redisLines())
  written += redisOut.bytes
  progress({step: 'redis', done: keys, text: `Redis: ${keys} keys (sessions, queues, timelines)`}, true)

  // Objects: by content. One unchanged since the last backup (same size and ETag) is not read again.
  const previous = new Map<string, BackupObject>()
  const earlier = (await completeBackups(dir)).pop()
  if (earlier !== undefined) for (const entry of (await readManifest(dir, earlier)).objects.entries) previous.set(entry.key, entry)
  const {client, bucket} = sources.storage
  const listed: Array<{key: string; size: number; etag: string}> = []
  for await (const item of client.listObjectsV2(bucket, '', true)) {
    const {name, size, etag} = item as {name?: string; size?: number; etag?: string}
    if (name !== undefined) listed.push({key: name, size: size ?? 0, etag: (etag ?? '').replace(/"/g, '')})
  }
  const totalBytes = listed.reduce((sum, o) => sum + o.size, 0)
  let copied = 0
  let copiedBytes = 0
  let seenBytes = 0
  const entries: BackupObject[] = new Array<BackupObject>(listed.length)
  let done = 0
  await eachAtOnce(listed, OBJECTS_AT_ONCE, async (object, index) => {
    const before = previous.get(object.key)
    const blobSize = before === undefined ? -1 : await stat(blobPath(dir, before.sha256)).then((st) => st.size, () => -1)
    if (before !== undefined && before.size === object.size && before.etag === object.etag && blobSize === before.size) {
      entries[index] = before
    } else {
      try {
        const info = await client.statObject(bucket, object.key)
        const stored = await storeBlob(dir, await client.getObject(bucket, object.key))
        if (stored.isNew) {
          copied++
          copiedBytes += stored.bytes
          written += stored.bytes
        }
        const contentType = (info.metaData as Record<string, string> | undefined)?.['content-type']
        entries[index] = {key: object.key, size: stored.bytes, etag: info.etag.replace(/"/g, ''), sha256: stored.sha256, ...(contentType === undefined ? {} : {contentType})}
      } catch (error) {
        // Deleted since the listing (retention, its owner): not part of this backup.
        if (!isMissingObject(error)) throw error
      }
    }
    seenBytes += object.size
    done++
    progress({step: 'objects', done, total: listed.length, bytes: seenBytes, text: `objects: ${done}/${listed.length}, ${mb(seenBytes)}/${mb(totalBytes)} MB (${copied} copied)`}, done === listed.length)
  })

  const kept = entries.filter((e): e is BackupObject => e !== undefined)

  let config: BackupManifest['config']
  if (options.sealedConfig !== undefined) {
    await writeFile(path.join(partial, BACKUP_SEALED_CONFIG), options.sealedConfig, {mode: 0o600})
    written += Buffer.byteLength(options.sealedConfig)
    config = {file: BACKUP_SEALED_CONFIG, sha256: createHash('sha256').update(options.sealedConfig).digest('hex')}
    progress({step: 'config', done: 1, text: 'shing.yaml and the secrets, sealed with the passphrase'}, true)
  }

  const manifest: BackupManifest = {
    format: BACKUP_FORMAT,
    id,
    createdAt: new Date(started).toISOString(),
    version: options.version,
    seconds: (Date.now() - started) / 1000,
    mongo,
    redis: {keys, file: BACKUP_REDIS_FILE, sha256: redisOut.sha256, prefixes: [...DURABLE_REDIS_PREFIXES]},
    objects: {bucket, count: kept.length, bytes: kept.reduce((s, e) => s + e.size, 0), copied, copiedBytes, entries: kept},
    ...(config === undefined ? {} : {config}),
  }
  const manifestText = `${JSON.stringify(manifest, null, 1)}\n`
  // The manifest is written and flushed, then the folder takes the backup's name: the one step
  // after which it is a backup.
  const handle = await open(path.join(partial, BACKUP_MANIFEST), 'w')
  try {
    await handle.writeFile(manifestText)
    await handle.sync()
  } finally {
    await handle.close()
  }
  written += Buffer.byteLength(manifestText)
  await rename(partial, path.join(dir, id))
  let pruned: string[] = []
  if (options.keep !== undefined) {
    try {
      pruned = await prune(dir, options.keep)
    } catch (error) {
      // The backup is whole whatever happens here: say so, and what went wrong with the old ones.
      progress({step: 'prune', done: 0, text: `the backup is whole, but older ones could not be removed: ${(error as Error).message}`}, true)
    }
  }
  if (pruned.length > 0) progress({step: 'prune', done: pruned.length, text: `removed ${pruned.length} older backup(s): ${pruned.join(', ')}`}, true)
  return {
    id,
    path: path.join(dir, id),
    documents,
    collections: collections.length,
    redisKeys: keys,
    objects: kept.length,
    objectBytes: manifest.objects.bytes,
    copied,
    copiedBytes,
    writtenBytes: written,
    seconds: (Date.now() - started) / 1000,
    pruned,
  }
}

const mb = (bytes: number): string => (bytes / 1e6).toFixed(1)
