/**
 * Browser broadcasting, the ingest's side (docs/browser-ingest.md): a WebSocket at /ingest/ws
 * takes what MediaRecorder records (WebM or Matroska, fragmented MP4) and one ffmpeg per socket
 * hands it to this ingest's own RTMP server, over loopback, with the channel's stream key. From
 * there it is an RTMP publish like OBS's: the same key check, slot, ladder, relays, DVR and VOD.
 * H.264 from the browser is copied (Chromium records it); VP8/VP9 (Firefox) is encoded once to
 * H.264 at the ladder's top. Opus becomes AAC, which FLV carries.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {EventEmitter} from 'node:events'
import type {IncomingMessage, Server} from 'node:http'
import type {Duplex} from 'node:stream'

import type {Redis} from 'ioredis'
import {Counter, type Registry} from 'prom-client'
import {WebSocketServer, type RawData, type WebSocket} from 'ws'

import type {StreamKeys} from '../channels/stream-keys.js'
import {
  BROWSER_INGEST_HELLO_MS,
  BROWSER_INGEST_MAX_FRAME_BYTES,
  BROWSER_INGEST_PATH,
  BROWSER_INGEST_SILENCE_MS,
  browserHelloSchema,
  checkTicket,
  closeCodes,
  RTMP_APP,
  TICKET_TTL_MS,
  type BrowserHello,
  type BrowserServerMessage,
} from '../contract/index.js'
import {safeJson} from '../platform/json.js'
import type {Logger} from '../platform/logger.js'
import type {RefuseReason} from './rtmp-ingest.js'

/** What the RTMP side tells the sockets about the publishes they made (by stream key). */
export interface PublishEvents {
  refused: [key: string, reason: RefuseReason, description: string]
  live: [key: string, streamId: string]
  ended: [key: string, streamId: string]
}
export class PublishEventBus extends EventEmitter<PublishEvents> {}

export interface BrowserIngestOptions {
  server: Server
  /** streamKeySecret: tickets are signed with a key derived from it. */
  secret: string
  keys: StreamKeys
  redis: Redis
  rtmpPort: number
  ladderTop: {fps: number; videoKbps: number; segmentSeconds: number}
  events: PublishEventBus
  /** A publish name of the bridge's own standing for `key` (the RTMP gate resolves it); released when done. */
  alias: (key: string) => {name: string; release(): void}
  /** Whether the channel is live now, here or on another ingest. */
  liveNow: (channel: string) => Promise<boolean>
  registry: Registry
  log: Logger
  ffmpegPath?: string
}

export interface BrowserIngest {
  sockets(): number
  /** Tells every broadcaster to go elsewhere, and waits until their ffmpeg left. */
  close(): Promise<void>
}

/** Refusals the streamer fixes elsewhere (another ingest) get "go elsewhere"; the rest are final. */
const goElsewhereReasons: RefuseReason[] = ['no-slot', 'lookup-failed']
const unauthorizedReasons: RefuseReason[] = ['bad-key', 'revoked']
/** ffmpeg's stdin is allowed to hold back this long before the client is told to slow down. */
const SLOW_DOWN_AFTER_MS = 1500
/** After the client left: the time ffmpeg gets to send what it holds before it is killed. */
const FLUSH_MS = 5000
/** Keep-alives: a WebSocket ping (browsers answer it by themselves) this often. */
const PING_EVERY_MS = 15_000

const ticketUsedKey = (nonce: string): string => `shing:ingest:ticket:${nonce}`

/** The video in the recording is H.264 (copied as it is); anything else is encoded. */
export const isH264 = (mimeType: string): boolean => /\b(avc1|h264)\b/i.test(mimeType)

/** The container a MediaRecorder type names; undefined for one the ingest does not read. */
export function containerOf(mimeType: string): 'matroska' | 'mp4' | undefined {
  const type = mimeType.split(';')[0]!.trim().toLowerCase()
  if (type === 'video/webm' || type === 'video/x-matroska' || type === 'audio/webm') return 'matroska'
  if (type === 'video/mp4' || type === 'audio/mp4') return 'mp4'
  return undefined
}

/** Whether a recording's first bytes are its container's header (EBML; an MP4 box, ftyp first). */
export function startsLike(container: 'matroska' | 'mp4', head: Buffer): boolean {
  if (container === 'matroska') return head.length >= 4 && head.readUInt32BE(0) === 0x1a45dfa3
  return head.length >= 8 && head.toString('latin1', 4, 8) === 'ftyp'
}

/** ffmpeg's arguments: a recording on stdin → an RTMP publish at `url`. */
export function bridgeArgs(mimeType: string, url: string, top: BrowserIngestOptions['ladderTop']): string[] {
  const gop = Math.max(1, Math.round(top.fps * top.segmentSeconds))
  const video = isH264(mimeType)
    ? ['-c:v', 'copy']
    : ['-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p', '-g', String(gop), '-b:v', `${top.videoKbps}k`, '-maxrate', `${top.videoKbps}k`, '-bufsize', `${top.videoKbps * 2}k`]
  return [
    '-hide_banner', '-nostats', '-loglevel', 'error',
    // The recording's header names its tracks: no need to read seconds of it first.
    '-probesize', '1000000', '-analyzeduration', '1500000',
    '-f', containerOf(mimeType) ?? 'matroska', '-i', 'pipe:0',
    '-map', '0:v:0?', '-map', '0:a:0?',
    ...video,
    '-c:a', 'aac', '-b:a', '128k', '-ar', '48000', '-ac', '2',
    '-f', 'flv', url,
  ]
}

export function startBrowserIngest(options: BrowserIngestOptions): BrowserIngest {
  const {log, events} = options
  const wss = new WebSocketServer({noServer: true, maxPayload: BROWSER_INGEST_MAX_FRAME_BYTES, perMessageDeflate: false})
  const bridges = new Set<Promise<void>>()
  let closing = false
  const closed = new Counter({
    name: 'shing_ingest_browser_sockets_closed_total',
    help: 'Browser broadcast sockets closed, by close code (docs/browser-ingest.md)',
    labelNames: ['code'],
    registers: [options.registry],
  })

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = new URL(request.url ?? '/', 'http://ingest')
    if (url.pathname !== BROWSER_INGEST_PATH) {
      socket.on('error', () => undefined)
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      return
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      const done = serve(ws, url.searchParams.get('ticket') ?? undefined, request.socket.remoteAddress ?? '').catch((error: unknown) => {
        log.error({err: error}, 'browser broadcast socket failed')
        ws.terminate()
      })
      bridges.add(done)
      void done.finally(() => bridges.delete(done))
    })
  }
  options.server.on('upgrade', onUpgrade)

  const send = (ws: WebSocket, message: BrowserServerMessage): void => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message))
  }
  /** Says why, then closes (the close reason cut, at a character, to the 123 bytes a close frame carries). */
  const finish = (ws: WebSocket, code: number, message: string): void => {
    if (ws.readyState !== ws.OPEN) return
    closed.inc({code: String(code)})
    send(ws, {type: 'error', code, message})
    let reason = message
    while (Buffer.byteLength(reason) > 123) reason = reason.slice(0, -1)
    try {
      ws.close(code, reason)
    } catch {
      ws.terminate()
    }
  }

  /** One socket, from its hello to its close. */
  const serve = async (ws: WebSocket, ticket: string | undefined, address: string): Promise<void> => {
    const socketLog = log.child({address})
    // A frame over the limit, or one that breaks the protocol: ws closes the socket (1009, 1002)
    // and says why here; unheard, the error would end the process.
    ws.on('error', (error) => socketLog.warn({err: error.message}, 'browser broadcast socket error'))
    if (closing) return finish(ws, closeCodes.goElsewhere, 'This server is restarting: connect to another one')
    // One listener for the socket's life, so that no frame is missed between its phases: the
    // hello, then (while the key is checked) nothing, then media for the bridge.
    let onHello: ((data: RawData | undefined) => void) | undefined
    let onMedia: ((chunk: Buffer) => void) | undefined
    ws.on('message', (data, isBinary) => {
      if (onHello !== undefined) {
        const hello = onHello
        onHello = undefined
        return hello(isBinary ? undefined : data)
      }
      if (!isBinary) return // keep-alives, and anything newer than this server: ignored
      if (onMedia === undefined) return finish(ws, closeCodes.badHello, 'Send media only after the server said ready')
      for (const chunk of Array.isArray(data) ? data : [data instanceof ArrayBuffer ? Buffer.from(data) : data]) onMedia(chunk)
    })
    const hello = await new Promise<RawData | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), BROWSER_INGEST_HELLO_MS)
      onHello = (data) => {
        clearTimeout(timer)
        resolve(data)
      }
      ws.once('close', () => {
        clearTimeout(timer)
        resolve(undefined)
      })
    })
    onHello = undefined
    const parsed = hello === undefined ? undefined : browserHelloSchema.safeParse(safeJson(hello.toString()))
    if (parsed?.success !== true) return finish(ws, closeCodes.badHello, 'Say hello first: {"type":"hello","mimeType":"…"} as a text message')
    return authorize(ws, ticket, parsed.data, socketLog, (handler) => {
      onMedia = handler
    })
  }

  /** The ticket or key checked; then the bridge, once "ready" went out. */
  const authorize = async (ws: WebSocket, ticket: string | undefined, hello: BrowserHello, socketLog: Logger, takeMedia: (handler: (chunk: Buffer) => void) => void): Promise<void> => {
    const {mimeType} = hello
    const container = containerOf(mimeType)
    if (container === undefined) return finish(ws, closeCodes.badMedia, `The server reads WebM, Matroska and MP4 recordings, not ${mimeType.slice(0, 40) || 'an unnamed type'}`)

    let key: string
    let channel: string | undefined
    if (ticket !== undefined) {
      const checked = checkTicket(options.secret, ticket)
      if (!checked.ok) {
        socketLog.warn({why: checked.why}, 'browser broadcast refused: bad ticket')
        return finish(ws, closeCodes.unauthorized, `Not allowed: ${checked.why}`)
      }
      // A ticket is good for one socket: a copy of the URL (a log, a history) publishes nothing.
      // Remembered until well after the ticket expires, whatever the two boxes' clocks say.
      const fresh = await options.redis.set(ticketUsedKey(checked.nonce), '1', 'PXAT', Math.max(checked.expires, Date.now()) + TICKET_TTL_MS, 'NX').catch(() => 'unknown' as const)
      if (fresh === 'unknown') return finish(ws, closeCodes.goElsewhere, 'The server cannot check tickets right now: try again in a moment')
      if (fresh === null) return finish(ws, closeCodes.unauthorized, 'Not allowed: this ticket was used already; ask the site for a new one')
      channel = checked.channel
      try {
        key = (await options.keys.browserKey(channel)).key
      } catch (error) {
        socketLog.warn({channel, err: (error as Error).message}, 'browser broadcast: no key')
        return finish(ws, closeCodes.goElsewhere, 'The server cannot go live right now: try again in a minute')
      }
    } else if (hello.key !== undefined) {
      key = hello.key
    } else {
      return finish(ws, closeCodes.unauthorized, 'Not allowed: connect with the ticket the site gave you, or say hello with a stream key')
    }
    // The key is checked before any media is asked for (the RTMP gate checks it again).
    let lookup: Awaited<ReturnType<StreamKeys['lookup']>>
    try {
      lookup = await options.keys.lookup(key)
    } catch {
      return finish(ws, closeCodes.goElsewhere, 'The server cannot check stream keys right now: try again in a minute')
    }
    if (lookup.status === 'unknown') return finish(ws, closeCodes.unauthorized, 'This stream key is not valid: copy it again from where you got it')
    if (lookup.status === 'revoked') return finish(ws, closeCodes.unauthorized, 'This stream key was revoked: ask for a new one')
    if (lookup.status === 'disabled') return finish(ws, closeCodes.refused, `${lookup.channel} is disabled by the site's moderators: your dashboard says why`)
    channel = lookup.channel
    // A channel live already (another tab, OBS, or a broadcast on a dead ingest until its state
    // expires) is refused now, before any media: the RTMP gate would refuse it only after.
    if (await options.liveNow(channel).catch(() => false)) {
      return finish(ws, closeCodes.refused, `${channel} is already live from another encoder: stop that one first`)
    }
    if (closing) return finish(ws, closeCodes.goElsewhere, 'This server is restarting: connect to another one')
    if (ws.readyState !== ws.OPEN) return
    return bridge(ws, key, mimeType, container, socketLog.child({channel, mimeType}), () => send(ws, {type: 'ready', channel}), takeMedia)
  }

  /** Pipes the socket's media into ffmpeg until either side ends; the other is ended with a reason. */
  const bridge = async (
    ws: WebSocket,
    key: string,
    mimeType: string,
    container: 'matroska' | 'mp4',
    bridgeLog: Logger,
    ready: () => void,
    takeMedia: (handler: (chunk: Buffer) => void) => void,
  ): Promise<void> => {
    // Its own publish name (standing for the key): the gate's answers reach this socket only.
    const alias = options.alias(key)
    const name = alias.name
    const url = `rtmp://127.0.0.1:${options.rtmpPort}/${RTMP_APP}/${name}`
    const child: ChildProcess = spawn(options.ffmpegPath ?? 'ffmpeg', bridgeArgs(mimeType, url, options.ladderTop), {stdio: ['pipe', 'ignore', 'pipe']})
    const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
    let stderr = ''
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-2000)
    })
    child.on('error', (error) => bridgeLog.error({err: error.message}, 'browser broadcast: ffmpeg could not start'))
    child.stdin?.on('error', () => undefined) // ffmpeg left: its exit says why
    let refusal: {code: number; message: string} | undefined
    let streamId: string | undefined
    const onRefused = (refusedKey: string, reason: RefuseReason, description: string): void => {
      if (refusedKey !== name) return
      const code = goElsewhereReasons.includes(reason) ? closeCodes.goElsewhere : unauthorizedReasons.includes(reason) ? closeCodes.unauthorized : closeCodes.refused
      refusal = {code, message: description}
      finish(ws, code, description)
    }
    const onLive = (liveKey: string, id: string): void => {
      if (liveKey !== name) return
      streamId = id
      bridgeLog.info({streamId}, 'browser broadcast live')
      send(ws, {type: 'live', streamId: id})
    }
    const onEnded = (endedKey: string, id: string): void => {
      if (endedKey === name && id === streamId) finish(ws, closeCodes.ended, 'The broadcast ended on the server (a moderator ended it, or its key was revoked)')
    }
    events.on('refused', onRefused)
    events.on('live', onLive)
    events.on('ended', onEnded)

    let lastMedia = Date.now()
    let started = false
    let heldSince: number | undefined
    let toldSlowDownAt = 0
    let lastPing = Date.now()
    const watchdog = setInterval(() => {
      const now = Date.now()
      // Silence counts only while the socket is read (a paused one holds what the client sent).
      if (heldSince === undefined && now - lastMedia >= BROWSER_INGEST_SILENCE_MS) finish(ws, closeCodes.silent, `No media for ${BROWSER_INGEST_SILENCE_MS / 1000} s: the broadcast is ended`)
      if (now - lastPing >= PING_EVERY_MS && ws.readyState === ws.OPEN) {
        lastPing = now
        ws.ping()
      }
      if (heldSince !== undefined && now - heldSince >= SLOW_DOWN_AFTER_MS && now - toldSlowDownAt >= 5000) {
        toldSlowDownAt = now
        send(ws, {type: 'slow-down', bufferedSeconds: (now - heldSince) / 1000})
      }
    }, 500)
    takeMedia((chunk) => {
      lastMedia = Date.now()
      if (!started) {
        started = true
        if (!startsLike(container, chunk)) {
          refusal = {code: closeCodes.badMedia, message: 'not a recording'}
          bridgeLog.warn({bytes: chunk.length, head: chunk.subarray(0, 16).toString('hex')}, 'browser broadcast: the first frame is not a recording')
          return finish(ws, closeCodes.badMedia, `What arrived is not a ${container === 'mp4' ? 'MP4' : 'WebM'} recording: send MediaRecorder's chunks as they come, the first one first`)
        }
      }
      if (child.stdin?.writable !== true || refusal !== undefined) return
      // ffmpeg is behind: stop reading the socket (TCP backs up to the browser, whose page sees
      // its buffered amount grow) until it caught up.
      if (!child.stdin.write(chunk) && heldSince === undefined) {
        heldSince = Date.now()
        ws.pause()
        child.stdin.once('drain', () => {
          heldSince = undefined
          lastMedia = Date.now()
          ws.resume()
        })
      }
    })
    ready()
    const socketClosed = new Promise<void>((resolve) => ws.once('close', () => resolve()))

    await Promise.race([socketClosed, exited])
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) {
      // ffmpeg left first: refused (said already), the publish ended, or the data was unreadable.
      if (refusal === undefined) {
        const why = stderr.trim().split('\n').at(-1) ?? ''
        if (streamId !== undefined) finish(ws, closeCodes.ended, 'The broadcast ended on the server')
        else {
          bridgeLog.warn({why}, 'browser broadcast: ffmpeg could not read the recording')
          finish(ws, closeCodes.badMedia, `The server cannot read this recording (${mimeType || 'no type'}): ${why.slice(0, 60)}`)
        }
      }
    } else {
      // The client left (or was closed): ffmpeg sends what it holds, and the publish ends.
      child.stdin?.end()
      const timer = setTimeout(() => child.kill('SIGKILL'), FLUSH_MS)
      await exited
      clearTimeout(timer)
    }
    clearInterval(watchdog)
    events.off('refused', onRefused)
    events.off('live', onLive)
    events.off('ended', onEnded)
    alias.release()
    bridgeLog.info({streamId, code: child.exitCode}, 'browser broadcast socket done')
  }

  return {
    sockets: () => wss.clients.size,
    close: async () => {
      closing = true
      options.server.off('upgrade', onUpgrade)
      for (const ws of wss.clients) finish(ws, closeCodes.goElsewhere, 'This server is restarting: connect to another one')
      // A client that does not answer the close (or is paused) is cut off: the stop has seconds, not ws's 30.
      const cutOff = setTimeout(() => {
        for (const ws of wss.clients) ws.terminate()
      }, 2000)
      await Promise.race([Promise.allSettled([...bridges]), new Promise((resolve) => setTimeout(resolve, 7000))])
      clearTimeout(cutOff)
      wss.close()
    },
  }
}
