// node-media-server 4 ships no types: the small part of its API the ingest uses, read from its source.
declare module 'node-media-server' {
  import type {Server} from 'node:net'

  namespace NodeMediaServer {
    interface Session {
      id: string
      ip: string
      protocol: string
      streamApp: string
      streamName: string
      streamPath: string
      streamQuery: Record<string, string>
      createTime: number
      /** Set when the publisher or player disconnected (0 while connected). */
      endTime: number
      inBytes: number
      outBytes: number
      /** From the publisher's onMetaData (FLV codec ids, pixels, fps, kbit/s). */
      videoCodec?: number | string
      videoWidth?: number
      videoHeight?: number
      videoFramerate?: number
      videoDatarate?: number
      audioCodec?: number | string
      close(): void
    }
    interface Config {
      bind?: string
      rtmp?: {port?: number}
      http?: {port?: number}
      store?: {path?: string}
      record?: {auto?: boolean; path?: string}
      notify?: {url?: string}
      webadmin?: {enable?: boolean}
    }
    type SessionEvent = 'prePublish' | 'postPublish' | 'donePublish' | 'prePlay' | 'postPlay' | 'donePlay'
  }

  class NodeMediaServer {
    constructor(config: NodeMediaServer.Config, configPath?: string)
    rtmpServer: {tcpServer?: Server}
    on(event: NodeMediaServer.SessionEvent, listener: (session: NodeMediaServer.Session) => void): void
    run(): Promise<void>
    stop(): Promise<void>
  }
  export = NodeMediaServer
}

declare module 'node-media-server/src/core/context.js' {
  import type NodeMediaServer from 'node-media-server'

  const Context: {
    /** Every connected session by id; an RTMP session holds its protocol state in `rtmp`. */
    sessions: Map<string, NodeMediaServer.Session & {rtmp?: unknown; socket?: import('node:net').Socket}>
    /** Live streams by path; `publisher` is null once a publish has finished. */
    broadcasts: Map<
      string,
      {
        publisher: NodeMediaServer.Session | null
        subscribers: Map<string, NodeMediaServer.Session>
        /** How long a disconnected publisher may resume before donePublish fires (30 s by default). */
        publishGraceMs: number
        /** Every packet of the publish goes through here (an instance field: it can be wrapped). */
        broadcastMessage: (packet: {codec_type: number; codec_id: number; flags: number; dts: number; pts: number; size: number}) => void
      }
    >
  }
  export = Context
}

declare module 'node-media-server/src/core/logger.js' {
  const logger: {level: string; log(message: string, level?: string): void}
  export = logger
}

declare module 'node-media-server/src/protocol/rtmp.js' {
  /** The RTMP protocol state of one connection (one per session). */
  class Rtmp {
    streamApp: string
    streamId: number
    parserPacket: {header: {stream_id: number}}
    onPublish(invokeMessage: {streamName: string}): void
    sendStatusMessage(streamId: number, level: 'status' | 'error', code: string, description: string): void
  }
  export = Rtmp
}
