/**
 * The two ways the benchmark's stream reaches a server under test, both ffmpeg playing the cached
 * clip in a loop at realtime with `-c copy`:
 * - a live HLS origin (fMP4, 2 s segments) in the contract's layout, served by node http, which
 *   records when each segment appears and how big it is;
 * - an RTMP publisher reporting the bytes it has sent (ffmpeg -progress), the FLV reference.
 */
import {once} from 'node:events'
import {mkdir, readFile, stat} from 'node:fs/promises'
import http from 'node:http'
import path from 'node:path'

import {LIVE_PREFIX} from '../../appliance/contract/index.js'
import {startProcess, tempDir, waitFor, type ManagedProcess} from '../../test/harness/process.js'
import {requireTool} from '../../test/harness/tools.js'
import {CLIP_GOP_SECONDS, type SourceClip} from './source-clip.js'

export interface PublishedSegment {
  n: number
  bytes: number
  /** Date.now() when the playlist first listed it. */
  publishedAt: number
}

export interface HlsOrigin {
  /** host:port, as the stream state's `origin`. */
  readonly origin: string
  readonly rendition: string
  /** Segments listed so far (the last 2,000). */
  published(): readonly PublishedSegment[]
  /** Requests the origin answered, by object kind: the relay should ask once per object. */
  requests(): Record<'master' | 'playlist' | 'init' | 'segment' | 'other', number>
  stop(): Promise<void>
}

const WATCH_MS = 100
const KEPT_PUBLISHED = 2000

export async function startHlsOrigin(clip: SourceClip, channel: string, bandwidth: number): Promise<HlsOrigin> {
  const rendition = '720p'
  const data = await tempDir('bench-origin')
  const dir = path.join(data.dir, rendition)
  await mkdir(dir)
  const playlistFile = path.join(dir, 'index.m3u8')
  let ffmpeg: ManagedProcess | undefined
  const server = http.createServer()
  const watcher: {timer?: NodeJS.Timeout} = {}
  try {
    ffmpeg = await startProcess({
      name: 'ffmpeg hls publisher',
      command: requireTool('ffmpeg'),
      args: [
        '-hide_banner', '-nostdin', '-loglevel', 'warning',
        '-re', '-stream_loop', '-1', '-i', clip.file,
        '-c', 'copy',
        '-f', 'hls', '-hls_time', String(CLIP_GOP_SECONDS), '-hls_list_size', '6',
        '-hls_segment_type', 'fmp4', '-hls_fmp4_init_filename', 'init.mp4',
        '-hls_segment_filename', path.join(dir, 'seg%d.m4s'),
        '-hls_flags', 'delete_segments+independent_segments+temp_file',
        playlistFile,
      ],
      ready: {probe: async () => /^seg\d+\.m4s$/m.test(await readFile(playlistFile, 'utf8'))},
      timeoutMs: 20_000,
    })

    const published: PublishedSegment[] = []
    let newest = -1
    const watch = async (): Promise<void> => {
      const text = await readFile(playlistFile, 'utf8').catch(() => '')
      for (const match of text.matchAll(/^seg(\d+)\.m4s$/gm)) {
        const n = Number(match[1])
        if (n <= newest) continue
        newest = n
        const {size} = await stat(path.join(dir, `seg${n}.m4s`))
        published.push({n, bytes: size, publishedAt: Date.now()})
        if (published.length > KEPT_PUBLISHED) published.shift()
      }
    }
    await watch()
    watcher.timer = setInterval(() => void watch().catch(() => undefined), WATCH_MS)

    const counts = {master: 0, playlist: 0, init: 0, segment: 0, other: 0}
    const master = ['#EXTM3U', '#EXT-X-VERSION:7', '#EXT-X-INDEPENDENT-SEGMENTS', `#EXT-X-STREAM-INF:BANDWIDTH=${bandwidth},RESOLUTION=1280x720,FRAME-RATE=30.000`, `${rendition}/index.m3u8`, ''].join('\n')
    const prefix = `${LIVE_PREFIX}/${channel}/`
    server.on('request', (request, response) => {
      const objectPath = (request.url ?? '').startsWith(prefix) ? (request.url ?? '').slice(prefix.length) : ''
      const playlistType = 'application/vnd.apple.mpegurl'
      if (objectPath === 'master.m3u8') {
        counts.master++
        response.writeHead(200, {'content-type': playlistType, 'cache-control': 'max-age=2'}).end(master)
        return
      }
      const match = new RegExp(`^${rendition}/(index\\.m3u8|init\\.mp4|seg\\d+\\.m4s)$`).exec(objectPath)
      if (match?.[1] === undefined) {
        counts.other++
        response.writeHead(404).end()
        return
      }
      const name = match[1]
      const isPlaylist = name === 'index.m3u8'
      if (isPlaylist) counts.playlist++
      else if (name === 'init.mp4') counts.init++
      else counts.segment++
      // Whole files only: ffmpeg renames finished playlists and segments into place (temp_file).
      void readFile(path.join(dir, name)).then(
        (body) => {
          response.writeHead(200, {
            'content-type': isPlaylist ? playlistType : 'video/mp4',
            'cache-control': isPlaylist ? 'no-cache' : 'public, max-age=31536000, immutable',
            'content-length': body.length,
          }).end(body)
        },
        () => response.writeHead(404).end(),
      )
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const address = server.address()
    if (address === null || typeof address === 'string') throw new Error('hls origin: no port')
    const started = ffmpeg
    return {
      origin: `127.0.0.1:${address.port}`,
      rendition,
      published: () => published,
      requests: () => ({...counts}),
      stop: async () => {
        clearInterval(watcher.timer)
        server.closeAllConnections()
        server.close()
        await started.stop()
        await data.remove()
      },
    }
  } catch (error) {
    clearInterval(watcher.timer)
    server.close()
    await ffmpeg?.stop()
    await data.remove()
    throw error
  }
}

export interface RtmpPublisher {
  /**
   * Waits for ffmpeg's next progress report and returns the bytes it had sent by then: taken
   * right as it arrives, it is the reference the FLV viewers are measured against.
   */
  nextSentBytes(): Promise<number>
  stop(): Promise<void>
}

export async function publishRtmp(clip: SourceClip, url: string): Promise<RtmpPublisher> {
  const ffmpeg = await startProcess({
    name: 'ffmpeg rtmp publisher',
    command: requireTool('ffmpeg'),
    args: [
      '-hide_banner', '-nostdin', '-loglevel', 'warning', '-nostats',
      '-re', '-stream_loop', '-1', '-i', clip.file,
      '-c', 'copy', '-f', 'flv',
      '-progress', 'pipe:1', '-stats_period', '0.1',
      url,
    ],
    ready: {log: /total_size=\d+/},
    timeoutMs: 20_000,
  })
  return {
    nextSentBytes: async () => {
      let from = ffmpeg.output().length
      return waitFor('an ffmpeg progress report', async () => {
        const out = ffmpeg.output()
        // The harness trims a long output from its start; then search what is left.
        if (out.length < from) from = 0
        const sizes = [...out.slice(from).matchAll(/total_size=(\d+)\n/g)]
        const last = sizes.at(-1)
        return last === undefined ? undefined : Number(last[1])
      }, {timeoutMs: 5000, intervalMs: 2})
    },
    stop: () => ffmpeg.stop(),
  }
}
