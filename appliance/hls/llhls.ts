import {createHash} from 'node:crypto'
import {EventEmitter} from 'node:events'

import type {Fragment, InitSegment} from './fmp4.js'

/**
 * Apple Low-Latency HLS from fragmented MP4 (ffmpeg 5.1 cannot write EXT-X-PART itself).
 * Each fragment is one part; parts are grouped into segments that start on keyframes; the last
 * `windowSegments` segments stay in memory; playlists support blocking reload
 * (_HLS_msn/_HLS_part) and a preload hint for the next part.
 */

export interface PackagerRendition {
  name: string
  height: number
  fps: number
  /** Peak bits per second, video + audio (EXT-X-STREAM-INF BANDWIDTH). */
  bandwidth: number
}

export interface PackagerOptions {
  renditions: PackagerRendition[]
  segmentSeconds: number
  partSeconds: number
  /** Complete segments kept in memory and listed (default 6: 12 s at 2 s segments). */
  windowSegments?: number
  /**
   * The first segment's Media Sequence Number. Defaults to one derived from the clock, so URLs
   * (seg<N>.m4s) of a channel never repeat across broadcasts and media can be cached as immutable.
   */
  firstMediaSequence?: number
  /** Wall clock, for EXT-X-PROGRAM-DATE-TIME. */
  now?: () => number
}

export interface Part {
  index: number
  bytes: Buffer
  duration: number
  independent: boolean
}

export interface Segment {
  msn: number
  parts: Part[]
  duration: number
  /** Wall-clock time of the first frame (ms since epoch). */
  programDateTime: number
  /** The first segment of a new encode (the ladder restarted): timestamps start over. */
  discontinuity?: boolean
  /** Set once the segment is complete. */
  bytes?: Buffer
}

export interface SegmentEvent {
  rendition: string
  msn: number
  bytes: Buffer
  duration: number
  programDateTime: number
  discontinuity: boolean
}
export interface PartEvent {
  rendition: string
  msn: number
  part: number
  duration: number
  independent: boolean
  /** When the fragment reached the packager (ms since epoch). */
  at: number
}

export type PackagerEvents = {
  init: [{rendition: string; bytes: Buffer}]
  part: [PartEvent]
  segment: [SegmentEvent]
  end: []
}

export interface HlsResponse {
  status: number
  headers: Record<string, string>
  body: Buffer | string
}

export class PackagerError extends Error {
  override name = 'PackagerError'
}

interface Waiter {
  ready: () => boolean
  resolve: () => void
}

class RenditionTrack {
  init: InitSegment | undefined
  initEtag = ''
  segments: Segment[] = []
  current: Segment | undefined
  nextMsn: number
  waiters = new Set<Waiter>()
  /**
   * Wall clock ↔ media time of the encode this track belongs to, for EXT-X-PROGRAM-DATE-TIME;
   * shared by the renditions of one encode, so their segments carry the same times.
   */
  clock: {anchor?: {wall: number; media: number}}
  /** The next segment starts a new encode. */
  discontinuityNext = false
  /** Discontinuities that slid out of the window (EXT-X-DISCONTINUITY-SEQUENCE). */
  discontinuitySequence = 0

  constructor(
    readonly config: PackagerRendition,
    firstMsn: number,
    clock: {anchor?: {wall: number; media: number}},
  ) {
    this.nextMsn = firstMsn
    this.clock = clock
  }

  /** The segment in progress, or the next one to start when none is. */
  get position(): {msn: number; parts: number} {
    return this.current === undefined ? {msn: this.nextMsn, parts: 0} : {msn: this.current.msn, parts: this.current.parts.length}
  }

  wake(): void {
    for (const waiter of [...this.waiters]) {
      if (waiter.ready()) {
        this.waiters.delete(waiter)
        waiter.resolve()
      }
    }
  }
}

const round3 = (n: number): string => n.toFixed(3)
const mediaTypes = {
  playlist: 'application/vnd.apple.mpegurl',
  mp4: 'video/mp4',
  m4s: 'video/iso.segment',
} as const
const noCache = 'no-cache'
const immutable = 'public, max-age=31536000, immutable'

export class LlHlsPackager extends EventEmitter<PackagerEvents> {
  readonly segmentSeconds: number
  readonly partSeconds: number
  readonly targetDuration: number
  private readonly windowSegments: number
  private readonly now: () => number
  private readonly tracks = new Map<string, RenditionTrack>()
  private ended = false
  private readonly endWaiters = new Set<() => void>()

  constructor(options: PackagerOptions) {
    super()
    if (options.renditions.length === 0) throw new PackagerError('a packager needs at least one rendition')
    this.segmentSeconds = options.segmentSeconds
    this.partSeconds = options.partSeconds
    // Constant for the playlist's life (RFC 8216 4.4.3.1): segments are cut on keyframes forced
    // every segmentSeconds, so none rounds above it.
    this.targetDuration = Math.ceil(options.segmentSeconds)
    this.windowSegments = Math.max(3, options.windowSegments ?? 6)
    this.now = options.now ?? Date.now
    const firstMsn = options.firstMediaSequence ?? Math.floor(this.now() / 1000 / options.segmentSeconds)
    const clock = {}
    for (const r of options.renditions) this.tracks.set(r.name, new RenditionTrack(r, firstMsn, clock))
  }

  get renditions(): PackagerRendition[] {
    return [...this.tracks.values()].map((t) => t.config)
  }

  get isEnded(): boolean {
    return this.ended
  }

  private track(rendition: string): RenditionTrack {
    const track = this.tracks.get(rendition)
    if (track === undefined) throw new PackagerError(`no rendition ${rendition}`)
    return track
  }

  /** The rendition's init segment (ftyp+moov), once it came. */
  initSegment(rendition: string): InitSegment | undefined {
    return this.track(rendition).init
  }

  /** Complete segments in the window, oldest first. */
  segments(rendition: string): readonly Segment[] {
    return this.track(rendition).segments
  }

  setInit(rendition: string, init: InitSegment): void {
    const track = this.track(rendition)
    track.init = init
    track.initEtag = `"${createHash('sha1').update(init.bytes).digest('hex').slice(0, 16)}"`
    this.emit('init', {rendition, bytes: init.bytes})
    this.wakeAll()
  }

  /** One fragment = one part. A keyframe fragment after a full segment starts the next segment. */
  pushFragment(rendition: string, fragment: Fragment): void {
    if (this.ended) throw new PackagerError('the stream has ended')
    const track = this.track(rendition)
    const at = this.now()
    // The first fragment of an encode anchors its clock: the wall time it began, its media time.
    const anchor = (track.clock.anchor ??= {wall: at - fragment.duration * 1000, media: fragment.decodeTime})
    let segment = track.current
    if (segment !== undefined && fragment.keyframe && this.segmentIsFull(segment)) {
      this.finishSegment(rendition, track)
      segment = undefined
    }
    if (segment === undefined) {
      const pdt = anchor.wall + (fragment.decodeTime - anchor.media) * 1000
      segment = {msn: track.nextMsn, parts: [], duration: 0, programDateTime: pdt, ...(track.discontinuityNext ? {discontinuity: true} : {})}
      track.discontinuityNext = false
      track.nextMsn += 1
      track.current = segment
    }
    const part: Part = {index: segment.parts.length, bytes: fragment.bytes, duration: fragment.duration, independent: fragment.keyframe}
    segment.parts.push(part)
    segment.duration += fragment.duration
    this.emit('part', {rendition, msn: segment.msn, part: part.index, duration: part.duration, independent: part.independent, at})
    track.wake()
  }

  /**
   * A new encode takes over these renditions (the ladder restarted, e.g. without its top rung):
   * the segments in progress end here, the next ones are marked EXT-X-DISCONTINUITY, and
   * timestamps may start over.
   */
  restartEncode(renditions: readonly string[]): void {
    const clock = {}
    for (const name of renditions) {
      const track = this.track(name)
      if (track.current !== undefined) this.finishSegment(name, track)
      track.discontinuityNext = true
      track.clock = clock
    }
  }

  /** Stops offering a rendition: its playlist and media are gone, the master no longer lists it. */
  dropRendition(name: string): void {
    const track = this.track(name)
    if (this.tracks.size <= 1) throw new PackagerError('the last rendition cannot be dropped')
    this.tracks.delete(name)
    for (const waiter of track.waiters) waiter.resolve()
    track.waiters.clear()
  }

  /** Finishes every segment in progress; playlists get #EXT-X-ENDLIST; waiters are answered. */
  end(): void {
    if (this.ended) return
    for (const [name, track] of this.tracks) if (track.current !== undefined) this.finishSegment(name, track)
    this.ended = true
    this.wakeAll()
    for (const resolve of this.endWaiters) resolve()
    this.endWaiters.clear()
    this.emit('end')
  }

  private wakeAll(): void {
    for (const track of this.tracks.values()) track.wake()
  }

  private finishSegment(rendition: string, track: RenditionTrack): void {
    const segment = track.current
    if (segment === undefined) return
    track.current = undefined
    segment.bytes = Buffer.concat(segment.parts.map((p) => p.bytes))
    track.segments.push(segment)
    while (track.segments.length > this.windowSegments) {
      if (track.segments.shift()?.discontinuity === true) track.discontinuitySequence += 1
    }
    // Older parts are no longer listed: drop their bytes so memory stays at about one copy of the window.
    for (const old of track.segments.slice(0, -this.segmentsWithParts)) for (const p of old.parts) p.bytes = Buffer.alloc(0)
    this.emit('segment', {
      rendition,
      msn: segment.msn,
      bytes: segment.bytes,
      duration: segment.duration,
      programDateTime: segment.programDateTime,
      discontinuity: segment.discontinuity === true,
    })
  }

  /** Complete segments still listed with their parts: the last three target durations (RFC 8216bis 4.4.4.9). */
  private get segmentsWithParts(): number {
    return Math.ceil((3 * this.targetDuration) / this.segmentSeconds)
  }

  /** Parts per 3 target durations, or 3 (RFC 8216bis 6.2.5.2: the Advance Part Limit). */
  private get advancePartLimit(): number {
    return this.partSeconds < 1 ? Math.ceil(3 / this.partSeconds) : 3
  }

  /**
   * Whether a blocking request for msn (and part) can never be met soon enough: the server
   * answers it at once with 400 (RFC 8216bis 6.2.5.2).
   */
  tooFarAhead(rendition: string, msn: number, part?: number): boolean {
    const {msn: current, parts} = this.track(rendition).position
    if (msn > current + 2) return true
    if (part === undefined) return false
    const partsPerSegment = Math.max(1, Math.round(this.segmentSeconds / this.partSeconds))
    const ahead = (msn - current) * partsPerSegment + part - (parts - 1)
    return ahead > this.advancePartLimit
  }

  /** The playlist contains segment msn complete, or (with part) that part of it, or anything later. */
  has(rendition: string, msn: number, part?: number): boolean {
    if (this.ended) return true
    const track = this.track(rendition)
    const {msn: current, parts} = track.position
    if (part === undefined) return msn < current
    if (msn < current) {
      // Part P of a complete segment M, or, when M ended with fewer parts, the first part of M+1.
      const segment = track.segments.find((s) => s.msn === msn)
      if (segment === undefined || part < segment.parts.length) return true
      return msn + 1 < current || parts > 0
    }
    return msn === current && parts > part
  }

  /** Resolves true once has(rendition, msn, part); false after timeoutMs. */
  waitFor(rendition: string, msn: number, part: number | undefined, timeoutMs: number): Promise<boolean> {
    const track = this.track(rendition)
    if (this.has(rendition, msn, part)) return Promise.resolve(true)
    return new Promise((resolve) => {
      const waiter: Waiter = {
        ready: () => this.has(rendition, msn, part),
        resolve: () => {
          clearTimeout(timer)
          resolve(true)
        },
      }
      const timer = setTimeout(() => {
        track.waiters.delete(waiter)
        resolve(false)
      }, timeoutMs)
      track.waiters.add(waiter)
    })
  }

  /** Resolves once every rendition has its init segment (the master playlist needs their codecs). */
  private waitForInits(timeoutMs: number): Promise<boolean> {
    const ready = (): boolean => [...this.tracks.values()].every((t) => t.init !== undefined)
    if (ready()) return Promise.resolve(true)
    const first = [...this.tracks.keys()][0]!
    // Any rendition's waiters are woken by setInit (wakeAll); hang the check on the first.
    const track = this.track(first)
    return new Promise((resolve) => {
      const waiter: Waiter = {ready, resolve: () => {
        clearTimeout(timer)
        resolve(true)
      }}
      const timer = setTimeout(() => {
        track.waiters.delete(waiter)
        resolve(false)
      }, timeoutMs)
      track.waiters.add(waiter)
    })
  }

  /** Resolves when end() has run. */
  whenEnded(): Promise<void> {
    if (this.ended) return Promise.resolve()
    return new Promise((resolve) => this.endWaiters.add(resolve))
  }

  /** The master playlist; undefined until every rendition has an init segment. */
  masterPlaylist(): string | undefined {
    const lines = ['#EXTM3U', '#EXT-X-VERSION:6', '#EXT-X-INDEPENDENT-SEGMENTS']
    for (const track of this.tracks.values()) {
      if (track.init === undefined) return undefined
      const video = track.init.tracks.find((t) => t.kind === 'video')
      const codecs = track.init.tracks.map((t) => t.codec).filter((c): c is string => c !== undefined)
      const attributes = [`BANDWIDTH=${track.config.bandwidth}`]
      if (video?.width !== undefined && video.height !== undefined) attributes.push(`RESOLUTION=${video.width}x${video.height}`)
      if (codecs.length > 0) attributes.push(`CODECS="${codecs.join(',')}"`)
      if (video !== undefined && track.config.fps > 0) attributes.push(`FRAME-RATE=${track.config.fps.toFixed(3)}`)
      lines.push(`#EXT-X-STREAM-INF:${attributes.join(',')}`, `${track.config.name}/index.m3u8`)
    }
    return `${lines.join('\n')}\n`
  }

  /** The rendition's LL-HLS media playlist as it is now. */
  mediaPlaylist(rendition: string): string {
    const track = this.track(rendition)
    const firstMsn = track.segments[0]?.msn ?? track.current?.msn ?? track.nextMsn
    const lines = [
      '#EXTM3U',
      // 6: EXT-X-MAP in a media playlist. The LL-HLS tags need no higher version; 9 would only
      // be needed for EXT-X-SKIP (delta updates), which this packager does not offer.
      '#EXT-X-VERSION:6',
      `#EXT-X-TARGETDURATION:${this.targetDuration}`,
      `#EXT-X-PART-INF:PART-TARGET=${round3(this.partSeconds)}`,
      `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${round3(3 * this.partSeconds)}`,
      `#EXT-X-MEDIA-SEQUENCE:${firstMsn}`,
      ...(track.discontinuitySequence > 0 ? [`#EXT-X-DISCONTINUITY-SEQUENCE:${track.discontinuitySequence}`] : []),
      '#EXT-X-MAP:URI="init.mp4"',
    ]
    const recent = new Set(track.segments.slice(-this.segmentsWithParts).map((s) => s.msn))
    for (const segment of track.segments) {
      if (segment.discontinuity === true) lines.push('#EXT-X-DISCONTINUITY')
      lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(segment.programDateTime).toISOString()}`)
      if (recent.has(segment.msn) && !this.ended) lines.push(...partLines(segment))
      lines.push(`#EXTINF:${round3(segment.duration)},`, `seg${segment.msn}.m4s`)
    }
    if (this.ended) {
      lines.push('#EXT-X-ENDLIST')
    } else {
      const current = track.current
      if (current !== undefined) {
        if (current.discontinuity === true) lines.push('#EXT-X-DISCONTINUITY')
        lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(current.programDateTime).toISOString()}`)
        lines.push(...partLines(current))
      }
      const next = this.nextPart(track)
      lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part${next.msn}.${next.part}.m4s"`)
    }
    return `${lines.join('\n')}\n`
  }

  /**
   * The part ffmpeg delivers next. Keyframes are forced every segment, so a full segment means
   * the next part is a keyframe that starts the next segment: hint that, not a part that never comes.
   */
  private nextPart(track: RenditionTrack): {msn: number; part: number} {
    const current = track.current
    if (current === undefined) return {msn: track.nextMsn, part: 0}
    if (this.segmentIsFull(current)) return {msn: current.msn + 1, part: 0}
    return {msn: current.msn, part: current.parts.length}
  }

  /** Half a part of tolerance: a GOP can come out a frame short of the segment length. */
  private segmentIsFull(segment: Segment): boolean {
    return segment.duration >= this.segmentSeconds - this.partSeconds / 2
  }

  private partBytes(rendition: string, msn: number, index: number): Buffer | undefined {
    const track = this.track(rendition)
    const segment = track.current?.msn === msn ? track.current : track.segments.find((s) => s.msn === msn)
    const part = segment?.parts[index]
    return part === undefined || part.bytes.length === 0 ? undefined : part.bytes
  }

  /**
   * Serves one request inside the stream's path: `master.m3u8`, `<r>/index.m3u8` (blocking with
   * _HLS_msn/_HLS_part), `<r>/init.mp4`, `<r>/seg<N>.m4s`, `<r>/part<N>.<i>.m4s` (a hinted part
   * is held until it exists). Blocking requests give up after 3 target durations with 503.
   */
  async handle(pathWithinStream: string, query: URLSearchParams = new URLSearchParams()): Promise<HlsResponse> {
    const blockMs = 3 * this.targetDuration * 1000
    const text = (status: number, body: string): HlsResponse => ({status, headers: {'content-type': 'text/plain; charset=utf-8', 'cache-control': noCache}, body})
    if (pathWithinStream === 'master.m3u8') {
      await this.waitForInits(blockMs)
      const master = this.masterPlaylist()
      if (master === undefined) return text(503, 'the stream has not started yet\n')
      return {status: 200, headers: {'content-type': mediaTypes.playlist, 'cache-control': noCache}, body: master}
    }
    const match = /^([a-z0-9]+)\/(index\.m3u8|init\.mp4|seg(\d+)\.m4s|part(\d+)\.(\d+)\.m4s)$/.exec(pathWithinStream)
    const track = match === null ? undefined : this.tracks.get(match[1]!)
    if (match === null || track === undefined) return text(404, 'not found\n')
    const rendition = match[1]!
    const file = match[2]!
    if (file === 'index.m3u8') {
      const msnParam = query.get('_HLS_msn')
      const partParam = query.get('_HLS_part')
      if (msnParam === null) {
        if (partParam !== null) return text(400, '_HLS_part needs _HLS_msn\n')
        return {status: 200, headers: {'content-type': mediaTypes.playlist, 'cache-control': noCache}, body: this.mediaPlaylist(rendition)}
      }
      const msn = Number(msnParam)
      const part = partParam === null ? undefined : Number(partParam)
      if (!Number.isSafeInteger(msn) || msn < 0 || (part !== undefined && (!Number.isSafeInteger(part) || part < 0))) {
        return text(400, 'bad _HLS_msn/_HLS_part\n')
      }
      if (!this.ended && this.tooFarAhead(rendition, msn, part)) return text(400, `msn ${msn} part ${part ?? '-'} is too far ahead\n`)
      if (!(await this.waitFor(rendition, msn, part, blockMs))) return text(503, `msn ${msn} part ${part ?? '-'} did not come in time\n`)
      // The answer to one msn/part never changes in what matters: shared caches (relays) may
      // hold it briefly and collapse viewers' requests onto one.
      return {status: 200, headers: {'content-type': mediaTypes.playlist, 'cache-control': 'public, max-age=1'}, body: this.mediaPlaylist(rendition)}
    }
    if (file === 'init.mp4') {
      if (track.init === undefined) await this.waitForInits(blockMs)
      if (track.init === undefined) return text(404, 'no init segment yet\n')
      // init.mp4 keeps its name across broadcasts: revalidate, by ETag.
      return {status: 200, headers: {'content-type': mediaTypes.mp4, 'cache-control': noCache, etag: track.initEtag}, body: track.init.bytes}
    }
    const media = (bytes: Buffer): HlsResponse => ({status: 200, headers: {'content-type': mediaTypes.m4s, 'cache-control': immutable}, body: bytes})
    if (match[3] !== undefined) {
      const msn = Number(match[3])
      const segment = track.segments.find((s) => s.msn === msn)
      if (segment?.bytes === undefined) return text(404, `no segment ${msn}\n`)
      return media(segment.bytes)
    }
    const msn = Number(match[4])
    const index = Number(match[5])
    let bytes = this.partBytes(rendition, msn, index)
    // The preload-hinted part (or one just past it) is held until ffmpeg delivers it.
    if (bytes === undefined && !this.ended && !this.has(rendition, msn, index) && !this.tooFarAhead(rendition, msn, index)) {
      if (await this.waitFor(rendition, msn, index, blockMs)) bytes = this.partBytes(rendition, msn, index)
    }
    if (bytes === undefined) return text(404, `no part ${msn}.${index}\n`)
    return media(bytes)
  }
}

function partLines(segment: Segment): string[] {
  return segment.parts.map(
    (p) => `#EXT-X-PART:DURATION=${round3(p.duration)},URI="part${segment.msn}.${p.index}.m4s"${p.independent ? ',INDEPENDENT=YES' : ''}`,
  )
}

/** A packager rendition for each ladder rung: BANDWIDTH is video + audio plus 10% muxing overhead (height and fps 0: audio only). */
export function packagerRenditions(ladder: readonly {name: string; height: number; fps: number; videoKbps: number; audioKbps: number}[]): PackagerRendition[] {
  return ladder.map((r) => ({name: r.name, height: r.height, fps: r.fps, bandwidth: Math.round((r.videoKbps + r.audioKbps) * 1000 * 1.1)}))
}
