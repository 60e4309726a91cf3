/**
 * Housekeeping on a seeded bucket, through a real web and worker on real Redis, FerretDB and
 * MinIO: past broadcasts inside and past the site's retention (one kept by its streamer on the
 * dashboard), a clip playing segments of an expired one, a live broadcast, one whose ingest died
 * and one only just ended, live thumbnails of an existing and a deleted channel, a channel's
 * avatar and the one it replaced, objects nothing points at older and younger than the grace, a
 * key of nobody's layout, and old chat. A dry run reports exactly what would go and removes
 * nothing; a real run removes exactly the orphans and the expired VOD (its clip's segments stay),
 * compared as sets of keys before and after.
 */
import {Job, Queue, QueueEvents} from 'bullmq'
import type {Collection} from 'mongodb'
import sharp from 'sharp'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {StreamDoc} from '../../../appliance/channels/stream-state.js'
import type {ClipDoc} from '../../../appliance/clips/clips.js'
import {streamStateKey, type StreamState} from '../../../appliance/contract/index.js'
import {QUEUE_PREFIX, type HousekeepingResult} from '../../../appliance/jobs/types.js'
import type {VodDoc} from '../../../appliance/vods/vods.js'
import {HOUSEKEEPING_SCHEDULER_ID} from '../../../appliance/worker/job-runner.js'
import {screenshot} from '../../harness/artifacts.js'
import {bucketKeys, putObjectAt} from '../../harness/bucket.js'
import {launchChromium, type RunningChromium} from '../../harness/chromium.js'
import {csrfToken, FormClient, signUpThroughForm} from '../../harness/http-client.js'
import {BUCKET, startLiveSite, type LiveSite} from '../../harness/live-site.js'
import {waitFor} from '../../harness/process.js'

const RETENTION = {vodDays: 30, chatDays: 7, orphanGraceHours: 24}
const DAY = 24 * 3600 * 1000
const HOUR = 3600 * 1000
const ago = (ms: number): Date => new Date(Date.now() - ms)

let site: LiveSite
let web: string
let owner: FormClient
let housekeepingQueue: Queue
let events: QueueEvents
let vodDeletes: Queue
let vodDeleteEvents: QueueEvents

const CHANNEL = 'keeper'
const LIVE_CHANNEL = 'onair'
/** Stream ids as the ingest makes them, one per seeded broadcast. */
const id = {
  recent: '20250301T100000Z-0000000a', // a VOD inside retention
  expired: '20250302T100000Z-0000000b', // a VOD past retention, a clip plays three of its objects
  kept: '20250303T100000Z-0000000c', // past retention, kept by its streamer
  live: '20250304T100000Z-0000000d', // live now (its ingest heartbeats its state)
  stale: '20250305T100000Z-0000000e', // marked live, its ingest died two days ago
  ending: '20250306T100000Z-0000000f', // ended ten minutes ago, not finalized yet
  orphaned: '20250307T100000Z-00000010', // ended ten days ago, no VOD (its delete never ran)
  unfinalized: '20250227T100000Z-00000011', // ended twenty days ago, no VOD: its finalize failed
}
const CLIP = 'clipaaaaaaaa'
const archive = (channel: string, streamId: string): string[] =>
  ['master.m3u8', '240p/index.m3u8', '240p/init.mp4', '240p/seg0.m4s', '240p/seg1.m4s', '240p/seg2.m4s', '240p/seg3.m4s'].map((n) => `dvr/${channel}/${streamId}/${n}`)
const clipSegments = [`dvr/${CHANNEL}/${id.expired}/240p/init.mp4`, `dvr/${CHANNEL}/${id.expired}/240p/seg1.m4s`, `dvr/${CHANNEL}/${id.expired}/240p/seg2.m4s`]

/** What nothing points at and is older than the grace: the orphans, exactly. */
const orphans = [
  ...archive(CHANNEL, id.orphaned),
  'clips/orphanclip01/clip.mp4',
  'clips/orphanclip01/poster.jpg',
  'thumbs/live/ghost.jpg',
  `channels/${CHANNEL}/avatar-0000000000000000.webp`,
  'channels/ghost/banner-1111111111111111.webp',
].sort()
/** Pointed at by nothing, but younger than the grace. */
const young = ['thumbs/live/ghost-two.jpg', 'clips/younglyclip1/clip.mp4', `dvr/ghost/${id.orphaned}/master.m3u8`]
/** The expired VOD's objects that vod.delete removes: all but those its clip plays. */
const expiredArchive = archive(CHANNEL, id.expired).filter((k) => !clipSegments.includes(k))

let avatarKey = ''

beforeAll(async () => {
  site = await startLiveSite()
  const env = {SHING_RETENTION: JSON.stringify(RETENTION)}
  await Promise.all([site.start('web', env), site.start('worker', env)])
  web = `http://127.0.0.1:${site.get('web').httpPort}`
  owner = await signUpThroughForm(web, 'keeper-owner', {password: 'correct horse battery staple', address: '198.51.100.90'})
  expect(await owner.submit('/dashboard', '/dashboard/channels', {name: CHANNEL, title: 'Kept things'})).toMatchObject({status: 303})
  await site.streamKey(LIVE_CHANNEL)
  // Its avatar, uploaded as a streamer does: the channel document names it.
  const form = new FormData()
  form.append('_csrf', csrfToken((await owner.get(`/dashboard/c/${CHANNEL}`)).text))
  form.append('image', new Blob([new Uint8Array(await sharp({create: {width: 300, height: 300, channels: 3, background: '#3a6'}}).png().toBuffer())], {type: 'image/png'}), 'me.png')
  expect((await owner.postMultipart(`/dashboard/c/${CHANNEL}/images/avatar`, form)).status).toBe(303)
  avatarKey = (await bucketKeys(site.minio, BUCKET, `channels/${CHANNEL}/`))[0]!

  // Housekeeping runs only when this test asks: the worker's own schedule is taken away.
  const connection = site.redisEndpoint
  housekeepingQueue = new Queue('housekeeping', {connection, prefix: QUEUE_PREFIX})
  events = new QueueEvents('housekeeping', {connection, prefix: QUEUE_PREFIX})
  vodDeletes = new Queue('vod.delete', {connection, prefix: QUEUE_PREFIX})
  vodDeleteEvents = new QueueEvents('vod.delete', {connection, prefix: QUEUE_PREFIX})
  await Promise.all([events.waitUntilReady(), vodDeleteEvents.waitUntilReady()])
  await housekeepingQueue.removeJobScheduler(HOUSEKEEPING_SCHEDULER_ID)
  await housekeepingQueue.drain(true)
  await waitFor('no housekeeping to run', async () => ((await housekeepingQueue.getActiveCount()) === 0 ? true : undefined), {timeoutMs: 20_000, intervalMs: 200})
  await seed()
}, 180_000)

afterAll(async () => {
  await Promise.allSettled([events?.close(), housekeepingQueue?.close(), vodDeleteEvents?.close(), vodDeletes?.close()])
  await site?.stop()
})

const db = () => site.mongoClient.db('shing')
const vods = (): Collection<VodDoc> => db().collection<VodDoc>('vods')
const streams = (): Collection<StreamDoc> => db().collection<StreamDoc>('streams')

async function seed(): Promise<void> {
  const put = (key: string, at: Date, body: Buffer | string = `${key}\n`): Promise<void> => putObjectAt(site.minio, BUCKET, key, body, at)
  const renditions = [{name: '240p', segments: 4, durationSeconds: 8}]
  const vod = (streamId: string, createdAt: Date, kept?: boolean): VodDoc => ({
    streamId, channel: CHANNEL, segments: 4, durationSeconds: 8, renditions, createdAt, ...(kept === undefined ? {} : {kept}),
  })
  const stream = (channel: string, streamId: string, startedAt: Date, ended: Date | undefined, ingestId = 'ingest-gone'): StreamDoc => ({
    channel, streamId, ingestId, startedAt, live: ended === undefined, renditions: [{name: '240p', height: 240, bandwidth: 464_000}], ...(ended === undefined ? {} : {endedAt: ended}),
  })
  await vods().insertMany([vod(id.recent, ago(5 * DAY)), vod(id.expired, ago(40 * DAY)), vod(id.kept, ago(40 * DAY), true)])
  await streams().insertMany([
    stream(CHANNEL, id.recent, ago(5 * DAY + HOUR), ago(5 * DAY)),
    stream(CHANNEL, id.expired, ago(40 * DAY + HOUR), ago(40 * DAY)),
    stream(CHANNEL, id.kept, ago(40 * DAY + HOUR), ago(40 * DAY)),
    stream(LIVE_CHANNEL, id.live, ago(3 * DAY), undefined, 'ingest-alive'),
    stream(CHANNEL, id.stale, ago(2 * DAY), undefined, 'ingest-gone'),
    stream(CHANNEL, id.ending, ago(3 * DAY), ago(10 * 60_000)),
    // Its VOD deleted by its streamer (so marked), the delete never ran (Redis was away then).
    {...stream(CHANNEL, id.orphaned, ago(10 * DAY + HOUR), ago(10 * DAY)), archiveDeleted: true},
    // Its dvr.finalize failed for good: no VOD, never deleted on purpose. The recording stays.
    stream(CHANNEL, id.unfinalized, ago(20 * DAY + HOUR), ago(20 * DAY)),
  ])
  // The live broadcast's state, as its ingest keeps it in Redis with every heartbeat.
  const state: StreamState = {channel: LIVE_CHANNEL, streamId: id.live, since: ago(3 * DAY).toISOString(), ingestId: 'ingest-alive', origin: '127.0.0.1:1', renditions: []}
  await site.client.set(streamStateKey(LIVE_CHANNEL), JSON.stringify(state), 'EX', 600)
  const clip: ClipDoc = {
    clipId: CLIP, channel: CHANNEL, streamId: id.expired, title: 'The good bit', createdBy: 'someone', createdByName: 'someone',
    request: {seconds: 30}, status: 'ready', segmentKeys: clipSegments, createdAt: ago(39 * DAY),
  }
  await db().collection<ClipDoc>('clips').insertOne(clip)
  await db().collection('chat_messages').insertMany([
    {channel: CHANNEL, userId: 'u1', user: 'old-talker', text: 'long ago', at: ago(10 * DAY)},
    {channel: CHANNEL, userId: 'u1', user: 'old-talker', text: 'also long ago', at: ago(8 * DAY)},
    {channel: CHANNEL, userId: 'u2', user: 'new-talker', text: 'just now', at: ago(60_000)},
  ])

  // The bucket: old objects (as old as their broadcasts), young ones, and one of nobody's layout.
  for (const key of archive(CHANNEL, id.recent)) await put(key, ago(5 * DAY))
  for (const streamId of [id.expired, id.kept]) for (const key of archive(CHANNEL, streamId)) await put(key, ago(40 * DAY))
  await put(`dvr/${CHANNEL}/${id.expired}/download.mp4`, ago(30 * DAY))
  await put(`dvr/${CHANNEL}/${id.expired}/previews/poster.jpg`, ago(40 * DAY))
  expiredArchive.push(`dvr/${CHANNEL}/${id.expired}/download.mp4`, `dvr/${CHANNEL}/${id.expired}/previews/poster.jpg`)
  for (const key of archive(LIVE_CHANNEL, id.live)) await put(key, ago(3 * DAY))
  for (const key of archive(CHANNEL, id.stale)) await put(key, ago(2 * DAY))
  for (const key of archive(CHANNEL, id.ending)) await put(key, ago(3 * DAY))
  for (const key of archive(CHANNEL, id.unfinalized)) await put(key, ago(20 * DAY))
  for (const key of [`clips/${CLIP}/clip.mp4`, `clips/${CLIP}/index.m3u8`, `clips/${CLIP}/poster.jpg`]) await put(key, ago(39 * DAY))
  await put(`thumbs/live/${CHANNEL}.jpg`, ago(3 * DAY))
  // The avatar the channel names, old: still kept.
  const chunks: Buffer[] = []
  for await (const chunk of await site.minio.getObject(BUCKET, avatarKey)) chunks.push(chunk as Buffer)
  await put(avatarKey, ago(20 * DAY), Buffer.concat(chunks))
  for (const key of orphans) await put(key, ago(3 * DAY))
  for (const [i, key] of young.entries()) await put(key, ago((i + 1) * HOUR))
  await put('backups/notes.txt', ago(100 * DAY))
}

async function runHousekeeping(dryRun: boolean): Promise<HousekeepingResult> {
  const job = await housekeepingQueue.add('housekeeping', {dryRun})
  return (await job.waitUntilFinished(events, 60_000)) as HousekeepingResult
}

describe('keeping a past broadcast', () => {
  it('the dashboard shows when each past broadcast goes, and Keep / Don\'t keep change it (also in the API)', async () => {
    const dashboard = `/dashboard/c/${CHANNEL}`
    const html = (await owner.get(dashboard)).text
    expect(html).toContain('This site deletes past broadcasts 30 days after they end, unless you keep them.')
    const expiresAt = new Date((await vods().findOne({streamId: id.recent}))!.createdAt.getTime() + 30 * DAY).toISOString()
    expect(html).toContain(`Goes on <time datetime="${expiresAt}">`)
    // Past its date already: it goes at housekeeping's next run.
    expect(html).toMatch(/Goes within minutes<\/span> <form class="inline" method="post" action="\/dashboard\/c\/keeper\/vods\/20250302T100000Z-0000000b\/keep">/)
    expect(html).toMatch(/<span class="kept">Kept<\/span>[^]*?Don't keep the broadcast of/)

    const keep = await owner.submit(dashboard, `${dashboard}/vods/${id.recent}/keep`, {keep: '1'})
    expect(keep).toMatchObject({status: 303, location: `${dashboard}?kept=1#past-broadcasts`})
    expect((await owner.get(`${dashboard}?kept=1`)).text).toContain('The broadcast is kept: the site&#39;s retention will not delete it.')
    expect((await vods().findOne({streamId: id.recent}))?.kept).toBe(true)
    const api = await site.web<{vods: Array<{streamId: string; kept: boolean; expiresAt?: string}>}>(`/api/streams/${CHANNEL}/vods`)
    expect(api.body.vods.find((v) => v.streamId === id.recent)).toMatchObject({kept: true})
    expect(api.body.vods.find((v) => v.streamId === id.recent)?.expiresAt).toBeUndefined()
    expect(api.body.vods.find((v) => v.streamId === id.expired)).toMatchObject({kept: false, expiresAt: expect.any(String)})

    expect(await owner.submit(dashboard, `${dashboard}/vods/${id.recent}/keep`, {keep: '0'})).toMatchObject({status: 303})
    expect((await vods().findOne({streamId: id.recent}))?.kept).toBeUndefined()
    const again = await site.web<{vods: Array<{streamId: string; kept: boolean; expiresAt?: string}>}>(`/api/streams/${CHANNEL}/vods`)
    expect(again.body.vods.find((v) => v.streamId === id.recent)).toEqual(expect.objectContaining({kept: false, expiresAt}))
  })

  it('nobody else can keep it, and a form from another site is refused', async () => {
    const stranger = await signUpThroughForm(web, 'not-the-owner', {password: 'correct horse battery staple', address: '198.51.100.91'})
    const path = `/dashboard/c/${CHANNEL}/vods/${id.expired}/keep`
    expect((await stranger.submit('/dashboard', path, {keep: '1'})).status).toBe(404)
    expect((await owner.post(path, {keep: '1'})).status).toBe(403)
    expect((await vods().findOne({streamId: id.expired}))?.kept).toBeUndefined()
  })

  it('looks right on a desktop and on a phone', async () => {
    const chromium: RunningChromium = await launchChromium()
    try {
      const page = await chromium.newPage()
      await page.context().addCookies([{name: 'shing_session', value: owner.cookie('shing_session')!, url: web}])
      await page.setViewportSize({width: 1280, height: 800})
      await page.goto(`${web}/dashboard/c/${CHANNEL}#past-broadcasts`)
      await page.getByRole('button', {name: /^Keep the broadcast of/}).first().waitFor()
      await screenshot(page, 'dashboard-past-broadcasts-retention')
      await page.setViewportSize({width: 390, height: 844})
      await screenshot(page, 'dashboard-past-broadcasts-retention-phone')
      // With the keyboard: Tab reaches a Keep button, Enter keeps that broadcast.
      const button = page.getByRole('button', {name: /^Keep the broadcast of/}).first()
      await button.focus()
      await page.keyboard.press('Enter')
      await page.waitForURL(/kept=1/)
      expect(await page.getByRole('status').filter({hasText: 'The broadcast is kept'}).count()).toBe(1)
    } finally {
      await chromium.close()
    }
    // Back as seeded: only the one broadcast kept.
    await vods().updateMany({streamId: {$ne: id.kept}}, {$unset: {kept: ''}})
  })
})

describe('housekeeping on a seeded bucket', () => {
  let before: string[] = []

  it('a dry run reports exactly what would go, and removes nothing', async () => {
    before = await bucketKeys(site.minio, BUCKET)
    const result = await runHousekeeping(true)
    expect(result.dryRun).toBe(true)
    expect(result.expiredVods).toEqual({vodDays: 30, count: 1, examples: [`${CHANNEL}/${id.expired}`], kept: 1})
    expect(result.staleStreams).toEqual({count: 1, examples: [`${CHANNEL}/${id.stale}`]})
    expect(result.chatMessages).toEqual({chatDays: 7, count: 2})
    expect(result.orphans).toMatchObject({swept: true, graceHours: 24, count: orphans.length, withinGrace: young.length, unknown: 1, scanned: before.length})
    expect([...result.orphans.examples].sort()).toEqual(orphans)
    expect(result.orphans.byKind).toEqual({'archive': archive(CHANNEL, id.orphaned).length, 'clip': 2, 'live-thumbnail': 1, 'channel-image': 2, 'post-image': 0})
    expect(result.orphans.bytes).toBe(orphans.reduce((sum, key) => sum + `${key}\n`.length, 0))

    expect(await bucketKeys(site.minio, BUCKET)).toEqual(before)
    expect(await vods().countDocuments()).toBe(3)
    expect(await streams().countDocuments({live: true})).toBe(2)
    expect(await db().collection('chat_messages').countDocuments()).toBe(3)
  })

  it('a real run removes exactly the orphans and the expired VOD (its clip keeps its segments), and nothing else', async () => {
    const result = await runHousekeeping(false)
    expect(result.dryRun).toBe(false)
    expect(result.expiredVods).toMatchObject({count: 1, examples: [`${CHANNEL}/${id.expired}`], kept: 1})
    expect(result.staleStreams.count).toBe(1)
    expect(result.chatMessages.count).toBe(2)
    expect([...result.orphans.examples].sort()).toEqual(orphans)
    // The expired VOD's archive leaves through vod.delete, which the run queued.
    const job = await Job.fromId(vodDeletes, `vod.delete-${id.expired}`)
    expect(job).toBeDefined()
    await job!.waitUntilFinished(vodDeleteEvents, 30_000)

    const after = await bucketKeys(site.minio, BUCKET)
    const gone = before.filter((k) => !after.includes(k)).sort()
    expect(gone).toEqual([...orphans, ...expiredArchive].sort())
    expect(after.filter((k) => !before.includes(k))).toEqual([])
    for (const key of [...clipSegments, ...young, 'backups/notes.txt', avatarKey, `thumbs/live/${CHANNEL}.jpg`, ...archive(CHANNEL, id.kept), ...archive(LIVE_CHANNEL, id.live)]) {
      expect(after, key).toContain(key)
    }

    expect((await vods().find().toArray()).map((v) => v.streamId).sort()).toEqual([id.recent, id.kept].sort())
    expect(await streams().findOne({streamId: id.stale})).toMatchObject({live: false, endReason: 'ingest gone'})
    expect(await streams().findOne({streamId: id.live})).toMatchObject({live: true})
    expect((await db().collection('chat_messages').find().toArray()).map((m) => m.text)).toEqual(['just now'])
  })

  it('a second run finds nothing more to remove', async () => {
    const result = await runHousekeeping(false)
    expect({vods: result.expiredVods.count, streams: result.staleStreams.count, chat: result.chatMessages.count, orphans: result.orphans.count}).toEqual({vods: 0, streams: 0, chat: 0, orphans: 0})
    // The ended broadcast whose ingest died keeps its archive for the grace period.
    expect(await bucketKeys(site.minio, BUCKET, `dvr/${CHANNEL}/${id.stale}/`)).toEqual(archive(CHANNEL, id.stale).sort())
  })

  it('a scheduled run lists the bucket at most once an hour; a run asked for always does', async () => {
    const since = Date.now()
    await housekeepingQueue.upsertJobScheduler(HOUSEKEEPING_SCHEDULER_ID, {every: 60_000}, {name: 'housekeeping', data: {}})
    const scheduled = await waitFor(
      'a scheduled run to finish',
      async () => (await housekeepingQueue.getCompleted()).find((j) => j.id?.startsWith(`repeat:${HOUSEKEEPING_SCHEDULER_ID}:`) && (j.finishedOn ?? 0) >= since),
      {timeoutMs: 20_000, intervalMs: 200},
    )
    await housekeepingQueue.removeJobScheduler(HOUSEKEEPING_SCHEDULER_ID)
    // The runs asked for above set the hour going: this one left the bucket alone.
    expect((scheduled.returnvalue as HousekeepingResult).orphans).toMatchObject({swept: false, scanned: 0})
    expect((await runHousekeeping(true)).orphans.swept).toBe(true)
  })
})

