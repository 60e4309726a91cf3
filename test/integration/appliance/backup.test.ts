/**
 * The backup task (appliance/backup.ts) against a real Redis, MongoDB wire server (FerretDB) and
 * MinIO: a backup, an incremental one, one interrupted by a signal and one on a full disk (neither
 * leaves a backup that claims to be whole), and a restore into a second, empty set of servers that
 * gives back every document, key and object byte for byte.
 */
import {createHash, randomBytes} from 'node:crypto'
import {mkdir, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {execa} from 'execa'
import type {Client as MinioClient} from 'minio'
import {ObjectId} from 'mongodb'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {MONGO_DATABASE, backupManifestSchema} from '../../../appliance/contract/index.js'
import {DATA_BUCKET as BUCKET, runBackupTask, startDataSite, type DataSite} from '../../harness/data-site.js'
import {tempDir} from '../../harness/process.js'

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex')
async function objectBytes(minio: MinioClient, key: string): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of await minio.getObject(BUCKET, key)) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}
async function objectSums(minio: MinioClient): Promise<Map<string, string>> {
  const sums = new Map<string, string>()
  for await (const item of minio.listObjectsV2(BUCKET, '', true)) {
    const name = (item as {name?: string}).name
    if (name !== undefined) sums.set(name, sha(await objectBytes(minio, name)))
  }
  return sums
}

let site: DataSite
let target: {dir: string; remove: () => Promise<void>}
const userId = new ObjectId()
const joined = new Date('2026-03-04T05:06:07.089Z')

beforeAll(async () => {
  site = await startDataSite()
  target = await tempDir('backup-target')
  const db = site.mongoClient.db(MONGO_DATABASE)
  await db.collection('users').insertMany([
    {_id: userId, username: 'ada', createdAt: joined, roles: ['admin'], bio: '<script>alert(1)</script>'},
    ...Array.from({length: 40}, (_, i) => ({username: `user${i}`, createdAt: new Date(joined.getTime() + i * 1000)})),
  ])
  await db.collection('chat_messages').insertMany(Array.from({length: 250}, (_, i) => ({channel: 'demo', userId, text: `message ${i} ✓`, at: new Date()})))
  await db.collection('posts').insertOne({author: userId, body: 'hello', likes: 3})
  await site.redisClient.set('shing:session:abc', JSON.stringify({userId: String(userId)}), 'EX', 3600)
  await site.redisClient.sadd(`shing:user-sessions:${String(userId)}`, 'abc')
  await site.redisClient.hset('shing:queue:clips:1', {name: 'clip', data: '{"vod":"x"}'})
  await site.redisClient.zadd(`shing:timeline:${String(userId)}`, 1, 'post-1', 2, 'post-2')
  await site.redisClient.set('shing:stream-key:cache', 'cached', 'EX', 600)
  await site.redisClient.set('shing:registry:ingest:1', 'heartbeat')
  await site.minio.makeBucket(BUCKET)
  for (let i = 0; i < 30; i++) await site.minio.putObject(BUCKET, `vods/v1/seg${String(i).padStart(3, '0')}.m4s`, randomBytes(20_000), 20_000, {'Content-Type': 'video/iso.segment'})
  await site.minio.putObject(BUCKET, 'vods/v1/index.m3u8', Buffer.from('#EXTM3U\n'), 8, {'Content-Type': 'application/vnd.apple.mpegurl'})
  await site.minio.putObject(BUCKET, 'clips/c1.mp4', randomBytes(3_000_000), 3_000_000, {'Content-Type': 'video/mp4'})
}, 120_000)

afterAll(async () => {
  await site?.stop()
  await target?.remove()
})

describe('the backup task', () => {
  let firstId = ''

  it('backs up every collection, the durable Redis keys only, and every object with its checksum', async () => {
    firstId = '20261201T010000Z'
    const run = await runBackupTask(site, target.dir, {operation: 'backup', id: firstId, version: '0.1.0', sealedConfig: '{"sealed":true}\n'})
    expect(run.exitCode, run.stderr + run.lines.join('\n')).toBe(0)
    expect(run.reply?.ok).toBe(true)
    expect(run.lines.some((l) => l.includes('"step":"objects"'))).toBe(true)
    const manifest = backupManifestSchema.parse(JSON.parse(await readFile(path.join(target.dir, firstId, 'manifest.json'), 'utf8')))
    expect(Object.fromEntries(manifest.mongo.collections.map((c) => [c.name, c.documents]))).toEqual({chat_messages: 250, posts: 1, users: 41})
    // Sessions, a user's session set, a queue's job and a timeline; not the cache, not the heartbeat.
    expect(manifest.redis.keys).toBe(4)
    expect(manifest.objects.count).toBe(32)
    expect(manifest.objects.copied).toBe(32)
    const sums = await objectSums(site.minio)
    for (const entry of manifest.objects.entries) expect(entry.sha256, entry.key).toBe(sums.get(entry.key))
    expect(manifest.objects.entries.find((e) => e.key === 'clips/c1.mp4')?.contentType).toBe('video/mp4')
    expect(await readFile(path.join(target.dir, firstId, 'config.sealed'), 'utf8')).toBe('{"sealed":true}\n')
  })

  it('a second backup copies only what changed since the first', async () => {
    await site.minio.putObject(BUCKET, 'vods/v1/seg000.m4s', randomBytes(20_000), 20_000)
    await site.minio.putObject(BUCKET, 'posts/p1/image.webp', randomBytes(5000), 5000)
    const run = await runBackupTask(site, target.dir, {operation: 'backup', id: '20261201T020000Z', version: '0.1.0'})
    expect(run.exitCode, run.stderr + run.lines.join('\n')).toBe(0)
    expect(run.reply?.result).toMatchObject({objects: 33, copied: 2, copiedBytes: 25_000})
  })

  it('a backup interrupted by a signal leaves no backup that claims to be whole, and the next one clears what it left', async () => {
    const before = await readdir(target.dir)
    const run = await runBackupTask(site, target.dir, {operation: 'backup', id: '20261201T030000Z', version: '0.1.0'}, {signalAfter: /"step":"(redis|objects)"/})
    expect(run.signal ?? run.exitCode).not.toBe(0)
    const after = await readdir(target.dir)
    expect(after).not.toContain('20261201T030000Z')
    expect(after.filter((n) => !before.includes(n)).every((n) => n.endsWith('.partial'))).toBe(true)
    const next = await runBackupTask(site, target.dir, {operation: 'backup', id: '20261201T040000Z', version: '0.1.0', keep: 2})
    expect(next.exitCode, next.stderr + next.lines.join('\n')).toBe(0)
    const names = await readdir(target.dir)
    expect(names.filter((n) => n.endsWith('.partial'))).toEqual([])
    // --keep 2: the first backup went; the objects only it held went with it.
    expect(names.filter((n) => /^\d{8}T/.test(n)).sort()).toEqual(['20261201T020000Z', '20261201T040000Z'])
    expect(next.reply?.result).toMatchObject({copied: 0, pruned: ['20261201T010000Z']})
  })

  it('a backup onto a full disk fails saying so, and leaves nothing there', async () => {
    const small = await tempDir('backup-full')
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small.dir])
    try {
      const run = await runBackupTask(site, small.dir, {operation: 'backup', id: '20261201T050000Z', version: '0.1.0'})
      expect(run.exitCode).toBe(1)
      expect(run.reply?.error?.message).toMatch(/target is full/)
      expect(run.reply?.error?.actions.join(' ')).toMatch(/Free space/)
      const left = await readdir(small.dir)
      expect(left.filter((n) => n !== 'blobs')).toEqual([])
    } finally {
      await execa('umount', [small.dir])
      await small.remove()
    }
  })

  it('restores into empty servers: every document, the durable keys with their TTL, every object byte for byte', async () => {
    const fresh = await startDataSite()
    try {
      await fresh.redisClient.set('shing:stream-key:stale', 'from before')
      const run = await runBackupTask(fresh, target.dir, {operation: 'restore', id: '20261201T040000Z'})
      expect(run.exitCode, run.stderr + run.lines.join('\n')).toBe(0)
      expect(run.reply?.result).toMatchObject({documents: {restored: 292, expected: 292}, redisKeys: 4, objects: {verified: 33, expected: 33, uploaded: 33}})
      const db = fresh.mongoClient.db(MONGO_DATABASE)
      const ada = await db.collection('users').findOne({_id: userId})
      expect(ada?.createdAt).toEqual(joined)
      expect(ada?.bio).toBe('<script>alert(1)</script>')
      expect(await db.collection('chat_messages').countDocuments()).toBe(250)
      expect(await fresh.redisClient.ttl('shing:session:abc')).toBeGreaterThan(3000)
      expect(await fresh.redisClient.zrange(`shing:timeline:${String(userId)}`, '0', '-1')).toEqual(['post-1', 'post-2'])
      expect(await fresh.redisClient.exists('shing:stream-key:stale', 'shing:stream-key:cache', 'shing:registry:ingest:1')).toBe(0)
      expect(await objectSums(fresh.minio)).toEqual(await objectSums(site.minio))
      expect((await fresh.minio.statObject(BUCKET, 'clips/c1.mp4')).metaData['content-type']).toBe('video/mp4')
    } finally {
      await fresh.stop()
    }
  })

  it('a damaged backup is refused before anything is changed', async () => {
    const copy = await tempDir('backup-damaged')
    try {
      await execa('cp', ['-a', `${target.dir}/.`, copy.dir])
      const manifest = backupManifestSchema.parse(JSON.parse(await readFile(path.join(copy.dir, '20261201T040000Z', 'manifest.json'), 'utf8')))
      const victim = manifest.objects.entries[0]!
      await writeFile(path.join(copy.dir, 'blobs', victim.sha256.slice(0, 2), victim.sha256), 'short')
      const before = await site.mongoClient.db(MONGO_DATABASE).collection('users').countDocuments()
      const run = await runBackupTask(site, copy.dir, {operation: 'restore', id: '20261201T040000Z'})
      expect(run.exitCode).toBe(1)
      expect(run.reply?.error?.message).toContain(`the object ${victim.key} is damaged`)
      expect(await site.mongoClient.db(MONGO_DATABASE).collection('users').countDocuments()).toBe(before)
      await rm(path.join(copy.dir, '20261201T040000Z'), {recursive: true})
      await mkdir(path.join(copy.dir, 'elsewhere'))
      const missing = await runBackupTask(site, copy.dir, {operation: 'restore', id: '20261201T040000Z'})
      expect(missing.reply?.error?.message).toContain('there is no complete backup 20261201T040000Z')
    } finally {
      await copy.remove()
    }
  })

  it('a blob whose bytes changed (its size the same) is found before a restore changes anything', async () => {
    const copy = await tempDir('backup-flipped')
    const fresh = await startDataSite()
    try {
      await execa('cp', ['-a', `${target.dir}/.`, copy.dir])
      const manifest = backupManifestSchema.parse(JSON.parse(await readFile(path.join(copy.dir, '20261201T040000Z', 'manifest.json'), 'utf8')))
      const victim = manifest.objects.entries.find((e) => e.key === 'clips/c1.mp4')!
      const blob = path.join(copy.dir, 'blobs', victim.sha256.slice(0, 2), victim.sha256)
      const bytes = await readFile(blob)
      bytes[1000] = bytes[1000]! ^ 0xff
      await writeFile(blob, bytes)
      await fresh.redisClient.set('shing:session:kept', 'still here')
      const run = await runBackupTask(fresh, copy.dir, {operation: 'restore', id: '20261201T040000Z'})
      expect(run.exitCode).toBe(1)
      expect(run.reply?.error?.message).toBe(`the object clips/c1.mp4 is damaged in the backup target (blob ${victim.sha256.slice(0, 12)}…); nothing was changed`)
      expect(await fresh.redisClient.get('shing:session:kept')).toBe('still here')
      expect(await fresh.minio.bucketExists(BUCKET)).toBe(false)
    } finally {
      await fresh.stop()
      await copy.remove()
    }
  })
})
