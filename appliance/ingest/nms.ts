/**
 * Everything the ingest reaches inside node-media-server 4 (which has no API for it), in one
 * place: deciding a publish before it is answered, refusing it with a status the encoder shows,
 * watching a publish's packets, and its metadata. Read from its source (src/protocol/rtmp.js,
 * src/session/rtmp_session.js, src/server/broadcast_server.js); a new major must be checked here.
 */
import type NodeMediaServer from 'node-media-server'
import nmsContext from 'node-media-server/src/core/context.js'
import Rtmp from 'node-media-server/src/protocol/rtmp.js'

import type {SourceMetadata, SourcePacket} from './source.js'

/** The RTMP status codes an encoder shows for a refused publish (OBS, ffmpeg: "Server error: …"). */
export type RefusalCode = 'NetStream.Publish.BadName' | 'NetStream.Publish.Rejected'

export interface PublishRequest {
  /** The node-media-server session id of the connection. */
  sessionId: string
  ip: string
  app: string
  /** The stream name as the encoder sent it (query string and all). */
  name: string
}

export type PublishDecision = {accept: true} | {accept: false; code: RefusalCode; description: string}

/** How long a refused connection stays open for its status message to reach the encoder. */
const CLOSE_AFTER_MS = 250

function sessionOf(rtmp: unknown): (NodeMediaServer.Session & {socket?: import('node:net').Socket}) | undefined {
  for (const session of nmsContext.sessions.values()) if (session.rtmp === rtmp) return session
  return undefined
}

let installed: ((request: PublishRequest) => Promise<PublishDecision>) | undefined

/**
 * Every RTMP publish is decided before node-media-server answers it (it would answer
 * NetStream.Publish.Start at once, and the encoder would see only a closed connection). One
 * decider per process: the ingest.
 */
export function installPublishGate(decide: (request: PublishRequest) => Promise<PublishDecision>): () => void {
  if (installed !== undefined) throw new Error('a publish gate is installed already')
  installed = decide
  const original = Rtmp.prototype.onPublish
  Rtmp.prototype.onPublish = function (this: Rtmp, invokeMessage: {streamName: string}) {
    const session = sessionOf(this)
    this.streamId = this.parserPacket.header.stream_id
    const request: PublishRequest = {sessionId: session?.id ?? '', ip: session?.ip ?? '', app: this.streamApp, name: String(invokeMessage.streamName)}
    const refuse = (code: RefusalCode, description: string): void => {
      this.sendStatusMessage(this.streamId, 'error', code, description)
      setTimeout(() => session?.socket?.end(), CLOSE_AFTER_MS).unref()
    }
    decide(request).then(
      (decision) => {
        // The encoder may have given up while we decided: answering a closed connection would
        // leave node-media-server with a publisher that never ends.
        if (session?.socket?.destroyed === true) return
        if (decision.accept) original.call(this, invokeMessage)
        else refuse(decision.code, decision.description)
      },
      () => refuse('NetStream.Publish.Rejected', 'The server could not check this publish; try again in a moment'),
    )
  }
  return () => {
    Rtmp.prototype.onPublish = original
    installed = undefined
  }
}

/** Ends an accepted publish with a status the encoder shows, then the connection. */
export function refuseAfterStart(session: NodeMediaServer.Session, code: RefusalCode, description: string): void {
  const full = nmsContext.sessions.get(session.id)
  const rtmp = full?.rtmp as Rtmp | undefined
  rtmp?.sendStatusMessage(rtmp.streamId, 'error', code, description)
  setTimeout(() => session.close(), CLOSE_AFTER_MS).unref()
}

/** Calls `onPacket` with every packet of a publish until the returned function is called. */
export function tapPackets(streamPath: string, onPacket: (packet: SourcePacket) => void): () => void {
  const broadcast = nmsContext.broadcasts.get(streamPath)
  if (broadcast === undefined) return () => undefined
  const forward = broadcast.broadcastMessage
  broadcast.broadcastMessage = (packet) => {
    onPacket(packet)
    forward(packet)
  }
  return () => {
    if (nmsContext.broadcasts.get(streamPath) === broadcast) broadcast.broadcastMessage = forward
  }
}

/** What the encoder's onMetaData said (node-media-server copies it onto the publishing session). */
export function publishMetadata(session: NodeMediaServer.Session): SourceMetadata | undefined {
  if (session.videoCodec === undefined && session.audioCodec === undefined) return undefined
  const out: SourceMetadata = {}
  if (session.videoCodec !== undefined) out.videoCodec = session.videoCodec
  if (session.audioCodec !== undefined) out.audioCodec = session.audioCodec
  if (typeof session.videoWidth === 'number') out.videoWidth = session.videoWidth
  if (typeof session.videoHeight === 'number') out.videoHeight = session.videoHeight
  if (typeof session.videoFramerate === 'number') out.videoFramerate = session.videoFramerate
  if (typeof session.videoDatarate === 'number') out.videoDatarate = session.videoDatarate
  return out
}

/** The broadcast's current publisher is this session (node-media-server refuses a second one itself). */
export function isPublisherOf(session: NodeMediaServer.Session): boolean {
  return nmsContext.broadcasts.get(session.streamPath)?.publisher === session
}

/** Drops node-media-server's resume grace: an ended publish must not stay "live" and replay into the old state. */
export function noPublishGrace(streamPath: string): void {
  const broadcast = nmsContext.broadcasts.get(streamPath)
  if (broadcast !== undefined) broadcast.publishGraceMs = 0
}
