/**
 * Backup and restore of a whole site on a test box: `shing up`; an admin made with `shing user
 * create` logs in (Chromium, through the edge), makes a channel and a key, goes live from an
 * OBS-like ffmpeg, writes in the chat and publishes a post; the broadcast becomes a VOD. Then
 * `shing backup`; one interrupted with Ctrl-C; `shing down --volumes` and the config removed (a new
 * box); `shing restore`: every collection's count and every object's checksum as before, the VOD
 * plays, the post and the chat message are there, and the admin's browser is still logged in.
 * `npm run e2e:backup` ends with `backup e2e: docs=<n>/<n> objects=<n>/<n> upgrade=… auto-rollback=…`.
 */
import {readdir, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {INGEST_ASSIGN_PATH, SECRETS_DIR, secretFiles} from '../../appliance/contract/index.js'
import {launchChromium, type RunningChromium} from '../harness/chromium.js'
import {repoRoot} from '../harness/cli.js'
import {tempDir, waitFor, type ManagedProcess} from '../harness/process.js'
import {publishWhenThereIsRoom} from '../harness/rtmp.js'
import {recordSummary} from '../harness/summary.js'
import {requireTool} from '../harness/tools.js'
import {explain, startSite, type Site} from './site.js'

const CHANNEL = 'show'
let site: Site
let base: string
let browser: RunningChromium | undefined
let publisher: ManagedProcess | undefined
let backups: {dir: string; remove: () => Promise<void>}
let passphraseFile = ''
const figures = {docs: 'failed', objects: 'failed'}

/** What a site holds, read in a web container. */
interface Snapshot {
  counts: Record<string, number>
  objects: Record<string, string>
}
/** Runs an async script body in a web container, with `db` (MongoDB) and `s3` (MinIO) at hand; its stdout. */
async function inWeb(body: string): Promise<string> {
  const secret = (name: keyof typeof secretFiles): string => `require('fs').readFileSync(${JSON.stringify(`${SECRETS_DIR}/${secretFiles[name]}`)},'utf8').trim()`
  const script = `
const r = require('node:module').createRequire('/app/appliance/package.json')
const {MongoClient} = r('mongodb'); const {Client} = r('minio')
;(async () => {
  const mongo = new MongoClient('mongodb://root:' + encodeURIComponent(${secret('mongoRootPassword')}) + '@' + process.env.SHING_MONGO_HOST + '/?authSource=admin')
  const db = mongo.db('shing')
  const u = new URL(process.env.SHING_S3_ENDPOINT)
  const s3 = new Client({endPoint: u.hostname, port: Number(u.port), useSSL: false, pathStyle: true, accessKey: ${secret('s3AccessKey')}, secretKey: ${secret('s3SecretKey')}})
  ${body}
  await mongo.close()
})().catch((e) => { console.error(e); process.exit(1) })`
  const {stdout: id} = await execa('docker', ['ps', '-q', '--filter', 'label=io.shing.component=web', '--filter', 'status=running'], {env: site.env})
  const container = id.split('\n')[0]
  expect(container, 'a running web container').toBeTruthy()
  const run = await execa('docker', ['exec', container!, 'node', '-e', script], {env: site.env, reject: false, timeout: 180_000})
  expect(run.exitCode, String(run.stderr)).toBe(0)
  return String(run.stdout)
}

/** What a site holds: each collection's count, each object's sha256. */
async function snapshot(): Promise<Snapshot> {
  const out = await inWeb(`const crypto = require('node:crypto'); const counts = {}
  for (const c of await db.listCollections({}, {nameOnly: true}).toArray()) counts[c.name] = await db.collection(c.name).countDocuments()
  const objects = {}
  for await (const o of s3.listObjectsV2(process.env.SHING_S3_BUCKET, '', true)) {
    const h = crypto.createHash('sha256'); for await (const chunk of await s3.getObject(process.env.SHING_S3_BUCKET, o.name)) h.update(chunk)
    objects[o.name] = h.digest('hex')
  }
  process.stdout.write(JSON.stringify({counts, objects}))`)
  return JSON.parse(out) as Snapshot
}

async function getJson<T>(urlPath: string): Promise<T> {
  const r = await site.inBox(process.execPath, ['-e', `fetch(${JSON.stringify(base + urlPath)}).then(r=>r.text()).then(t=>process.stdout.write(t))`])
  return JSON.parse(r.stdout) as T
}

const completeBackups = async (): Promise<string[]> => (await readdir(backups.dir)).filter((n) => /^\d{8}T\d{6}Z$/.test(n)).sort()

beforeAll(async () => {
  site = await startSite()
  base = `http://${site.box.address}`
  backups = await tempDir('site-backups')
  passphraseFile = path.join(backups.dir, '..', `${path.basename(backups.dir)}.passphrase`)
  await writeFile(passphraseFile, 'correct horse battery staple\n', {mode: 0o600})
  const up = await site.shing('up', '--json', '--timeout', '240')
  expect(up.exitCode, explain(up)).toBe(0)
})

afterAll(async () => {
  await recordSummary({...figures, upgrade: 'not-built', 'auto-rollback': 'not-built'})
  process.stdout.write(`backup e2e: docs=${figures.docs} objects=${figures.objects}\n`)
  await publisher?.stop().catch(() => undefined)
  await browser?.close().catch(() => undefined)
  await site?.stop()
  await backups?.remove()
  await rm(passphraseFile, {force: true})
})

describe('backup and restore of a site', () => {
  let before: Snapshot
  let vodUrl = ''
  let postUrl = ''

  it('a site in use: an admin, a channel, a broadcast that became a VOD, a chat message, a post', async () => {
    const created = await site.shing('user', 'create', 'ada', '--email', 'ada@example.test', '--admin', '--json')
    expect(created.exitCode, explain(created)).toBe(0)
    const {password} = created.json<{password: string}>()
    browser = await launchChromium({netns: site.box.netns})
    const page = await browser.newPage()
    await page.goto(`${base}/login`)
    await page.getByLabel('Username or e-mail').fill('ada')
    await page.getByLabel('Password').fill(password)
    await page.getByRole('button', {name: 'Log in'}).click()
    await page.waitForURL((url) => !url.pathname.startsWith('/login'))
    await page.goto(`${base}/dashboard`)
    await page.getByLabel('Channel name').fill(CHANNEL)
    await page.getByLabel('Title').fill('The <show> that stays')
    await page.getByRole('button', {name: 'Create channel'}).click()
    await page.waitForURL(`${base}/dashboard/c/${CHANNEL}?created=1`)
    await page.getByRole('button', {name: 'Create a stream key'}).click()
    await page.waitForURL(`${base}/dashboard/c/${CHANNEL}`)
    const key = await page.locator('#new-key').inputValue()
    const server = await page.locator('#obs-server').inputValue()
    publisher = await publishWhenThereIsRoom({
      url: `${server}/${key}`,
      size: '640x360',
      netns: site.box.netns,
      hasRoom: async () => (await getJson<{rtmpUrl?: string}>(INGEST_ASSIGN_PATH)).rtmpUrl !== undefined,
    })
    await waitFor('the channel to be live', async () => ((await getJson<{live: boolean}>(`/api/streams/${CHANNEL}/playback`)).live ? true : undefined), {timeoutMs: 60_000, intervalMs: 500})
    await page.goto(`${base}/c/${CHANNEL}`)
    await page.waitForSelector('#chat[data-you="writer"]', {timeout: 30_000})
    await page.locator('#chat-input').fill('a message that outlives the box')
    await page.locator('#chat-input').press('Enter')
    await page.locator('#chat-log li', {hasText: 'a message that outlives the box'}).waitFor({timeout: 15_000})
    await page.goto(`${base}/c/${CHANNEL}/posts`)
    await page.locator('#post-markdown').fill('A post that **outlives** the box')
    await page.locator('form:has(#post-markdown) button[type="submit"]').click()
    await page.waitForURL(new RegExp(`/c/${CHANNEL}/posts/[a-f0-9]{24}$`))
    postUrl = page.url()
    // Twelve seconds of broadcast, then the end: the worker makes the VOD.
    await new Promise((resolve) => setTimeout(resolve, 12_000))
    await publisher.stop()
    publisher = undefined
    const vod = await waitFor('the VOD', async () => (await getJson<{vods: Array<{url: string; segments: number}>}>(`/api/streams/${CHANNEL}/vods`)).vods[0], {timeoutMs: 90_000, intervalMs: 1000})
    vodUrl = `${base}${vod.url}`
    await page.close()
    before = await snapshot()
    expect(before.counts.users).toBe(1)
    expect(before.counts.posts).toBe(1)
    expect(Object.keys(before.objects).length).toBeGreaterThan(3)
  })

  it('shing backup: progress on stderr, then what it holds; a second one copies nothing again', async () => {
    const run = await site.shing('backup', '--to', backups.dir, '--passphrase-file', passphraseFile, '--json')
    expect(run.exitCode, explain(run)).toBe(0)
    const result = run.json<{id: string; documents: number; objects: number; copied: number; path: string}>()
    expect(result.objects).toBe(Object.keys(before.objects).length)
    expect(result.documents).toBe(Object.values(before.counts).reduce((a, b) => a + b, 0))
    // Objects with the same bytes (a rendition's init segment and another's) are stored once.
    expect(result.copied).toBeGreaterThan(0)
    expect(result.copied).toBeLessThanOrEqual(result.objects)
    expect(await completeBackups()).toEqual([result.id])
    // The secrets are in the backup sealed only.
    const sealed = await execa('cat', [path.join(result.path, 'config.sealed')])
    expect(sealed.stdout).not.toMatch(/mongoRootPassword|sessionSecret/)
    const plain = await site.shing('backup', '--to', backups.dir, '--passphrase-file', passphraseFile)
    expect(plain.exitCode, explain(plain)).toBe(0)
    expect(plain.stderr).toMatch(/Redis: \d+ keys/)
    expect(plain.stderr).toMatch(/objects: \d+\/\d+/)
    expect(plain.stdout).toMatch(/0 copied now/)
    expect(plain.stdout).toContain(`Restore it with: shing restore ${backups.dir}/`)
    const list = await site.shing('backup', 'list', '--to', backups.dir)
    expect(list.exitCode, explain(list)).toBe(0)
    expect(list.stdout).toContain(`Backups in ${backups.dir} (2;`)
    expect(list.stdout.split('\n').filter((l) => /^ {2}\d{8}T\d{6}Z /.test(l))).toHaveLength(2)
  })

  it('a backup interrupted with Ctrl-C leaves no backup that claims to be whole, and no task behind', async () => {
    // A recording of 300 MB more, so the backup takes long enough to be interrupted.
    await inWeb(`const {Readable} = require('node:stream'); const crypto = require('node:crypto')
let left = 300; const body = new Readable({read() { this.push(left-- > 0 ? crypto.randomBytes(1 << 20) : null) }})
await s3.putObject(process.env.SHING_S3_BUCKET, 'vods/show/long/recording.ts', body, 300 * (1 << 20))`)
    before = await snapshot()
    const known = await completeBackups()
    const child = execa(process.execPath, [path.join(repoRoot, 'bin/run.js'), 'backup', '--to', backups.dir, '--passphrase-file', passphraseFile, '--dir', site.dir], {env: {...process.env, ...site.env}, reject: false})
    let stderr = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no progress from the backup: ${stderr}`)), 60_000)
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString()
        if (/MongoDB: /.test(stderr)) {
          clearTimeout(timer)
          resolve()
        }
      })
    })
    child.kill('SIGINT')
    const done = await child
    expect(done.exitCode, String(done.stderr)).toBe(1)
    // oclif wraps the message at the terminal's width, with its › at each line's start.
    const said = String(done.stderr).replace(/\s+(›\s+)?/g, ' ')
    expect(said).toMatch(/The backup was interrupted; the unfinished one \(\.\d{8}T\d{6}Z\.partial in .*\) is not a backup, and the next backup removes it/)
    const {stdout} = await execa('docker', ['service', 'ls', '--format', '{{.Name}}'], {env: site.env})
    expect(stdout).not.toContain('shing_backup_')
    expect(await completeBackups()).toEqual(known)
    // The next backup is whole, and takes the new recording.
    const next = await site.shing('backup', '--to', backups.dir, '--passphrase-file', passphraseFile, '--json')
    expect(next.exitCode, explain(next)).toBe(0)
    expect(next.json<{objects: number}>().objects).toBe(Object.keys(before.objects).length)
    expect((await readdir(backups.dir)).filter((n) => n.endsWith('.partial'))).toEqual([])
  })

  it('on a new box (down --volumes, no config): a wrong passphrase changes nothing; restore brings back every document and object', async () => {
    const down = await site.shing('down', '--volumes', '--yes')
    expect(down.exitCode, explain(down)).toBe(0)
    await rm(path.join(site.dir, 'shing.yaml'))
    await rm(path.join(site.dir, 'shing.secrets.yaml'))
    const wrongFile = `${passphraseFile}.wrong`
    await writeFile(wrongFile, 'not the passphrase at all\n')
    const wrong = await site.shing('restore', backups.dir, '--yes', '--passphrase-file', wrongFile)
    await rm(wrongFile)
    expect(wrong.exitCode).toBe(1)
    expect(wrong.stderr).toMatch(/passphrase does not open/)
    expect((await readdir(site.dir)).filter((n) => n.startsWith('shing.'))).toEqual([])

    const run = await site.shing('restore', backups.dir, '--yes', '--passphrase-file', passphraseFile, '--json', '--health-timeout', '240')
    expect(run.exitCode, explain(run)).toBe(0)
    const result = run.json<{documents: {restored: number; expected: number}; objects: {verified: number; expected: number}}>()
    expect(result.documents.restored).toBe(result.documents.expected)
    expect(result.objects.verified).toBe(result.objects.expected)
    const after = await snapshot()
    const total = (s: Snapshot): number => Object.values(s.counts).reduce((a, b) => a + b, 0)
    const sameObjects = Object.entries(before.objects).filter(([key, sum]) => after.objects[key] === sum).length
    figures.docs = `${total(after)}/${total(before)}`
    figures.objects = `${sameObjects}/${Object.keys(before.objects).length}`
    // The components may add what they make at start (indexes live beside the documents, not in them).
    for (const [name, count] of Object.entries(before.counts)) expect(after.counts[name], name).toBe(count)
    expect(sameObjects).toBe(Object.keys(before.objects).length)
  })

  it('after the restore: the VOD plays, the post and the chat message are there, and the browser is still logged in', async () => {
    const probe = await site.inBox(requireTool('ffprobe'), ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', vodUrl], 60_000)
    expect(Number(probe.stdout.trim().split('\n')[0]), probe.stderr).toBeGreaterThan(4)
    const page = await browser!.newPage()
    await page.goto(postUrl)
    expect(await page.locator('article.post strong').first().textContent()).toBe('outlives')
    await page.goto(`${base}/dashboard`)
    // The session was in Redis: it came back with the backup.
    expect(new URL(page.url()).pathname).toBe('/dashboard')
    expect(await page.locator('main').textContent()).toContain(CHANNEL)
    await page.goto(`${base}/c/${CHANNEL}`)
    await page.locator('#chat-log li', {hasText: 'a message that outlives the box'}).waitFor({timeout: 30_000})
    await page.close()
  })

  it('over the running site: refused without --yes and a terminal; with --yes, a post deleted since the backup is back', async () => {
    const page = await browser!.newPage()
    page.on('dialog', (dialog) => void dialog.accept())
    await page.goto(`${postUrl}/edit`)
    await page.getByRole('button', {name: 'Delete this post'}).click()
    await page.waitForURL((url) => !url.href.startsWith(postUrl))
    expect((await page.goto(postUrl))?.status()).toBe(404)
    const refused = await site.shing('restore', backups.dir, '--passphrase-file', passphraseFile)
    expect(refused.exitCode).toBe(1)
    expect(refused.stderr.replace(/\s+(›\s+)?/g, ' ')).toContain('there is no terminal to confirm on')
    const run = await site.shing('restore', backups.dir, '--yes', '--passphrase-file', passphraseFile, '--json', '--health-timeout', '240')
    expect(run.exitCode, explain(run)).toBe(0)
    // The objects were there already, unchanged: none was sent again.
    expect(run.json<{objects: {unchanged: number; uploaded: number; expected: number}}>().objects).toMatchObject({uploaded: 0})
    expect((await page.goto(postUrl))?.status()).toBe(200)
    expect(await page.locator('article.post strong').first().textContent()).toBe('outlives')
    await page.close()
  })
})
