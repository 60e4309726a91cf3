/**
 * Puts a backup back into the site's MongoDB, Redis and object storage, with the components that
 * write stopped (the CLI sees to that). Every file is checked against the manifest before anything
 * is changed; then the database and Redis are replaced, the bucket is made equal to the backup
 * (objects uploaded from their blobs, each hashed on the way; ones already there with the same
 * ETag left alone; ones the backup does not have removed), and the counts are checked again.
 */
import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {stat} from 'node:fs/promises'
import path from 'node:path'
import {createInterface} from 'node:readline'
import {Transform} from 'node:stream'
import {createGunzip} from 'node:zlib'

import {BSON, type Document} from 'mongodb'

import type {BackupManifest, BackupObject, BackupProgress, RestoreSummary} from '../contract/index.js'
import type {BackupSources} from './write.js'
import {BackupProblem, blobPath, eachAtOnce, fileSha256, OBJECTS_AT_ONCE, readManifest} from './target.js'

async function* gzLines(file: string): AsyncGenerator<string> {
  const lines = createInterface({input: createReadStream(file).pipe(createGunzip()), crlfDelay: Infinity})
  for await (const line of lines) if (line !== '') yield line
}

/**
 * Every file the backup names is there and whole (its checksum), and so is every blob that will be
 * uploaded; the others must be there with their size. All before anything is changed.
 */
async function verifyFiles(dir: string, manifest: BackupManifest, toUpload: ReadonlySet<string>, onProgress: (p: BackupProgress) => void): Promise<void> {
  const folder = path.join(dir, manifest.id)
  const files = [...manifest.mongo.collections.map((c) => ({file: c.file, sha256: c.sha256})), {file: manifest.redis.file, sha256: manifest.redis.sha256}]
  for (const {file, sha256} of files) {
    const actual = await fileSha256(path.join(folder, file)).catch((error: NodeJS.ErrnoException) => {
      throw new BackupProblem(`the backup's ${file} cannot be read (${error.code ?? error.message}): the backup is damaged`, ['Restore an earlier backup'])
    })
    if (actual !== sha256) throw new BackupProblem(`the backup's ${file} is damaged: its checksum is not the manifest's`, ['Restore an earlier backup'])
  }
  let done = 0
  let reported = Date.now()
  await eachAtOnce(manifest.objects.entries, OBJECTS_AT_ONCE, async (entry) => {
    const blob = blobPath(dir, entry.sha256)
    const size = await stat(blob).then((s) => s.size, () => -1)
    const damaged = size !== entry.size || (toUpload.has(entry.key) && (await fileSha256(blob)) !== entry.sha256)
    if (damaged) {
      throw new BackupProblem(`the object ${entry.key} is ${size < 0 ? 'missing from' : 'damaged in'} the backup target (blob ${entry.sha256.slice(0, 12)}…); nothing was changed`, ['Restore an earlier backup'])
    }
    done++
    if (Date.now() - reported >= 1000) {
      reported = Date.now()
      onProgress({step: 'verify', done, total: manifest.objects.count, text: `checked ${done}/${manifest.objects.count} objects in the backup`})
    }
  })
}

export async function restoreBackup(sources: BackupSources, dir: string, id: string, onProgress: (p: BackupProgress) => void): Promise<RestoreSummary> {
  const started = Date.now()
  const manifest = await readManifest(dir, id)
  const folder = path.join(dir, id)
  onProgress({step: 'verify', done: 0, text: `checking backup ${id} (${manifest.objects.count} objects, ${manifest.mongo.collections.length} collections)`})
  const {client, bucket} = sources.storage
  const hasBucket = await client.bucketExists(bucket)
  const present = new Map<string, {size: number; etag: string}>()
  if (hasBucket) {
    for await (const item of client.listObjectsV2(bucket, '', true)) {
      const {name, size, etag} = item as {name?: string; size?: number; etag?: string}
      if (name !== undefined) present.set(name, {size: size ?? 0, etag: (etag ?? '').replace(/"/g, '')})
    }
  }
  const isThere = (entry: BackupObject): boolean => {
    const there = present.get(entry.key)
    return there !== undefined && there.size === entry.size && there.etag === entry.etag
  }
  await verifyFiles(dir, manifest, new Set(manifest.objects.entries.filter((e) => !isThere(e)).map((e) => e.key)), onProgress)

  // MongoDB: the database becomes the backup's.
  const {db} = sources
  for (const c of await db.listCollections({}, {nameOnly: true}).toArray()) if (!c.name.startsWith('system.')) await db.dropCollection(c.name)
  let restored = 0
  let expected = 0
  for (const [index, c] of manifest.mongo.collections.entries()) {
    const collection = db.collection(c.name)
    let batch: Document[] = []
    const flush = async (): Promise<void> => {
      if (batch.length > 0) await collection.insertMany(batch, {ordered: false})
      batch = []
    }
    await db.createCollection(c.name).catch(() => undefined)
    for await (const line of gzLines(path.join(folder, c.file))) {
      batch.push(BSON.EJSON.parse(line, {relaxed: false}) as Document)
      if (batch.length >= 500) await flush()
    }
    await flush()
    const count = await collection.countDocuments()
    if (count !== c.documents) throw new BackupProblem(`MongoDB's ${c.name} has ${count} documents after the restore, the backup ${c.documents}`)
    restored += count
    expected += c.documents
    onProgress({step: 'mongo', done: index + 1, total: manifest.mongo.collections.length, text: `MongoDB: ${c.name} (${count} documents)`})
  }

  // Redis: caches and live state are the running site's; the rest comes back.
  const {redis} = sources
  await redis.flushdb()
  let keys = 0
  let pipe = redis.pipeline()
  for await (const line of gzLines(path.join(folder, manifest.redis.file))) {
    const {k, x, v} = JSON.parse(line) as {k: string; x: number; v: string}
    // Expired since the backup: it would have gone by now.
    if (x > 0 && x <= Date.now()) continue
    pipe.restore(k, x, Buffer.from(v, 'base64'), 'REPLACE', 'ABSTTL')
    keys++
    if (keys % 500 === 0) {
      await execOrThrow(pipe)
      pipe = redis.pipeline()
    }
  }
  await execOrThrow(pipe)
  onProgress({step: 'redis', done: keys, text: `Redis: ${keys} keys`})

  // Objects: the bucket becomes the backup's.
  if (!hasBucket) await client.makeBucket(bucket)
  const wanted = new Set(manifest.objects.entries.map((e) => e.key))
  const extra = [...present.keys()].filter((key) => !wanted.has(key))
  for (let i = 0; i < extra.length; i += 1000) await client.removeObjects(bucket, extra.slice(i, i + 1000))
  let uploaded = 0
  let unchanged = 0
  let bytes = 0
  let reported = 0
  let done = 0
  await eachAtOnce(manifest.objects.entries, OBJECTS_AT_ONCE, async (entry) => {
    if (isThere(entry)) unchanged++
    else {
      const hash = createHash('sha256')
      const tap = new Transform({
        transform(chunk: Buffer, _encoding, next) {
          hash.update(chunk)
          next(null, chunk)
        },
      })
      const file = createReadStream(blobPath(dir, entry.sha256))
      // A read error ends the upload with it (pipe alone would leave the upload waiting).
      file.on('error', (error) => tap.destroy(error))
      const source = file.pipe(tap)
      await client.putObject(bucket, entry.key, source, entry.size, entry.contentType === undefined ? {} : {'Content-Type': entry.contentType})
      const sha256 = hash.digest('hex')
      if (sha256 !== entry.sha256) {
        await client.removeObject(bucket, entry.key)
        throw new BackupProblem(`the object ${entry.key} read back from the backup is not what was backed up (checksum differs): the backup target is damaged`)
      }
      uploaded++
      bytes += entry.size
    }
    done++
    if (Date.now() - reported >= 1000 || done === manifest.objects.count) {
      reported = Date.now()
      onProgress({step: 'objects', done, total: manifest.objects.count, bytes, text: `objects: ${done}/${manifest.objects.count} (${uploaded} uploaded, ${unchanged} already there)`})
    }
  })

  // Counted again, as a reader would find them.
  let verified = 0
  const after = new Map<string, {size: number}>()
  for await (const item of client.listObjectsV2(bucket, '', true)) {
    const {name, size} = item as {name?: string; size?: number}
    if (name !== undefined) after.set(name, {size: size ?? 0})
  }
  for (const entry of manifest.objects.entries) if (after.get(entry.key)?.size === entry.size) verified++
  if (verified !== manifest.objects.count || after.size !== manifest.objects.count) {
    throw new BackupProblem(`the bucket has ${after.size} objects after the restore (${verified} as backed up); the backup has ${manifest.objects.count}`)
  }
  return {
    id,
    documents: {restored, expected},
    collections: manifest.mongo.collections.length,
    redisKeys: keys,
    objects: {verified, expected: manifest.objects.count, uploaded, unchanged, removed: extra.length, bytes},
    seconds: (Date.now() - started) / 1000,
  }
}

async function execOrThrow(pipe: ReturnType<BackupSources['redis']['pipeline']>): Promise<void> {
  for (const [error] of (await pipe.exec()) ?? []) if (error) throw new BackupProblem(`Redis refused a key of the backup: ${error.message}`, ['A backup restores into the same Redis version or a newer one'])
}
