/**
 * bench:backup — how long `shing backup` and `shing restore` take, and how much they write, for a
 * site with 10 GB of media, each against copying the same bytes bare in the same run.
 *
 *   npm run bench:backup [-- --gb 10 --object-mb 2]   (it builds the appliance first)
 *
 * Real Redis, FerretDB and MinIO from the test harness; the backup task run as the swarm runs it
 * (`node appliance/dist/backup.js` with the web's environment). The site: `--gb` of media in
 * `--object-mb` objects (VOD segments, each different), 20,000 chat messages, 2,000 accounts and
 * 2,000 sessions.
 * - backup: the first backup into an empty folder (every object read, hashed and written), then a
 *   second with nothing changed (the incremental case: the manifest and the database only).
 * - restore: the backup into a second, empty MinIO, FerretDB and Redis.
 * - baselines: the objects GET from MinIO into files with nothing else (copy-out), and those
 *   files PUT into a third MinIO (copy-in): what moving the bytes costs at all on this box.
 * Progress on stderr, results on stdout; the last line:
 *   backup: <gb> GB backup=<s>s (<x>× copy-out) incremental=<s>s restore=<s>s (<y>× copy-in)
 */
import {randomBytes} from 'node:crypto'
import {createWriteStream} from 'node:fs'
import {mkdir, readdir} from 'node:fs/promises'
import path from 'node:path'
import {pipeline} from 'node:stream/promises'
import {parseArgs} from 'node:util'

import {execa} from 'execa'

import {backupId, MONGO_DATABASE} from '../appliance/contract/index.js'
import {DATA_BUCKET, runBackupTask, startDataSite, type DataSite} from '../test/harness/data-site.js'
import {tempDir} from '../test/harness/process.js'

const {values} = parseArgs({options: {gb: {type: 'string', default: '10'}, 'object-mb': {type: 'string', default: '2'}}})
const totalBytes = Number(values.gb) * 1e9
const objectBytes = Number(values['object-mb']) * 1e6
const count = Math.ceil(totalBytes / objectBytes)
const say = (line: string): void => void process.stderr.write(`${line}\n`)
const seconds = (since: number): number => (performance.now() - since) / 1000

async function parallel<T>(items: T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({length: limit}, async () => {
    while (next < items.length) {
      const index = next++
      await work(items[index]!, index)
    }
  }))
}

const keys = Array.from({length: count}, (_, i) => `vods/${String(Math.floor(i / 1800)).padStart(4, '0')}/seg${String(i).padStart(6, '0')}.m4s`)

async function seed(site: DataSite): Promise<void> {
  await site.minio.makeBucket(DATA_BUCKET)
  const body = randomBytes(objectBytes)
  let last = performance.now()
  await parallel(keys, 4, async (key, i) => {
    // Each object differs (its first bytes): the backup stores by content and would keep one of each.
    const own = Buffer.from(body)
    randomBytes(32).copy(own)
    await site.minio.putObject(DATA_BUCKET, key, own, own.length, {'Content-Type': 'video/iso.segment'})
    if (performance.now() - last > 5000) {
      last = performance.now()
      say(`  seeded ${i + 1}/${count} objects`)
    }
  })
  const db = site.mongoClient.db(MONGO_DATABASE)
  await db.collection('users').insertMany(Array.from({length: 2000}, (_, i) => ({username: `user${i}`, email: `user${i}@example.test`, createdAt: new Date()})))
  for (let i = 0; i < 20; i++) {
    await db.collection('chat_messages').insertMany(Array.from({length: 1000}, (_, j) => ({channel: 'demo', text: `message ${i * 1000 + j}`, at: new Date()})))
  }
  const pipe = site.redisClient.pipeline()
  for (let i = 0; i < 2000; i++) pipe.set(`shing:session:${i}`, JSON.stringify({userId: `u${i}`}), 'EX', 86_400)
  await pipe.exec()
}

const du = async (dir: string): Promise<number> => Number((await execa('du', ['-sb', dir])).stdout.split('\t')[0])

async function main(): Promise<void> {
  say(`bench:backup: ${values.gb} GB in ${count} objects of ${values['object-mb']} MB`)
  const [site, fresh, bare] = [await startDataSite(), await startDataSite(), await startDataSite()]
  const target = await tempDir('bench-backup')
  const copies = await tempDir('bench-backup-copy')
  try {
    let since = performance.now()
    await seed(site)
    say(`seeded in ${seconds(since).toFixed(0)} s`)

    // Baseline out: every object GET into a file, four at once, nothing else.
    since = performance.now()
    await parallel(keys, 4, async (key) => {
      const file = path.join(copies.dir, key)
      await mkdir(path.dirname(file), {recursive: true})
      await pipeline(await site.minio.getObject(DATA_BUCKET, key), createWriteStream(file))
    })
    const copyOut = seconds(since)
    say(`copy-out: ${copyOut.toFixed(1)} s`)

    const progress = (text: string): void => {
      for (const line of text.split('\n')) if (line.includes('"progress"')) say(`  ${(JSON.parse(line) as {progress: {text: string}}).progress.text}`)
    }
    const first = backupId(new Date())
    since = performance.now()
    const full = await runBackupTask(site, target.dir, {operation: 'backup', id: first, version: 'bench'}, {timeoutMs: 3 * 3600_000, onOutput: progress})
    const backupSeconds = seconds(since)
    if (full.exitCode !== 0) throw new Error(`backup failed: ${JSON.stringify(full.reply)} ${full.stderr}`)
    const size = await du(target.dir)
    say(`backup: ${backupSeconds.toFixed(1)} s, ${(size / 1e9).toFixed(2)} GB in the target`)

    await new Promise((resolve) => setTimeout(resolve, 1100))
    since = performance.now()
    const again = await runBackupTask(site, target.dir, {operation: 'backup', id: backupId(new Date()), version: 'bench'}, {timeoutMs: 3600_000, onOutput: progress})
    const incremental = seconds(since)
    if (again.exitCode !== 0) throw new Error(`second backup failed: ${JSON.stringify(again.reply)}`)
    const added = (await du(target.dir)) - size
    say(`incremental: ${incremental.toFixed(1)} s, ${(added / 1e6).toFixed(1)} MB added`)

    since = performance.now()
    const restored = await runBackupTask(fresh, target.dir, {operation: 'restore', id: first}, {timeoutMs: 3 * 3600_000, onOutput: progress})
    const restoreSeconds = seconds(since)
    if (restored.exitCode !== 0) throw new Error(`restore failed: ${JSON.stringify(restored.reply)}`)
    say(`restore: ${restoreSeconds.toFixed(1)} s`)

    // Baseline in: the copied files PUT into an empty MinIO, four at once.
    await bare.minio.makeBucket(DATA_BUCKET)
    since = performance.now()
    await parallel(keys, 4, async (key) => {
      await bare.minio.fPutObject(DATA_BUCKET, key, path.join(copies.dir, key), {})
    })
    const copyIn = seconds(since)
    say(`copy-in: ${copyIn.toFixed(1)} s`)
    const objectsThere = (await readdir(path.join(target.dir, 'blobs'))).length

    const gbs = (s: number): string => `${(totalBytes / 1e9 / s).toFixed(2)} GB/s`
    console.log(`backup: site ${values.gb} GB of media in ${count} objects, 22,000 documents, 2,000 sessions`)
    console.log(`backup: copy-out (GET to files, 4 at once) ${copyOut.toFixed(1)} s (${gbs(copyOut)})`)
    console.log(`backup: full backup ${backupSeconds.toFixed(1)} s (${gbs(backupSeconds)}), ${(size / 1e9).toFixed(2)} GB in the target (${objectsThere} blob folders)`)
    console.log(`backup: incremental backup, nothing changed, ${incremental.toFixed(1)} s, ${(added / 1e6).toFixed(1)} MB added`)
    console.log(`backup: copy-in (PUT from files, 4 at once) ${copyIn.toFixed(1)} s (${gbs(copyIn)})`)
    console.log(`backup: restore into an empty site ${restoreSeconds.toFixed(1)} s (${gbs(restoreSeconds)})`)
    console.log(`backup: ${values.gb} GB backup=${backupSeconds.toFixed(0)}s (${(backupSeconds / copyOut).toFixed(2)}× copy-out) incremental=${incremental.toFixed(1)}s restore=${restoreSeconds.toFixed(0)}s (${(restoreSeconds / copyIn).toFixed(2)}× copy-in)`)
  } finally {
    await Promise.all([site.stop(), fresh.stop(), bare.stop()])
    await target.remove()
    await copies.remove()
  }
}

await main()
