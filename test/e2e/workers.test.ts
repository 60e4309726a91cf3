/**
 * The workers (`npm run e2e:workers`): real Redis, FerretDB, MinIO and ffmpeg, a web, an ingest, a
 * relay and two workers as processes behind one front, Chromium. A live broadcast, then a clip of
 * its last 30 s (an MP4 ffprobe reads, playing in Chromium; one across a discontinuity split or
 * refused; deleting the VOD leaves the clip playable); thumbnails and previews; a downloadable MP4
 * remuxed while a worker is SIGKILLed (another finishes it, one result); encode jobs routed to a
 * GPU worker or falling back to CPU; housekeeping on a seeded bucket; the jobs dashboard.
 * Ends with `workers e2e: clip=<s>s plays=yes recovered-after-kill=yes orphans-removed=<n>`.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {Queue} from 'bullmq'

import {jobsSummarySchema} from '../../appliance/contract/index.js'
import {QUEUE_PREFIX} from '../../appliance/jobs/catalog.js'
import {runAdminOperation} from '../harness/appliance.js'
import {screenshot} from '../harness/artifacts.js'
import {launchChromium, type RunningChromium} from '../harness/chromium.js'
import {waitFor} from '../harness/process.js'
import {startLiveSite, type LiveSite} from '../harness/live-site.js'

let site: LiveSite
let chromium: RunningChromium
let front = ''
/** The e2e's last line. */
const figures = {clipSeconds: -1, plays: 'no', recoveredAfterKill: 'no', orphansRemoved: -1}

beforeAll(async () => {
  // A small ladder: the 2-core test box runs an ingest, two workers and Chromium at once.
  site = await startLiveSite({
    adjustProfile: (p) => ({...p, hls: {segmentSeconds: 2, partSeconds: 0.5}, ladder: [{name: '240p', height: 240, fps: 15, videoKbps: 400, audioKbps: 64}]}),
  })
  front = site.frontUrl()
  await Promise.all(['web', 'ingest', 'relay', 'worker-a', 'worker-b'].map((id) => site.start(id, {SHING_PUBLIC_URL: front})))
  chromium = await launchChromium()
})

afterAll(async () => {
  process.stdout.write(
    `workers e2e: clip=${figures.clipSeconds.toFixed(1)}s plays=${figures.plays} recovered-after-kill=${figures.recoveredAfterKill} orphans-removed=${figures.orphansRemoved}\n`,
  )
  await chromium?.close().catch(() => undefined)
  await site?.stop()
})

// Each section below is its own describe; they share the site and run in order.

describe('clips', () => {
  // clips: section
})

describe('thumbnails and previews', () => {
  // previews: section
})

describe('downloadable VODs, a worker killed mid-job, GPU routing', () => {
  // vod processing: section
})

describe('housekeeping', () => {
  // housekeeping: section
})

describe('the jobs dashboard and shing jobs', () => {
  // jobs: section
  const adminEnv = (): NodeJS.ProcessEnv => ({...site.env, SHING_COMPONENT: 'web', SHING_PUBLIC_URL: front})

  it('jobs.summary (shing jobs) lists both workers with their capabilities, and a job that cannot run with its error', async () => {
    // A job put straight on a queue with data that does not fit (as a hand-made one might): it fails at once, no retries.
    const queue = new Queue('vod.delete', {connection: site.redisEndpoint, prefix: QUEUE_PREFIX})
    await queue.add('vod.delete', {channel: 42}, {jobId: 'misfit', attempts: 5})
    const summary = await waitFor('the misfit to fail', async () => {
      const run = await runAdminOperation('jobs.summary', {failedLimit: 10}, adminEnv())
      if (!run.reply.ok) throw new Error(run.reply.error.message)
      const result = jobsSummarySchema.parse(run.reply.result)
      return result.failed.some((f) => f.id === 'misfit') ? result : undefined
    }, {timeoutMs: 20_000, intervalMs: 500})
    expect(summary.workers.map((w) => w.id).sort()).toEqual(expect.arrayContaining(['worker-a', 'worker-b']))
    for (const w of summary.workers) expect(w.capabilities).toEqual(expect.arrayContaining(['general', 'video-cpu']))
    expect(summary.failed.find((f) => f.id === 'misfit')).toMatchObject({queue: 'vod.delete', attemptsMade: 1, failedReason: expect.stringMatching(/does not fit vod\.delete/)})
    await queue.close()
  })

  it('an admin sees the queues on /admin/jobs; others are refused, and a change from another site is refused', async () => {
    const created = await runAdminOperation('user.create', {username: 'jobs-admin', email: 'jobs-admin@example.test', role: 'admin'}, adminEnv())
    if (!created.reply.ok) throw new Error(created.reply.error.message)
    const {password} = created.reply.result as {password: string}
    const context = await chromium.browser.newContext()
    try {
      const page = await context.newPage()
      await page.goto(`${front}/login`)
      await page.getByLabel('Username or e-mail').fill('jobs-admin')
      await page.getByLabel('Password').fill(password)
      await page.getByRole('button', {name: 'Log in'}).click()
      await page.waitForURL((url) => !url.pathname.startsWith('/login'))
      await page.goto(`${front}/admin/nodes`)
      await page.getByRole('link', {name: 'Jobs'}).click()
      await page.waitForURL(`${front}/admin/jobs`)
      await page.getByText('vod.delete').first().waitFor({timeout: 20_000})
      expect(await page.getByText('clip.create').count()).toBeGreaterThan(0)
      await screenshot(page, 'jobs-dashboard')
      // The failed job, with its error, on the queue's page.
      await page.goto(`${front}/admin/jobs/queue/vod.delete?status=failed`)
      await page.getByText(/does not fit vod\.delete/).first().waitFor({timeout: 20_000})
      await screenshot(page, 'jobs-dashboard-failed')
      // Its API refuses a change sent from another site, even with the admin's cookie.
      const cookies = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ')
      const forged = await fetch(`${front}/admin/jobs/api/queues/vod.delete/retry/failed`, {method: 'PUT', headers: {cookie: cookies, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site'}})
      expect(forged.status).toBe(403)
      const anonymous = await fetch(`${front}/admin/jobs`, {redirect: 'manual'})
      expect(anonymous.status).toBe(303)
    } finally {
      await context.close()
    }
  })

  it('jobs.retry runs a failed job again and jobs.remove drops it', async () => {
    const retried = await runAdminOperation('jobs.retry', {queue: 'vod.delete', jobId: 'misfit'}, adminEnv())
    expect(retried.reply).toEqual({ok: true, result: {retried: [{queue: 'vod.delete', id: 'misfit'}]}})
    await waitFor('the retried misfit to fail again', async () => {
      const run = await runAdminOperation('jobs.summary', {failedLimit: 10}, adminEnv())
      return run.reply.ok && jobsSummarySchema.parse(run.reply.result).failed.some((f) => f.id === 'misfit') ? true : undefined
    }, {timeoutMs: 20_000, intervalMs: 500})
    const removed = await runAdminOperation('jobs.remove', {queue: 'vod.delete', jobId: 'misfit'}, adminEnv())
    expect(removed.reply).toEqual({ok: true, result: {queue: 'vod.delete', id: 'misfit', state: 'failed'}})
    const unknown = await runAdminOperation('jobs.remove', {queue: 'vod.delete', jobId: 'misfit'}, adminEnv())
    expect(unknown.reply).toMatchObject({ok: false, error: {kind: 'abort', message: 'no job misfit in vod.delete'}})
  })
})

