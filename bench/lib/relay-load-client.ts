/**
 * A load client for bench/relay.ts, run as its own process (forked with IPC) so that the viewers'
 * work does not share an event loop with the orchestrator. Each viewer has one keep-alive
 * connection (HTTP/1.1, TLS when the URL is https:) and only counts what it receives.
 */
import http from 'node:http'
import https from 'node:https'
import {setTimeout as sleep} from 'node:timers/promises'
import {gunzipSync} from 'node:zlib'

import type {ClientCommand, ClientEvent} from './relay-load-protocol.js'

const REQUEST_TIMEOUT_MS = 15_000
const FLV_RECONNECT_MS = 1000
const RETRY_MS = 500
/** Receipts kept per viewer: a report asks for the last window's, a soak must not grow. */
const KEPT_SEGMENTS = 200
const KEPT_PARTS = 800

let failures = 0
const send = (event: ClientEvent): void => {
  process.send?.(event)
}

interface Fetched {
  status: number
  bytes: number
  /** Kept only when asked for (playlists), gunzipped when it came gzipped. */
  body: Buffer | undefined
}

/** A viewer's one connection to the server: its agent, and where it really connects. */
class Connection {
  readonly agent: http.Agent
  private readonly secure: boolean

  constructor(
    base: URL,
    private readonly connectTo: string | undefined,
    private readonly userAgent: string,
  ) {
    this.secure = base.protocol === 'https:'
    // The edge's certificate comes from its own internal CA: not verified.
    this.agent = this.secure ? new https.Agent({keepAlive: true, maxSockets: 1, rejectUnauthorized: false}) : new http.Agent({keepAlive: true, maxSockets: 1})
  }

  /** One GET; onData sees each chunk as it arrives. Asks for gzip, as a browser does. */
  get(url: URL, keepBody: boolean, onData?: (bytes: number) => void): Promise<Fetched> {
    return new Promise((resolve, reject) => {
      const options: https.RequestOptions = {
        host: this.connectTo ?? url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        agent: this.agent,
        headers: {host: url.host, 'user-agent': this.userAgent, 'accept-encoding': 'gzip'},
        ...(this.secure ? {servername: url.hostname} : {}),
      }
      const request = (this.secure ? https : http).get(options, (response) => {
        const chunks: Buffer[] = []
        let bytes = 0
        response.on('data', (chunk: Buffer) => {
          bytes += chunk.length
          if (keepBody) chunks.push(chunk)
          onData?.(chunk.length)
        })
        response.once('end', () => {
          let body = keepBody ? Buffer.concat(chunks) : undefined
          if (body !== undefined && response.headers['content-encoding'] === 'gzip') body = gunzipSync(body)
          resolve({status: response.statusCode ?? 0, bytes, body})
        })
        response.once('error', reject)
      })
      request.setTimeout(REQUEST_TIMEOUT_MS, () => request.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms: ${url.pathname}`)))
      request.once('error', reject)
    })
  }

  close(): void {
    this.agent.destroy()
  }
}

interface Viewer {
  /** Body bytes received so far. */
  bytes(): number
  start(onFirst: () => void): void
  stop(): void
}

interface PartRef {
  msn: number
  part: number
}

const after = (a: PartRef, b: PartRef): boolean => a.msn > b.msn || (a.msn === b.msn && a.part > b.part)

/** What a viewer needs of an LL-HLS media playlist. */
interface PlaylistView {
  /** Parts listed, oldest first. */
  parts: (PartRef & {independent: boolean})[]
  /** Complete segments listed, with the number of parts they were listed with (undefined: none). */
  complete: Map<number, number | undefined>
  /** The newest complete segment. */
  endMsn: number | undefined
}

function parsePlaylist(text: string): PlaylistView {
  const view: PlaylistView = {parts: [], complete: new Map(), endMsn: undefined}
  const partsOf = new Map<number, number>()
  for (const line of text.split('\n')) {
    if (line.startsWith('#EXT-X-PART:')) {
      const uri = /URI="part(\d+)\.(\d+)\.m4s"/.exec(line)
      if (uri === null) continue
      const ref = {msn: Number(uri[1]), part: Number(uri[2]), independent: line.includes('INDEPENDENT=YES')}
      view.parts.push(ref)
      partsOf.set(ref.msn, (partsOf.get(ref.msn) ?? 0) + 1)
      continue
    }
    const segment = /^seg(\d+)\.m4s$/.exec(line.trim())
    if (segment === null) continue
    const msn = Number(segment[1])
    view.complete.set(msn, partsOf.get(msn))
    view.endMsn = msn
  }
  return view
}

/**
 * The blocking reload hls.js asks for next: the part after the newest listed, which is the next
 * segment's first once the newest part's segment is complete.
 */
function nextWanted(view: PlaylistView): PartRef {
  const last = view.parts.at(-1)
  if (last === undefined || last.msn === view.endMsn) return {msn: (view.endMsn ?? last?.msn ?? 0) + 1, part: 0}
  return {msn: last.msn, part: last.part + 1}
}

interface SegmentReceipt {
  bytes: number
  parts: number
  /** How many parts the segment has, once a playlist lists it complete. */
  total: number | undefined
  /** When its latest part was complete. */
  lastAt: number
}

/**
 * An hls.js player with `lowLatencyMode: true` at the live edge, reduced to its network: master,
 * media playlist, init.mp4, then from the newest independent part on, a blocking reload for the
 * part after the newest listed and each newly listed part once, in order, on one connection.
 */
class LlHlsViewer implements Viewer {
  private readonly segments = new Map<number, SegmentReceipt>()
  private readonly partsDone = new Map<string, number>()
  private readonly connection: Connection
  private received = 0
  private stopped = false
  private playlistUrl: URL | undefined
  /** The last part fetched (or skipped). */
  private cursor: PartRef = {msn: -1, part: -1}
  /** Segments before this one began before the viewer joined: not accounted. */
  private countFrom = Number.POSITIVE_INFINITY

  constructor(
    private readonly base: URL,
    connectTo: string | undefined,
    id: number,
  ) {
    this.connection = new Connection(base, connectTo, `shing-bench-viewer/${id}`)
  }

  bytes(): number {
    return this.received
  }

  start(onFirst: () => void): void {
    void this.run(onFirst)
  }

  stop(): void {
    this.stopped = true
    this.connection.close()
  }

  /** Bytes and completion of segment n (-1: not complete, or not accounted). */
  receipt(n: number): {bytes: number; doneAt: number} {
    const r = this.segments.get(n)
    if (r === undefined) return {bytes: 0, doneAt: -1}
    return {bytes: r.bytes, doneAt: r.total !== undefined && r.parts === r.total ? r.lastAt : -1}
  }

  partDoneAt(msn: number, part: number): number {
    return this.partsDone.get(`${msn}.${part}`) ?? -1
  }

  private async run(onFirst: () => void): Promise<void> {
    let view: PlaylistView | undefined
    while (!this.stopped && view === undefined) {
      try {
        view = await this.join()
        onFirst()
      } catch {
        failures++
        await sleep(RETRY_MS)
      }
    }
    while (!this.stopped && view !== undefined) {
      const wanted = nextWanted(view)
      try {
        view = await this.readPlaylist(`?_HLS_msn=${wanted.msn}&_HLS_part=${wanted.part}`)
        const before = this.cursor
        await this.fetchListed(view)
        // An answer that did not move on (a stale cached copy) must not become a busy loop.
        if (!after(this.cursor, before)) await sleep(100)
      } catch {
        if (this.stopped) return
        failures++
        await sleep(RETRY_MS)
        view = await this.readPlaylist('').catch(() => view)
      }
    }
  }

  private async join(): Promise<PlaylistView> {
    const master = await this.connection.get(new URL('master.m3u8', this.base), true)
    if (master.status !== 200 || master.body === undefined) throw new Error(`master playlist: HTTP ${master.status}`)
    const rendition = master.body.toString('utf8').split('\n').find((line) => line.trim() !== '' && !line.startsWith('#'))
    if (rendition === undefined) throw new Error('master playlist names no rendition')
    this.playlistUrl = new URL(rendition.trim(), this.base)
    const view = await this.readPlaylist('')
    // The live edge, as a player starts: the newest part it can decode from (a keyframe).
    const start = view.parts.findLast((p) => p.independent) ?? view.parts[0]
    if (start === undefined) throw new Error('media playlist lists no part')
    const init = await this.connection.get(new URL('init.mp4', this.playlistUrl), false)
    if (init.status !== 200) throw new Error(`init.mp4: HTTP ${init.status}`)
    this.received += init.bytes
    this.countFrom = start.part === 0 ? start.msn : start.msn + 1
    this.cursor = {msn: start.msn, part: start.part - 1}
    await this.fetchListed(view)
    return view
  }

  private async readPlaylist(query: string): Promise<PlaylistView> {
    if (this.playlistUrl === undefined) throw new Error('no media playlist yet')
    const playlist = await this.connection.get(new URL(query, this.playlistUrl), true)
    if (playlist.status !== 200 || playlist.body === undefined) throw new Error(`media playlist${query}: HTTP ${playlist.status}`)
    this.received += playlist.bytes
    const view = parsePlaylist(playlist.body.toString('utf8'))
    for (const [msn, total] of view.complete) {
      const receipt = this.segments.get(msn)
      if (receipt !== undefined && total !== undefined) receipt.total ??= total
    }
    return view
  }

  /** Every listed part after the cursor, in order (parts that slid out of the playlist are lost). */
  private async fetchListed(view: PlaylistView): Promise<void> {
    for (const ref of view.parts) {
      if (this.stopped) return
      if (!after(ref, this.cursor)) continue
      await this.fetchPart(ref)
      const total = view.complete.get(ref.msn)
      const receipt = this.segments.get(ref.msn)
      if (receipt !== undefined && total !== undefined) receipt.total ??= total
    }
  }

  private async fetchPart(ref: PartRef): Promise<void> {
    if (this.playlistUrl === undefined) return
    let receipt = this.segments.get(ref.msn)
    if (receipt === undefined && ref.msn >= this.countFrom) {
      receipt = {bytes: 0, parts: 0, total: undefined, lastAt: -1}
      this.segments.set(ref.msn, receipt)
      if (this.segments.size > KEPT_SEGMENTS) {
        const oldest = this.segments.keys().next().value
        if (oldest !== undefined) this.segments.delete(oldest)
      }
    }
    const answer = await this.connection.get(new URL(`part${ref.msn}.${ref.part}.m4s`, this.playlistUrl), false, (bytes) => {
      this.received += bytes
    })
    if (answer.status !== 200) throw new Error(`part${ref.msn}.${ref.part}.m4s: HTTP ${answer.status}`)
    const now = Date.now()
    if (receipt !== undefined) {
      receipt.bytes += answer.bytes
      receipt.parts++
      receipt.lastAt = now
    }
    this.partsDone.set(`${ref.msn}.${ref.part}`, now)
    this.cursor = ref
    if (this.partsDone.size > KEPT_PARTS) {
      const oldest = this.partsDone.keys().next().value
      if (oldest !== undefined) this.partsDone.delete(oldest)
    }
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
    const viewer = command.mode === 'llhls' ? new LlHlsViewer(new URL(command.url), command.connectTo, id) : new FlvViewer(new URL(command.url), id)
    viewers.push(viewer)
    // Spread over the ramp, so players' polls fall at every phase of the segment, as real ones do.
    setTimeout(() => viewer.start(onFirst), (command.rampMs * i) / command.viewers)
  }
}

function report(segments: number[], parts: [number, number][]): ClientEvent {
  const bytes: number[] = []
  const doneAt: number[] = []
  const partDoneAt: number[] = []
  for (const viewer of viewers) {
    for (const n of segments) {
      const receipt = viewer instanceof LlHlsViewer ? viewer.receipt(n) : {bytes: 0, doneAt: -1}
      bytes.push(receipt.bytes)
      doneAt.push(receipt.doneAt)
    }
    for (const [msn, part] of parts) partDoneAt.push(viewer instanceof LlHlsViewer ? viewer.partDoneAt(msn, part) : -1)
  }
  return {type: 'report', bytes, doneAt, partDoneAt, failures}
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
      send(report(command.segments, command.parts))
      break
    case 'stop':
      for (const viewer of viewers) viewer.stop()
      process.disconnect()
      break
  }
})
// The orchestrator died: nothing left to measure for.
process.on('disconnect', () => process.exit(0))
