/**
 * LL-HLS blocking reloads held by nginx instead of the relay process. Every LL-HLS viewer asks
 * for the next part's playlist about twice a second and waits for it: at 800 viewers that was
 * 1,600 requests a second through the relay process, most of the relay's CPU beyond nginx's own.
 * With Debian's nchan module loaded, nginx holds them itself (a long-poll subscriber on a
 * channel named after the request: `<channel>/<rendition>/<msn>-<part>`) and the relay process
 * publishes each new playlist once to the channels it satisfies.
 *
 * Which requests nginx holds is decided by marker files: nginx sends a blocking reload to its
 * long-poll location only when `live/<channel>/<rendition>/.held/<msn>-<part>` exists (a stat),
 * else to the relay process as before. A marker is written for a request the relay has published
 * an answer to, or for the one request it is fetching from the ingest now (the one hls.js asks
 * next), never for anything else: a request nginx holds is answered, or let go with the latest
 * playlist when the ingest cannot answer it (then hls.js asks again). The first blocking
 * reload of a rendition reaches the relay process, which answers it and starts a watch: it keeps
 * asking the ingest for the next part (one request, as the viewers would) and publishes each
 * answer, for as long as nginx's log shows the rendition's playlist being asked for.
 */
import http from 'node:http'
import {mkdir, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'

import type {Logger} from '../platform/logger.js'
import type {LivePath} from '../hls/live-paths.js'
import type {PullResult} from './pull.js'

/** A blocking reload's directives, as nginx names its marker and channel (`<msn>-<part>`, part may be empty). */
export interface ReloadId {
  msn: number
  part: number | undefined
}

export const reloadName = ({msn, part}: ReloadId): string => `${msn}-${part ?? ''}`

/** What a media playlist lists, from the packager's object names (seg<N>.m4s, part<N>.<i>.m4s). */
export function playlistPosition(playlist: string): {segments: number[]; parts: {msn: number; part: number}[]} {
  const segments: number[] = []
  const parts: {msn: number; part: number}[] = []
  for (const raw of playlist.split('\n')) {
    const line = raw.trim()
    if (line.startsWith('#EXT-X-PART:')) {
      const match = /URI="part(\d{1,10})\.(\d{1,4})\.m4s"/.exec(line)
      if (match !== null) parts.push({msn: Number(match[1]), part: Number(match[2])})
    } else if (!line.startsWith('#')) {
      const match = /^seg(\d{1,10})\.m4s$/.exec(line)
      if (match !== null) segments.push(Number(match[1]))
    }
  }
  return {segments, parts}
}

/** The blocking reload hls.js (lowLatencyMode) sends after reading this playlist. */
export function nextReload(playlist: string): ReloadId | undefined {
  const {segments, parts} = playlistPosition(playlist)
  const endSn = segments.at(-1)
  const last = parts.at(-1)
  if (last === undefined) return endSn === undefined ? undefined : {msn: endSn + 1, part: undefined}
  return last.msn === endSn ? {msn: endSn + 1, part: 0} : {msn: last.msn, part: last.part + 1}
}

/**
 * The blocking reloads a playlist answers, among the newest three media sequence numbers: every
 * listed part, and every complete segment asked for without a part.
 */
export function answeredReloads(playlist: string): ReloadId[] {
  const {segments, parts} = playlistPosition(playlist)
  const newest = Math.max(-1, ...segments, ...parts.map((p) => p.msn))
  return [
    ...segments.filter((msn) => msn >= newest - 2).map((msn) => ({msn, part: undefined})),
    ...parts.filter((p) => p.msn >= newest - 2),
  ]
}

export interface HeldReloadsOptions {
  /** nginx's publisher socket (nchan). */
  publisherSocket: string
  /** nginx's document root: markers go under live/<channel>/<rendition>/.held/. */
  servedRoot: string
  /** The relay's own pull (single flight with the viewers' requests, prefetch included). */
  pull: (request: LivePath) => Promise<PullResult>
  log: Logger
  /** A watch ends when nginx logged no request for its playlist for this long. */
  idleMs?: number
  /** After a failed fetch from the ingest (it may be restarting), the watch tries again after this. */
  retryMs?: number
}

/** Answered markers older than this many media sequence numbers are removed (their requests go to the relay process). */
const KEPT_MSNS = 3
/** nchan keeps an answer 15 s (nginx.ts): an answered marker goes well before its answer does. */
const KEPT_MS = 10_000

class Watch {
  lastSeen = Date.now()
  private stopped = false
  /** Marker name → its media sequence number and when its answer was published (undefined: waiting for it). */
  private readonly markers = new Map<string, {msn: number; answeredAt: number | undefined}>()
  /** The request nginx holds for the ingest's next answer, and the latest playlist. */
  private pending: string | undefined
  private latest: Buffer | undefined

  constructor(
    private readonly owner: HeldReloads,
    readonly channel: string,
    readonly rendition: string,
    private readonly options: Required<HeldReloadsOptions>,
  ) {}

  private get heldDir(): string {
    return path.join(this.options.servedRoot, 'live', this.channel, this.rendition, '.held')
  }

  /** Runs until idle or the stream is gone; starts from a playlist the relay just answered. */
  async run(first: Buffer, asked: ReloadId): Promise<void> {
    let playlist = first
    let answered: ReloadId = asked
    try {
      for (;;) {
        await this.publish(playlist, answered)
        const next = nextReload(playlist.toString('utf8'))
        if (next === undefined || !this.wanted()) return
        const result = await this.fetch(next)
        if (result === undefined) return
        playlist = result
        answered = next
      }
    } catch (error) {
      this.options.log.warn({channel: this.channel, rendition: this.rendition, err: (error as Error).message}, 'held reloads stopped; the relay process answers them')
    } finally {
      await this.end()
    }
  }

  stop(): void {
    this.stopped = true
  }

  private wanted(): boolean {
    return !this.stopped && Date.now() - this.lastSeen <= this.options.idleMs
  }

  /**
   * The ingest's answer to `next`, which nginx holds meanwhile; undefined when the stream is gone
   * or nobody watches. While the ingest fails, the held viewers are let go (see release) and new
   * ones go to the relay process, which answers them as before (502/504: hls.js retries).
   */
  private async fetch(next: ReloadId): Promise<Buffer | undefined> {
    const query = `?_HLS_msn=${next.msn}${next.part === undefined ? '' : `&_HLS_part=${next.part}`}`
    for (;;) {
      await this.hold(reloadName(next), next.msn)
      const result = await this.options.pull({channel: this.channel, path: `${this.rendition}/index.m3u8`, kind: 'playlist', rendition: this.rendition, blocking: next, query})
      if (result.type === 'object') return result.object.body
      await this.release()
      if (result.status < 500 || !this.wanted()) return undefined
      // The ingest failed and still holds the stream (pull follows a moved one itself).
      await new Promise((resolve) => setTimeout(resolve, this.options.retryMs))
    }
  }

  /** From now on nginx holds this request until its answer is published. */
  private async hold(name: string, msn: number): Promise<void> {
    // A stale answer left there by an earlier release must not answer it.
    await this.owner.clearStale(this.channelId(name))
    this.pending = name
    await this.mark(name, msn, undefined)
  }

  /**
   * The held request will not be answered soon: its marker goes (new viewers go to the relay
   * process) and the viewers nginx holds get the latest playlist now — not the part they asked
   * for, so hls.js asks again — instead of nchan's 408 at its timeout, which hls.js would not retry.
   */
  private async release(): Promise<void> {
    const name = this.pending
    if (name === undefined) return
    this.pending = undefined
    this.markers.delete(name)
    await rm(path.join(this.heldDir, name), {force: true})
    if (this.latest !== undefined) await this.owner.publishStale(this.channelId(name), this.latest)
  }

  private async publish(playlist: Buffer, asked: ReloadId): Promise<void> {
    this.latest = playlist
    const ids = [...answeredReloads(playlist.toString('utf8')), asked]
    const now = Date.now()
    for (const id of ids) {
      const name = reloadName(id)
      if (this.markers.get(name)?.answeredAt !== undefined) continue
      await this.owner.send('POST', this.channelId(name), playlist)
      if (name === this.pending) this.pending = undefined
      // Only now may nginx take this request (if it did not hold it already): its answer is there.
      await this.mark(name, id.msn, now)
    }
    const newest = Math.max(...ids.map((id) => id.msn))
    for (const [name, {msn, answeredAt}] of this.markers) {
      if (answeredAt === undefined || (msn >= newest - KEPT_MSNS && now - answeredAt < KEPT_MS)) continue
      this.markers.delete(name)
      await rm(path.join(this.heldDir, name), {force: true})
    }
  }

  private async mark(name: string, msn: number, answeredAt: number | undefined): Promise<void> {
    const known = this.markers.get(name)
    if (known !== undefined) {
      known.answeredAt ??= answeredAt
      return
    }
    const file = path.join(this.heldDir, name)
    await writeFile(file, '').catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error
      // The first marker of this broadcast (a new one starts in a new folder). Made through the
      // channel's link, never creating the link: a channel gone offline has none (then this throws).
      await mkdir(path.dirname(this.heldDir)).catch(ignoreExists)
      await mkdir(this.heldDir).catch(ignoreExists)
      await writeFile(file, '')
    })
    this.markers.set(name, {msn, answeredAt})
  }

  /** nginx stops holding this rendition's reloads: every marker goes, held viewers are let go. */
  private async end(): Promise<void> {
    await this.release().catch(() => undefined)
    await rm(this.heldDir, {recursive: true, force: true}).catch(() => undefined)
    this.owner.ended(this)
  }

  private channelId(name: string): string {
    return `${this.channel}/${this.rendition}/${name}`
  }
}

const ignoreExists = (error: NodeJS.ErrnoException): void => {
  if (error.code !== 'EEXIST') throw error
}

export class HeldReloads {
  private readonly watches = new Map<string, Watch>()
  private readonly agent = new http.Agent({keepAlive: true, maxSockets: 4})
  private readonly options: Required<HeldReloadsOptions>
  /** Channels holding a latest playlist published to let viewers go (release), not their answer. */
  private readonly stale = new Set<string>()

  constructor(options: HeldReloadsOptions) {
    this.options = {idleMs: 10_000, retryMs: 1000, ...options}
  }

  /**
   * The relay process answered a viewer's blocking reload with this playlist: nginx holds the
   * rendition's next ones (a watch starts, if none runs).
   */
  watch(request: LivePath, playlist: Buffer): void {
    if (request.rendition === undefined || request.blocking === undefined) return
    const key = `${request.channel}/${request.rendition}`
    const running = this.watches.get(key)
    if (running !== undefined) {
      running.lastSeen = Date.now()
      return
    }
    const watch = new Watch(this, request.channel, request.rendition, this.options)
    this.watches.set(key, watch)
    void watch.run(playlist, request.blocking)
  }

  /** nginx logged a request for this rendition's playlist (from the access log). */
  seen(channel: string, rendition: string): void {
    const watch = this.watches.get(`${channel}/${rendition}`)
    if (watch !== undefined) watch.lastSeen = Date.now()
  }

  /** Renditions whose reloads nginx holds now. */
  count(): number {
    return this.watches.size
  }

  ended(watch: Watch): void {
    if (this.watches.get(`${watch.channel}/${watch.rendition}`) === watch) this.watches.delete(`${watch.channel}/${watch.rendition}`)
  }

  stop(): void {
    for (const watch of this.watches.values()) watch.stop()
    this.agent.destroy()
  }

  async publishStale(id: string, playlist: Buffer): Promise<void> {
    this.stale.add(id)
    await this.send('POST', id, playlist)
  }

  async clearStale(id: string): Promise<void> {
    if (!this.stale.delete(id)) return
    await this.send('DELETE', id)
  }

  /** One request to nginx's publisher (nchan): POST a playlist to a channel, or DELETE it (ids are path-safe: nginx does not decode $arg_id). */
  send(method: 'POST' | 'DELETE', id: string, body?: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      const request = http.request(
        {socketPath: this.options.publisherSocket, agent: this.agent, method, path: `/publish?id=${id}`, headers: {'content-type': 'application/vnd.apple.mpegurl', ...(body === undefined ? {} : {'content-length': body.length})}},
        (response) => {
          response.resume()
          response.on('end', () => {
            const status = response.statusCode ?? 0
            // 404 for a DELETE: nothing was published or waiting there.
            if (status < 300 || (method === 'DELETE' && status === 404)) resolve()
            else reject(new Error(`nginx's publisher answered ${status} for ${method} ${id}`))
          })
        },
      )
      request.on('error', reject)
      request.end(body)
    })
  }
}
