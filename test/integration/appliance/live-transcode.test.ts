import {readFileSync} from 'node:fs'
import {writeFile} from 'node:fs/promises'
import {createServer, type Server} from 'node:http'
import {once} from 'node:events'
import {createRequire} from 'node:module'
import path from 'node:path'

import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {LiveTranscode, type TranscodeProgress} from '../../../appliance/hls/live-transcode.js'
import type {PartEvent} from '../../../appliance/hls/llhls.js'
import {findProfile, loadProfiles} from '../../../src/hardware/profiles.js'
import {launchChromium} from '../../harness/chromium.js'
import {freePort, tempDir, waitFor, type ManagedProcess} from '../../harness/process.js'
import {publishTestStream, startMediaServer, type MediaServer} from '../../harness/rtmp.js'
import {requireTool} from '../../harness/tools.js'

/**
 * The real path of one stream: ffmpeg publishes like OBS to node-media-server, the cpu-small
 * ladder (3 renditions) reads it back over RTMP, and the LL-HLS packager serves it over HTTP to
 * ffprobe and to hls.js in Chromium.
 */

const hlsJs = createRequire(import.meta.url).resolve('hls.js/dist/hls.min.js')
const playerPage = `<!doctype html>
<video id="v" muted autoplay playsinline></video>
<script src="/hls.min.js"></script>
<script>
  const video = document.getElementById('v')
  window.errors = []
  // Catching up at up to 1.5x keeps it near PART-HOLD-BACK (hls.js defaults to no catching up).
  const hls = new Hls({lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5})
  window.hls = hls
  hls.on(Hls.Events.ERROR, (_, data) => { if (data.fatal) window.errors.push(data.type + ': ' + data.details) })
  hls.loadSource('/live/test/master.m3u8')
  hls.attachMedia(video)
  hls.on(Hls.Events.MANIFEST_PARSED, () => video.play())
</script>`

let nms: MediaServer | undefined
let publisher: ManagedProcess | undefined
let transcode: LiveTranscode | undefined
let server: Server | undefined
let base = ''
const parts: PartEvent[] = []
const progress: TranscodeProgress[] = []
const errors: Error[] = []
const setupMs: Record<string, number> = {}

const timed = async <T>(step: string, run: () => Promise<T>): Promise<T> => {
  const start = Date.now()
  try {
    return await run()
  } finally {
    setupMs[step] = Date.now() - start
  }
}

/** ffmpeg's CPU seconds so far (utime + stime of /proc/<pid>/stat, in clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

async function get(url: string): Promise<{status: number; text: string; headers: Headers}> {
  const response = await fetch(url)
  return {status: response.status, text: await response.text(), headers: response.headers}
}

beforeAll(async () => {
  const profile = findProfile(await loadProfiles(), 'cpu-small')
  nms = await timed('node-media-server', () => startMediaServer())
  const url = nms.rtmpUrl('live', 'test')
  publisher = await timed('publisher', () => publishTestStream({url}))
  await nms.waitForPublish('live', 'test')
  transcode = new LiveTranscode({profile, input: url, ffmpegPath: requireTool('ffmpeg')})
  transcode.on('error', (error) => errors.push(error))
  transcode.on('progress', (p) => progress.push(p))
  transcode.packager.on('part', (p) => parts.push(p))

  const packager = transcode.packager
  server = createServer((req, res) => {
    const {pathname, searchParams} = new URL(req.url ?? '/', 'http://127.0.0.1')
    if (pathname === '/hls.min.js') {
      res.writeHead(200, {'content-type': 'text/javascript'}).end(readFileSync(hlsJs))
      return
    }
    if (pathname === '/player.html') {
      res.writeHead(200, {'content-type': 'text/html'}).end(playerPage)
      return
    }
    if (!pathname.startsWith('/live/test/')) {
      res.writeHead(404).end()
      return
    }
    packager.handle(pathname.slice('/live/test/'.length), searchParams).then(
      (r) => res.writeHead(r.status, r.headers).end(r.body),
      (error: unknown) => res.writeHead(500).end(String(error)),
    )
  })
  const port = await freePort()
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  base = `http://127.0.0.1:${port}`
  // Two segments in every rendition: the playlists have something to show.
  await timed('first segments', () =>
    waitFor('two segments in every rendition', async () => packager.renditions.every((r) => packager.segments(r.name).length >= 2), {timeoutMs: 30_000}),
  )
})

afterAll(async () => {
  await transcode?.stop()
  await publisher?.stop()
  await nms?.stop()
  server?.closeAllConnections()
  server?.close()
  console.log(`media setup ms: ${JSON.stringify(setupMs)}`)
})

describe('live transcode to LL-HLS (cpu-small ladder, real ffmpeg)', () => {
  it('writes every rendition as parts and ≈2 s segments that start on keyframes', async () => {
    for (const name of ['720p', '480p', '360p']) {
      const {status, text, headers} = await get(`${base}/live/test/${name}/index.m3u8`)
      expect(status).toBe(200)
      expect(headers.get('content-type')).toBe('application/vnd.apple.mpegurl')
      expect(headers.get('cache-control')).toBe('no-cache')
      expect(text).toContain('#EXT-X-PART-INF:PART-TARGET=0.500')
      expect(text).toContain('#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.500')
      expect(text).toMatch(/#EXT-X-PART:DURATION=0\.\d+,URI="part\d+\.0\.m4s",INDEPENDENT=YES/)
      expect(text).toMatch(/#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part\d+\.\d+\.m4s"/)
      const durations = [...text.matchAll(/#EXTINF:([\d.]+),/g)].map((m) => Number(m[1]))
      expect(durations.length).toBeGreaterThanOrEqual(2)
      // One GOP each, and parts of one PART-TARGET (whole frames at 30 fps).
      for (const d of durations) expect(Math.abs(d - 2)).toBeLessThan(0.05)
      const partDurations = [...text.matchAll(/#EXT-X-PART:DURATION=([\d.]+)/g)].map((m) => Number(m[1]))
      for (const d of partDurations) expect(d).toBeLessThanOrEqual(0.5)

      // ffprobe on init + one segment: its first video frame is a keyframe.
      const msn = /seg(\d+)\.m4s\n(?![\s\S]*seg\d+\.m4s)/.exec(text)![1]
      const dir = await tempDir('seg')
      try {
        const init = Buffer.from(await (await fetch(`${base}/live/test/${name}/init.mp4`)).arrayBuffer())
        const seg = await fetch(`${base}/live/test/${name}/seg${msn}.m4s`)
        expect(seg.headers.get('cache-control')).toContain('immutable')
        const file = path.join(dir.dir, 'seg.mp4')
        await writeFile(file, Buffer.concat([init, Buffer.from(await seg.arrayBuffer())]))
        const {stdout} = await execa(requireTool('ffprobe'), [
          '-v', 'error', '-select_streams', 'v:0', '-show_entries', 'frame=key_frame,pict_type', '-of', 'csv=p=0', file,
        ])
        const frames = stdout.trim().split('\n')
        expect(frames[0]).toMatch(/^1,I/)
        expect(frames.length).toBeGreaterThanOrEqual(58)
        expect(frames.slice(1).every((f) => f.startsWith('0,'))).toBe(true)
      } finally {
        await dir.remove()
      }
    }
  })

  it('plays over HTTP: ffprobe reads the master playlist and finds every rendition’s height', async () => {
    const {stdout} = await execa(requireTool('ffprobe'), [
      '-v', 'error', '-show_entries', 'stream=codec_type,height', '-of', 'json', `${base}/live/test/master.m3u8`,
    ], {timeout: 60_000})
    const streams = (JSON.parse(stdout) as {streams: {codec_type: string; height?: number}[]}).streams
    const heights = new Set(streams.filter((s) => s.codec_type === 'video').map((s) => s.height))
    expect([...heights].sort()).toEqual([360, 480, 720])
    expect(streams.some((s) => s.codec_type === 'audio')).toBe(true)
  })

  it('holds a blocking playlist request until the part exists, then answers with it', async () => {
    const hint = (playlist: string): [number, number] => {
      const [, msn, part] = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part(\d+)\.(\d+)\.m4s"/.exec(playlist)!
      return [Number(msn), Number(part)]
    }
    const blocking = async (msn: number, part: number): Promise<{text: string; heldMs: number; wakeMs: number}> => {
      const asked = Date.now()
      const response = await get(`${base}/live/test/480p/index.m3u8?_HLS_msn=${msn}&_HLS_part=${part}`)
      const answered = Date.now()
      expect(response.status).toBe(200)
      expect(response.text).toContain(`URI="part${msn}.${part}.m4s"`)
      const event = parts.find((p) => p.rendition === '480p' && p.msn === msn && p.part === part)
      expect(event).toBeDefined()
      // Not before the part existed.
      expect(answered).toBeGreaterThanOrEqual(event!.at)
      return {text: response.text, heldMs: answered - asked, wakeMs: answered - event!.at}
    }
    // Catch up with the live edge, then ask for the part after it: it does not exist yet.
    const first = await blocking(...hint((await get(`${base}/live/test/480p/index.m3u8`)).text))
    const [msn, part] = hint(first.text)
    const second = await blocking(msn, part)
    console.log(`blocking reload: held ${second.heldMs} ms, answered ${second.wakeMs} ms after the part reached the packager`)
    expect(second.heldMs).toBeGreaterThan(100)
    expect(second.heldMs).toBeLessThan(1500)
    expect(second.wakeMs).toBeLessThan(100)

    // The hinted part itself, asked for before it exists, is held the same way.
    const next = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="(part\d+\.\d+\.m4s)"/.exec(second.text)![1]
    const media = await fetch(`${base}/live/test/480p/${next}`)
    expect(media.status).toBe(200)
    expect(media.headers.get('content-type')).toBe('video/iso.segment')
    // Too far ahead: 400 at once.
    expect((await get(`${base}/live/test/480p/index.m3u8?_HLS_msn=${msn + 5}`)).status).toBe(400)
  })

  it('plays in Chromium with hls.js in low-latency mode', async () => {
    const chromium = await launchChromium()
    try {
      const page = await chromium.newPage()
      await page.goto(`${base}/player.html`)
      await page.waitForFunction(() => (document.getElementById('v') as HTMLVideoElement).currentTime > 0.5, undefined, {timeout: 30_000})
      const start = await page.evaluate(() => (document.getElementById('v') as HTMLVideoElement).currentTime)
      await page.waitForFunction(
        (from) => (document.getElementById('v') as HTMLVideoElement).currentTime >= from + 5,
        start,
        {timeout: 30_000, polling: 250},
      )
      const state = await page.evaluate(() => {
        type Level = {height: number; details?: {partList: unknown[] | null}}
        const w = window as unknown as {hls: {latency: number; levels: Level[]}; errors: string[]}
        return {
          latency: w.hls.latency,
          levels: w.hls.levels.map((l) => l.height),
          // hls.js saw EXT-X-PART in the playlists it loaded (low-latency mode is on).
          parts: Math.max(...w.hls.levels.map((l) => l.details?.partList?.length ?? 0)),
          errors: w.errors,
        }
      })
      console.log(`hls.js: levels ${state.levels.join('/')}, latency to live edge ${state.latency.toFixed(2)} s`)
      expect(state.errors).toEqual([])
      expect(state.levels.sort()).toEqual([360, 480, 720])
      expect(state.parts).toBeGreaterThan(0)
    } finally {
      await chromium.close()
    }
  })

  it('reports its speed, and after stop every playlist ends with #EXT-X-ENDLIST', async () => {
    const t = transcode!
    const cpu0 = cpuSeconds(t.pid!)
    const wall0 = Date.now()
    await new Promise<void>((resolve) => t.once('progress', () => resolve()))
    await new Promise<void>((resolve) => t.once('progress', () => resolve()))
    const cores = (cpuSeconds(t.pid!) - cpu0) / ((Date.now() - wall0) / 1000)
    const speed = t.progress!.speed
    console.log(`ladder: speed ${speed}x, ${cores.toFixed(2)} cores (cpu-small, 3 renditions, 2-core box)`)
    expect(speed).toBeGreaterThan(0.9)

    // Part pipeline: media time vs. the wall clock when each part reached the playlist.
    const mine = parts.filter((p) => p.rendition === '720p')
    const intervals = mine.slice(1).map((p, i) => p.at - mine[i]!.at)
    console.log(`720p parts: ${mine.length}, interval median ${intervals.sort((a, b) => a - b)[Math.floor(intervals.length / 2)]} ms`)

    await t.stop()
    expect(errors).toEqual([])
    for (const name of ['720p', '480p', '360p']) {
      const {text} = await get(`${base}/live/test/${name}/index.m3u8`)
      expect(text.trimEnd().endsWith('#EXT-X-ENDLIST')).toBe(true)
      expect(text).not.toContain('PRELOAD-HINT')
    }
  })
})

describe('live transcode failures', () => {
  it('reports ffmpeg’s death as an error with its output, and still ends the playlists', async () => {
    const profile = findProfile(await loadProfiles(), 'cpu-small')
    // Nothing listens there: ffmpeg cannot open its input and exits.
    const dead = new LiveTranscode({profile, input: `rtmp://127.0.0.1:${await freePort()}/live/none`, ffmpegPath: requireTool('ffmpeg')})
    const failures: Error[] = []
    dead.on('error', (error) => failures.push(error))
    await dead.done()
    expect(failures).toHaveLength(1)
    expect(failures[0]!.message).toMatch(/ffmpeg exited with \d+[\s\S]*Connection refused/)
    expect(dead.packager.isEnded).toBe(true)
  })
})
