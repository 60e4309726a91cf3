/**
 * The workers (`npm run e2e:workers`): real Redis, FerretDB, MinIO and ffmpeg, a web, an ingest, a
 * relay and two workers as processes behind one front, Chromium. A live broadcast, then a clip of
 * its last 30 s (an MP4 ffprobe reads, playing in Chromium; one across a discontinuity split or
 * refused; deleting the VOD leaves the clip playable); thumbnails and previews; a downloadable MP4
 * remuxed while a worker is SIGKILLed (another finishes it, one result); encode jobs routed to a
 * GPU worker or falling back to CPU; housekeeping on a seeded bucket; the jobs dashboard.
 * Ends with `workers e2e: clip=<s>s plays=yes recovered-after-kill=yes orphans-removed=<n>`.
 */
import {afterAll, beforeAll, describe} from 'vitest'

import {launchChromium, type RunningChromium} from '../harness/chromium.js'
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
})

