/**
 * A load client for bench/relay.ts, run as its own process (forked with IPC) so that the viewers'
 * work does not share an event loop with the orchestrator. Each viewer has its own keep-alive
 * connection, as a player does, and only counts what it receives.
 */
import http from 'node:http'

import type {ClientCommand, ClientEvent} from './relay-load-protocol.js'

const REQUEST_TIMEOUT_MS = 15_000
const FLV_RECONNECT_MS = 1000
/** Segment receipts kept per viewer: a report asks for the last window's, a soak must not grow. */
const KEPT_SEGMENTS = 200

let failures = 0
const send = (event: ClientEvent): void => {
  process.send?.(event)
}

interface Fetched {
  status: number
  bytes: number
  /** Kept only when asked for (playlists). */
  body: Buffer | undefined
}

/** One GET over the viewer's agent; onData sees each chunk as it arrives. */
function get(url: URL, agent: http.Agent, userAgent: string, keepBody: boolean, onData?: (bytes: number) => void): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const request = http.get({host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, agent, headers: {'user-agent': userAgent}}, (response) => {
      const chunks: Buffer[] = []
      let bytes = 0
      response.on('data', (chunk: Buffer) => {
        bytes += chunk.length
        if (keepBody) chunks.push(chunk)
        onData?.(chunk.length)
      })
      response.once('end', () => resolve({status: response.statusCode ?? 0, bytes, body: keepBody ? Buffer.concat(chunks) : undefined}))
      response.once('error', reject)
    })
    request.setTimeout(REQUEST_TIMEOUT_MS, () => request.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms: ${url.pathname}`)))
    request.once('error', reject)
  })
}

interface Viewer {
  /** Body bytes received so far. */
  bytes(): number
  start(onFirst: () => void): void
  stop(): void
}

interface SegmentReceipt {
  bytes: number
  doneAt: number
}

/** An HLS player reduced to its network behaviour: poll the playlist, fetch each new segment once. */
class HlsViewer implements Viewer {
  readonly segments = new Map<number, SegmentReceipt>()
  private received = 0
  private readonly agent = new http.Agent({keepAlive: true, maxSockets: 1})
  private readonly userAgent: string
  private stopped = false
  private timer: NodeJS.Timeout | undefined
  private last = -1
  private playlistUrl: URL | undefined
  private pollMs = 1000

  constructor(
    private readonly base: URL,
    id: number,
  ) {
    this.userAgent = `shing-bench-viewer/${id}`
  }

  bytes(): number {
    return this.received
  }

  start(onFirst: () => void): void {
    void this.join(onFirst)
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.timer)
    this.agent.destroy()
  }

  private async join(onFirst: () => void): Promise<void> {
    try {
      const master = await get(new URL('master.m3u8', this.base), this.agent, this.userAgent, true)
      if (master.status !== 200 || master.body === undefined) throw new Error(`master playlist: HTTP ${master.status}`)
      const rendition = master.body.toString('utf8').split('\n').find((line) => line.trim() !== '' && !line.startsWith('#'))
      if (rendition === undefined) throw new Error('master playlist names no rendition')
      this.playlistUrl = new URL(rendition.trim(), this.base)
      const newest = await this.readPlaylist()
      if (newest === undefined) throw new Error('media playlist lists no segment')
      const init = await get(new URL('init.mp4', this.playlistUrl), this.agent, this.userAgent, false)
      if (init.status !== 200) throw new Error(`init.mp4: HTTP ${init.status}`)
      this.received += init.bytes
      // A live player starts near the edge: the newest complete segment, then each new one.
      await this.fetchSegment(newest)
      onFirst()
    } catch (error) {
      failures++
      if (this.stopped) return
      this.timer = setTimeout(() => void this.join(onFirst), this.pollMs)
      void error
      return
    }
    this.schedule(performance.now())
  }

  private schedule(lastPollAt: number): void {
    if (this.stopped) return
    this.timer = setTimeout(() => void this.poll(), Math.max(0, lastPollAt + this.pollMs - performance.now()))
  }

  private async poll(): Promise<void> {
    const startedAt = performance.now()
    try {
      const newest = await this.readPlaylist()
      if (newest !== undefined) {
        // Behind by more than the playlist holds: skip ahead, as a player does.
        for (let n = Math.max(this.last + 1, newest - 5); n <= newest && !this.stopped; n++) await this.fetchSegment(n)
      }
    } catch {
      failures++
    }
    this.schedule(startedAt)
  }

  /** The newest segment number the playlist lists; sets the poll interval from its target duration. */
  private async readPlaylist(): Promise<number | undefined> {
    if (this.playlistUrl === undefined) return undefined
    const playlist = await get(this.playlistUrl, this.agent, this.userAgent, true)
    if (playlist.status !== 200 || playlist.body === undefined) throw new Error(`media playlist: HTTP ${playlist.status}`)
    this.received += playlist.bytes
    const text = playlist.body.toString('utf8')
    const target = Number(/#EXT-X-TARGETDURATION:(\d+)/.exec(text)?.[1])
    if (target > 0) this.pollMs = (target * 1000) / 2
    let newest: number | undefined
    for (const match of text.matchAll(/^seg(\d+)\.m4s$/gm)) newest = Number(match[1])
    return newest
  }

  private async fetchSegment(n: number): Promise<void> {
    if (this.playlistUrl === undefined) return
    const receipt: SegmentReceipt = {bytes: 0, doneAt: -1}
    this.segments.set(n, receipt)
    if (this.segments.size > KEPT_SEGMENTS) {
      const oldest = this.segments.keys().next().value
      if (oldest !== undefined) this.segments.delete(oldest)
    }
    const answer = await get(new URL(`seg${n}.m4s`, this.playlistUrl), this.agent, this.userAgent, false, (bytes) => {
      receipt.bytes += bytes
      this.received += bytes
    })
    if (answer.status !== 200) throw new Error(`seg${n}.m4s: HTTP ${answer.status}`)
    receipt.doneAt = Date.now()
    this.last = n
  }
}

/** An HTTP-FLV player's network side: one long GET, reconnecting when it ends. */
class FlvViewer implements Viewer {
  private received = 0
  private stopped = false
  private request: http.ClientRequest | undefined
  private timer: NodeJS.Timeout | undefined
  private readonly userAgent: string

  constructor(
    private readonly url: URL,
    id: number,
  ) {
    this.userAgent = `shing-bench-viewer/${id}`
  }

  bytes(): number {
    return this.received
  }

  start(onFirst: () => void): void {
    let first = true
    const connect = (): void => {
      if (this.stopped) return
      const request = http.get({host: this.url.hostname, port: this.url.port, path: this.url.pathname, agent: false, headers: {'user-agent': this.userAgent}}, (response) => {
        response.on('data', (chunk: Buffer) => {
          this.received += chunk.length
          if (first) {
            first = false
            onFirst()
          }
        })
        response.once('end', retry)
        response.once('error', retry)
      })
      request.once('error', retry)
      this.request = request
    }
    const retry = (): void => {
      if (this.stopped) return
      failures++
      this.request?.destroy()
      clearTimeout(this.timer)
      this.timer = setTimeout(connect, FLV_RECONNECT_MS)
    }
    connect()
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.timer)
    this.request?.destroy()
  }
}

const viewers: Viewer[] = []

function start(command: Extract<ClientCommand, {type: 'start'}>): void {
  let waiting = command.viewers
  const onFirst = (): void => {
    waiting--
    if (waiting === 0) send({type: 'ready'})
  }
  for (let i = 0; i < command.viewers; i++) {
    const id = command.firstViewer + i
    const viewer = command.mode === 'hls' ? new HlsViewer(new URL(command.url), id) : new FlvViewer(new URL(command.url), id)
    viewers.push(viewer)
    // Spread over the ramp, so players' polls fall at every phase of the segment, as real ones do.
    setTimeout(() => viewer.start(onFirst), (command.rampMs * i) / command.viewers)
  }
}

function report(segments: number[]): ClientEvent {
  const bytes: number[] = []
  const doneAt: number[] = []
  for (const viewer of viewers) {
    for (const n of segments) {
      const receipt = viewer instanceof HlsViewer ? viewer.segments.get(n) : undefined
      bytes.push(receipt?.bytes ?? 0)
      doneAt.push(receipt?.doneAt ?? -1)
    }
  }
  return {type: 'report', bytes, doneAt, failures}
}

process.on('message', (command: ClientCommand) => {
  switch (command.type) {
    case 'start':
      try {
        start(command)
      } catch (error) {
        send({type: 'failed', message: (error as Error).message})
      }
      break
    case 'snapshot':
      send({type: 'snapshot', bytes: viewers.map((v) => v.bytes()), failures})
      break
    case 'report':
      send(report(command.segments))
      break
    case 'stop':
      for (const viewer of viewers) viewer.stop()
      process.disconnect()
      break
  }
})
// The orchestrator died: nothing left to measure for.
process.on('disconnect', () => process.exit(0))
