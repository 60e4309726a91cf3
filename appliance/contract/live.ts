/** The live video path: channel names, RTMP, stream state in Redis, HLS paths, playback and assignment APIs. */
import {createHmac} from 'node:crypto'
import {z} from 'zod'

/** Channel names: in URLs (/c/<channel>, /live/<channel>/…) and S3 keys. */
export const CHANNEL_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/
export const channelNameSchema = z.string().regex(CHANNEL_PATTERN, 'a channel name is 1-63 of a-z, 0-9, _ and -, starting with a letter or digit')

/** OBS: server rtmp://<host>:<port>/live, stream key <key>. */
export const RTMP_APP = 'live'

/** A host as it goes into a URL: an IPv6 literal gets its brackets. */
export const urlHost = (host: string): string => (host.includes(':') && !host.startsWith('[') ? `[${host}]` : host)

/** OBS's "Server": rtmp://<host>:<port>/live. The one builder of it, for the CLI and the web alike. */
export const rtmpUrl = (host: string, port: number): string => `rtmp://${urlHost(host)}:${port}/${RTMP_APP}`

/**
 * A live stream's state in Redis, written by the ingest that holds it and refreshed with its
 * heartbeat (TTL = REGISTRY_TTL_SECONDS): when that ingest dies, the stream goes offline by itself.
 */
export const streamStateKey = (channel: string): string => `shing:stream:${channel}`
export const streamStateSchema = z.object({
  channel: z.string(),
  /** One id per broadcast: S3 keys and the VOD live under it. */
  streamId: z.string(),
  since: z.string(),
  ingestId: z.string(),
  /** Where relays fetch from: the ingest's HTTP server (host:port). */
  origin: z.string(),
  renditions: z.array(z.object({name: z.string(), height: z.number(), bandwidth: z.number()})),
})
export type StreamState = z.infer<typeof streamStateSchema>

/**
 * What the ingest measures of a live broadcast's encoder, for its streamer's dashboard: written
 * with every heartbeat under streamStatsKey (expiring with the stream state), over the last 10 s.
 */
export const streamStatsKey = (channel: string): string => `shing:stream-stats:${channel}`
export const encoderStatsSchema = z.object({
  /** When it was measured (ISO). */
  at: z.string(),
  width: z.number().optional(),
  height: z.number().optional(),
  /** Frames per second of media that arrived. */
  fps: z.number().optional(),
  /** What the encoder said it sends (onMetaData). */
  declaredFps: z.number().optional(),
  videoKbps: z.number().optional(),
  audioKbps: z.number().optional(),
  /** The longest gap between the last few keyframes. */
  keyframeIntervalSeconds: z.number().optional(),
  /** Of the frames the encoder announced, the share that did not arrive. */
  droppedPercent: z.number().optional(),
  /** Times the media stopped for 2 s or more during the broadcast. */
  stalls: z.number(),
  /** What to change in OBS, in plain words. */
  warnings: z.array(z.string()),
})
export type EncoderStats = z.infer<typeof encoderStatsSchema>

/**
 * HLS paths, the same at the ingest (origin), the relays and the edge:
 *   /live/<channel>/master.m3u8
 *   /live/<channel>/<rendition>/index.m3u8   (LL-HLS: EXT-X-PART, blocking reload with _HLS_msn/_HLS_part)
 *   /live/<channel>/<rendition>/init.mp4, seg<N>.m4s, part<N>.<i>.m4s
 */
export const LIVE_PREFIX = '/live'

/** Web API: where OBS should publish (the least-loaded ingest with a free ladder slot); 503 when none. */
export const INGEST_ASSIGN_PATH = '/api/ingest/assign'
export const ingestAssignmentSchema = z.object({
  /** rtmp://<host>:<port>/live: OBS's "Server"; the stream key goes in its own field. */
  rtmpUrl: z.string(),
  ingestId: z.string(),
})
export type IngestAssignment = z.infer<typeof ingestAssignmentSchema>

/** Web API: what a player loads for a channel; 404 for a name that is not a channel name. */
export const playbackApiPath = (channel: string): string => `/api/streams/${channel}/playback`
export const playbackSchema = z.object({
  live: z.boolean(),
  since: z.string().optional(),
  streamId: z.string().optional(),
  /** /live/<channel>/master.m3u8, relative: the page's origin (the edge routes /live/* to the relays). */
  url: z.string(),
  /** <SHING_PUBLIC_URL>/live/<channel>/master.m3u8, for players elsewhere. */
  publicUrl: z.string(),
  /** The least-loaded relay's registry id, for clients that go to a relay directly. */
  relay: z.string().optional(),
  /**
   * The same playlist straight from the relays' TLS port (ports.relayHttps), while a relay serves
   * it: the edge then carries none of the video. Players fall back to url when it fails.
   */
  direct: z.string().optional(),
  /** The broadcast has no video: players show a poster. */
  audioOnly: z.boolean().optional(),
  /** Live: how many watch it now, across every relay (counted over the last 10-20 s). */
  viewers: z.number().int().min(0).optional(),
  /** Live and playable in real time too (WHEP, under a second): the URL to POST an offer to (relative). */
  realtime: z.string().optional(),
  /** Redis is away: this is the last state known (it may have changed since). */
  stale: z.boolean().optional(),
  /** Offline: the last broadcast, to watch again (its master playlist and its page). */
  vod: z.object({streamId: z.string(), url: z.string(), page: z.string()}).optional(),
})
export type Playback = z.infer<typeof playbackSchema>

/**
 * Viewers sent to the relays directly (ports.relayHttps): with tls.mode auto the relays fetch the
 * site's certificate from the edge, which serves its certificate folder on this port to the
 * stack's network only (never published) and only with relayCertificatesToken.
 */
export const EDGE_CERTIFICATES_PORT = 2020
/** The edge's certificate folder as Caddy keeps it (XDG_DATA_HOME=/data in the caddy image). */
export const EDGE_CERTIFICATES_DIR = '/data/caddy/certificates'
/** The bearer token relays show the edge: derived from the Redis password, which the CLI and every relay hold. */
export const relayCertificatesToken = (redisPassword: string): string =>
  createHmac('sha256', redisPassword).update('shing relay certificates').digest('hex')

/** Every API error answers this shape: its kind ("not found") and what to do (older webs sent only `error`). */
export const apiErrorSchema = z.object({error: z.string(), message: z.string().optional()})
