/**
 * The two ways the benchmark's stream reaches a server under test, both ffmpeg playing the cached
 * clip in a loop at realtime with `-c copy`:
 * - an LL-HLS origin: ffmpeg's fragmented MP4 (a fragment every part) through the project's own
 *   Fmp4Reader and LlHlsPackager, served over node http as the ingest serves it, which records
 *   when each part and segment became available and counts the requests it answers;
 * - an RTMP publisher reporting the bytes it has sent (ffmpeg -progress), the FLV reference.
 */
import {spawn} from 'node:child_process'
import {once} from 'node:events'
import http from 'node:http'

import {Fmp4Reader} from '../../appliance/hls/fmp4.js'
import {fragmentFlags} from '../../appliance/hls/ladder.js'
import {isLivePathError, parseLivePath, type LiveObjectKind} from '../../appliance/hls/live-paths.js'
import {LlHlsPackager} from '../../appliance/hls/llhls.js'
import {startProcess, waitFor} from '../../test/harness/process.js'
import {requireTool} from '../../test/harness/tools.js'
import {CLIP_FPS, CLIP_GOP_SECONDS, type SourceClip} from './source-clip.js'

export interface PublishedPart {
  msn: number
  part: number
  bytes: number
  /** Date.now() when the packager had it (its `part` event): a blocking reload can list it. */
  at: number
}

export interface PublishedSegment {
  n: number
  /** The sum of its parts. */
  bytes: number
  /**
   * Date.now() when its last part became available: an LL-HLS viewer can have it all from then
   * (the packager closes the segment only when the next one's first part comes).
   */
  publishedAt: number
}

export type OriginRequestKind = Exclude<LiveObjectKind, 'playlist'> | 'playlist' | 'blocking'

/** Requests the origin answered over a span: how many, and for how many distinct objects. */
export type OriginRequests = Record<OriginRequestKind, {requests: number; objects: number}>

export interface LlHlsOrigin {
  /** host:port, as the stream state's `origin`. */
  readonly origin: string
  readonly rendition: string
  /** EXT-X-STREAM-INF BANDWIDTH, as the stream state gives it. */
  readonly bandwidth: number
  /** Segments completed so far (the last 2,000). */
  published(): readonly PublishedSegment[]
  /** Parts available so far (the last 8,000). */
  parts(): readonly PublishedPart[]
  /** Counts requests from now until the returned function is called (blocking reloads: per msn/part). */
  countRequests(): () => OriginRequests
  /** Requests since the start, by kind. */
  totals(): Record<OriginRequestKind, number>
  stop(): Promise<void>
}

const KEPT_SEGMENTS = 2000
const KEPT_PARTS = 8000
const PART_SECONDS = 0.5
const kinds: OriginRequestKind[] = ['master', 'playlist', 'blocking', 'init', 'segment', 'part']

/**
 * ffmpeg plays the clip into fragmented MP4 on its stdout (a fragment at each keyframe and at
 * least every part, as the ingest's ladder writes it), packaged into 2 s segments of 0.5 s parts
 * and served at /live/<channel>/… with the packager's answers and headers, as the ingest does.
 */
export async function startLlHlsOrigin(clip: SourceClip, channel: string): Promise<LlHlsOrigin> {
  const rendition = '720p'
  const bandwidth = Math.round(clip.bitsPerSecond * 1.1)
  const packager = new LlHlsPackager({
    renditions: [{name: rendition, height: 720, fps: CLIP_FPS, bandwidth}],
    segmentSeconds: CLIP_GOP_SECONDS,
    partSeconds: PART_SECONDS,
  })
  const published: PublishedSegment[] = []
  const parts: PublishedPart[] = []
  const lastPartAt = new Map<number, number>()
  let fragmentBytes = 0
  packager.on('part', (event) => {
    parts.push({msn: event.msn, part: event.part, bytes: fragmentBytes, at: event.at})
    if (parts.length > KEPT_PARTS) parts.shift()
    lastPartAt.set(event.msn, event.at)
  })
  packager.on('segment', (event) => {
    published.push({n: event.msn, bytes: event.bytes.length, publishedAt: lastPartAt.get(event.msn) ?? Date.now()})
    lastPartAt.delete(event.msn)
    if (published.length > KEPT_SEGMENTS) published.shift()
  })

  const ffmpeg = spawn(requireTool('ffmpeg'), [
    '-hide_banner', '-nostdin', '-loglevel', 'warning',
    '-re', '-stream_loop', '-1', '-i', clip.file,
    '-map', '0:v:0', '-map', '0:a:0', '-c', 'copy',
    // As the ladder: AAC's priming must not stretch the first sample past a part.
    '-avoid_negative_ts', 'disabled',
    '-f', 'mp4', '-movflags', fragmentFlags, '-frag_duration', String(PART_SECONDS * 1_000_000),
    'pipe:1',
  ], {stdio: ['ignore', 'pipe', 'pipe']})
  // Stopped with the benchmark, also when it dies.
  const killOnExit = (): void => {
    if (ffmpeg.exitCode === null) ffmpeg.kill('SIGKILL')
  }
  process.once('exit', killOnExit)
  let stderr = ''
  ffmpeg.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000)
  })
  const exited = once(ffmpeg, 'exit').catch(() => undefined)
  const reader = new Fmp4Reader()
  reader.on('init', (init) => packager.setInit(rendition, init))
  reader.on('fragment', (fragment) => {
    fragmentBytes = fragment.bytes.length
    packager.pushFragment(rendition, fragment)
  })
  let failure: Error | undefined
  ffmpeg.stdout.on('data', (chunk: Buffer) => {
    try {
      reader.push(chunk)
    } catch (error) {
      failure ??= error as Error
      ffmpeg.kill('SIGKILL')
    }
  })

  const totals = Object.fromEntries(kinds.map((k) => [k, 0])) as Record<OriginRequestKind, number>
  const tallies = new Set<Map<OriginRequestKind, Map<string, number>>>()
  const server = http.createServer((request, response) => {
    const url = request.url ?? ''
    const parsed = parseLivePath(url)
    if (isLivePathError(parsed)) {
      response.writeHead(parsed.status, {'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store'}).end(JSON.stringify({error: parsed.message}))
      return
    }
    const kind: OriginRequestKind = parsed.blocking === undefined ? parsed.kind : 'blocking'
    totals[kind]++
    // A blocking reload's object is the msn/part it waits for; any other's is its path.
    const object = parsed.blocking === undefined ? parsed.path : `${parsed.blocking.msn}.${parsed.blocking.part ?? '-'}`
    for (const tally of tallies) {
      const objects = tally.get(kind) ?? new Map<string, number>()
      objects.set(object, (objects.get(object) ?? 0) + 1)
      tally.set(kind, objects)
    }
    if (parsed.channel !== channel) {
      response.writeHead(404, {'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store'}).end(JSON.stringify({error: 'offline'}))
      return
    }
    const question = url.indexOf('?')
    void packager.handle(parsed.path, new URLSearchParams(question === -1 ? '' : url.slice(question + 1))).then((answer) => {
      const body = typeof answer.body === 'string' ? Buffer.from(answer.body) : answer.body
      response.writeHead(answer.status, {...answer.headers, 'content-length': body.length}).end(body)
    })
  })
  // Blocking reloads and parts are held up to 3 target durations; viewers' keep-alive connections stay.
  server.keepAliveTimeout = 65_000
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  const stop = async (): Promise<void> => {
    server.closeAllConnections()
    server.close()
    if (ffmpeg.exitCode === null && ffmpeg.signalCode === null) ffmpeg.kill('SIGKILL')
    await exited
    process.off('exit', killOnExit)
    packager.end()
  }
  try {
    if (address === null || typeof address === 'string') throw new Error('ll-hls origin: no port')
    await waitFor('the origin packaging its first segment', () => {
      if (ffmpeg.exitCode !== null || failure !== undefined) throw new Error(`the origin's ffmpeg stopped: ${failure?.message ?? `exit ${ffmpeg.exitCode}`}\n${stderr}`)
      return Promise.resolve(published.length > 0 ? true : undefined)
    }, {timeoutMs: 20_000})
  } catch (error) {
    await stop()
    throw error
  }
  return {
    origin: `127.0.0.1:${address.port}`,
    rendition,
    bandwidth,
    published: () => published,
    parts: () => parts,
    countRequests: () => {
      const tally = new Map<OriginRequestKind, Map<string, number>>()
      tallies.add(tally)
      return () => {
        tallies.delete(tally)
        return Object.fromEntries(kinds.map((k) => {
          const objects = tally.get(k)
          const requests = objects === undefined ? 0 : [...objects.values()].reduce((a, b) => a + b, 0)
          return [k, {requests, objects: objects?.size ?? 0}]
        })) as OriginRequests
      }
    },
    totals: () => ({...totals}),
    stop,
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
