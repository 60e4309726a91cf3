/**
 * DVR: every finished segment goes to S3 at once with the playlist that lists it, so a crash
 * loses at most the segment in flight. When the broadcast ends the playlists are closed
 * (EXT-X-ENDLIST, PLAYLIST-TYPE VOD): the archive plays as a VOD. Nothing here ever deletes.
 */
import type {Logger} from '../platform/logger.js'
import {listObjectNames, readObjectText, type Storage} from '../platform/storage.js'
import {parseMediaPlaylist} from './archive-playlists.js'

export interface ArchivedSegment {
  msn: number
  /** Seconds. */
  duration: number
  /** Object name within the rendition's folder, e.g. seg12.m4s. */
  name: string
  /** When the segment began (EXT-X-PROGRAM-DATE-TIME). */
  startedAt?: string
  /** The first segment of a new encode (the ladder restarted): marked EXT-X-DISCONTINUITY. */
  discontinuity?: boolean
}

export interface ArchivedRendition {
  name: string
  bandwidth: number
  resolution?: string
  codecs?: string
  frameRate?: number
}

/** `dvr/<channel>/<streamId>`: where one broadcast's archive lives in the bucket. */
export const dvrPrefix = (channel: string, streamId: string): string => `dvr/${channel}/${streamId}`

/** A media playlist of archived segments; `closed` makes it a finished VOD. */
export function archivePlaylist(segments: readonly ArchivedSegment[], closed: boolean): string {
  const target = Math.max(1, ...segments.map((s) => Math.ceil(s.duration)))
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    `#EXT-X-TARGETDURATION:${target}`,
    `#EXT-X-PLAYLIST-TYPE:${closed ? 'VOD' : 'EVENT'}`,
    `#EXT-X-MEDIA-SEQUENCE:${segments[0]?.msn ?? 0}`,
    '#EXT-X-INDEPENDENT-SEGMENTS',
    '#EXT-X-MAP:URI="init.mp4"',
  ]
  let previous: number | undefined
  for (const s of segments) {
    // A gap (a segment lost with a crash) or a new encode is marked, so players skip rather than stall.
    if ((previous !== undefined && s.msn !== previous + 1) || s.discontinuity === true) lines.push('#EXT-X-DISCONTINUITY')
    if (s.startedAt) lines.push(`#EXT-X-PROGRAM-DATE-TIME:${s.startedAt}`)
    lines.push(`#EXTINF:${s.duration.toFixed(3)},`, s.name)
    previous = s.msn
  }
  if (closed) lines.push('#EXT-X-ENDLIST')
  return `${lines.join('\n')}\n`
}

export function archiveMaster(renditions: readonly ArchivedRendition[]): string {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:7', '#EXT-X-INDEPENDENT-SEGMENTS']
  for (const r of renditions) {
    const attrs = [`BANDWIDTH=${r.bandwidth}`]
    if (r.resolution) attrs.push(`RESOLUTION=${r.resolution}`)
    if (r.codecs) attrs.push(`CODECS="${r.codecs}"`)
    if (r.frameRate) attrs.push(`FRAME-RATE=${r.frameRate.toFixed(3)}`)
    lines.push(`#EXT-X-STREAM-INF:${attrs.join(',')}`, `${r.name}/index.m3u8`)
  }
  return `${lines.join('\n')}\n`
}

const CONTENT_TYPES = {m3u8: 'application/vnd.apple.mpegurl', mp4: 'video/mp4', m4s: 'video/iso.segment'} as const

/**
 * The archive of a broadcast whose ingest died before it closed it: each rendition's playlist as
 * far as it got (it lists only segments already uploaded) is closed, and a master lists those
 * with segments, so that dvr.finalize makes a VOD of it. An archive with a master is closed
 * already (its ingest got that far) and is left as it is. The segments the playlists list.
 */
export async function closeAbandonedArchive(
  storage: Storage,
  channel: string,
  streamId: string,
  renditions: readonly ArchivedRendition[],
  /** Runs before the master is written (queue dvr.finalize here): if it throws, the next call does it all again. */
  beforeMaster: () => Promise<void> = async () => undefined,
): Promise<{closed: boolean; segments: number}> {
  const prefix = dvrPrefix(channel, streamId)
  const objects = new Set(await listObjectNames(storage, `${prefix}/`))
  if (objects.has(`${prefix}/master.m3u8`)) return {closed: false, segments: 0}
  const kept: ArchivedRendition[] = []
  let segments = 0
  for (const rendition of renditions) {
    const key = `${prefix}/${rendition.name}/index.m3u8`
    if (!objects.has(key) || !objects.has(`${prefix}/${rendition.name}/init.mp4`)) continue
    const text = await readObjectText(storage, key)
    const playlist = parseMediaPlaylist(text)
    const listed = playlist.segments.length
    if (listed === 0) continue
    if (!playlist.closed) {
      const closed = `${text.replace('#EXT-X-PLAYLIST-TYPE:EVENT', '#EXT-X-PLAYLIST-TYPE:VOD').trimEnd()}\n#EXT-X-ENDLIST\n`
      await storage.client.putObject(storage.bucket, key, Buffer.from(closed), Buffer.byteLength(closed), {'Content-Type': CONTENT_TYPES.m3u8})
    }
    kept.push(rendition)
    segments += listed
  }
  if (kept.length === 0) return {closed: false, segments: 0}
  await beforeMaster()
  const master = archiveMaster(kept)
  await storage.client.putObject(storage.bucket, `${prefix}/master.m3u8`, Buffer.from(master), Buffer.byteLength(master), {'Content-Type': CONTENT_TYPES.m3u8})
  return {closed: true, segments}
}

/** One broadcast's archive in S3; uploads of a rendition happen in order, each retried. */
export class DvrArchive {
  readonly prefix: string
  private readonly segments = new Map<string, ArchivedSegment[]>()
  private readonly queues = new Map<string, Promise<void>>()
  private failures = 0

  constructor(
    private readonly storage: Storage,
    channel: string,
    readonly streamId: string,
    private readonly log: Logger,
  ) {
    this.prefix = dvrPrefix(channel, streamId)
  }

  /** Uploads that failed for good (the segment is missing from the archive). */
  get failedUploads(): number {
    return this.failures
  }

  putInit(rendition: string, bytes: Buffer): Promise<void> {
    return this.enqueue(rendition, () => this.put(`${rendition}/init.mp4`, bytes))
  }

  /** The segment, then the playlist that now lists it. */
  putSegment(rendition: string, segment: ArchivedSegment, bytes: Buffer): Promise<void> {
    return this.enqueue(rendition, async () => {
      await this.put(`${rendition}/${segment.name}`, bytes)
      const list = this.segments.get(rendition) ?? []
      list.push(segment)
      this.segments.set(rendition, list)
      await this.put(`${rendition}/index.m3u8`, archivePlaylist(list, false))
    })
  }

  /**
   * Closes every playlist and writes the master: the archive is now a VOD. The master lists
   * `renditions` (those that ran to the end); one shed on the way is closed but not listed.
   */
  async finish(renditions: readonly ArchivedRendition[]): Promise<{segments: number}> {
    await Promise.all(this.queues.values())
    let count = 0
    for (const [name, list] of this.segments) {
      if (renditions.some((r) => r.name === name)) count += list.length
      await this.put(`${name}/index.m3u8`, archivePlaylist(list, true))
    }
    await this.put('master.m3u8', archiveMaster(renditions.filter((r) => (this.segments.get(r.name) ?? []).length > 0)))
    return {segments: count}
  }

  private enqueue(rendition: string, task: () => Promise<void>): Promise<void> {
    const next = (this.queues.get(rendition) ?? Promise.resolve()).then(task, task)
    this.queues.set(rendition, next.catch(() => undefined))
    return next
  }

  private async put(name: string, body: Buffer | string): Promise<void> {
    const key = `${this.prefix}/${name}`
    const extension = name.slice(name.lastIndexOf('.') + 1) as keyof typeof CONTENT_TYPES
    const data = typeof body === 'string' ? Buffer.from(body) : body
    for (let attempt = 1; ; attempt++) {
      try {
        await this.storage.client.putObject(this.storage.bucket, key, data, data.length, {'Content-Type': CONTENT_TYPES[extension] ?? 'application/octet-stream'})
        return
      } catch (error) {
        if (attempt >= 4) {
          this.failures += 1
          this.log.error({key, err: (error as Error).message}, 'DVR upload failed for good')
          throw error
        }
        await new Promise((r) => setTimeout(r, 250 * attempt))
      }
    }
  }
}
