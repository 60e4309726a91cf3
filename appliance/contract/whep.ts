/**
 * Real-time playback (WHEP, the IETF draft's shape). A channel whose owner turned "real-time" on
 * has its ladder's top rendition (H.264 without B-frames) and an Opus encode of its audio sent by
 * the ingest over plain RTP into a room on the least-loaded SFU; the ingest keeps where in Redis
 * (realtimeKey). A viewer's page POSTs its SDP offer to WHEP_PATH/<channel>; the web consumes the
 * room's two tracks on that SFU for it and answers 201 with the SDP answer and the session's URL
 * (Location), which DELETE ends. docs/whep.md tells the whole exchange.
 */
import {z} from 'zod'

export const WHEP_PATH = '/whep'
/** A session is the viewer's peer id on the SFU. */
export const WHEP_SESSION_PATTERN = /^[A-Za-z0-9_-]{16}$/
/** Where a page plays a channel in real time. */
export const whepUrl = (publicUrl: string, channel: string): string => `${publicUrl.replace(/\/$/, '')}${WHEP_PATH}/${encodeURIComponent(channel)}`
/** A session's URL: the SFU's registry id is in it, so that any web instance can end it. */
export const whepSessionPath = (channel: string, sfuId: string, session: string): string =>
  `${WHEP_PATH}/${encodeURIComponent(channel)}/${encodeURIComponent(sfuId)}/${session}`
/** An offer is a few kilobytes; more is not an offer. */
export const WHEP_OFFER_MAX_BYTES = 64 * 1024

/** Redis key: where a channel's real-time tracks are now (the ingest sets and refreshes it while it sends them). */
export const realtimeKey = (channel: string): string => `shing:realtime:${channel}`
export const REALTIME_TTL_SECONDS = 30
export const realtimeRecordSchema = z.object({
  /** The SFU's registry id. */
  sfu: z.string().min(1),
  /** The call room on it that holds the two tracks. */
  room: z.string().min(1),
  streamId: z.string().min(1),
})
export type RealtimeRecord = z.infer<typeof realtimeRecordSchema>

/**
 * What the ingest sends: the payload types of its RTP and the codecs as the SFU's router has them.
 * The video is Constrained Baseline, the one H.264 profile every WebRTC player decodes (Chromium
 * builds without a High decoder offer none of it; Firefox decodes with OpenH264). Level 3.1 is what
 * the SDP says; players decode the level the stream has.
 */
export const REALTIME_CODECS = {
  video: {mimeType: 'video/H264', payloadType: 102, clockRate: 90_000, parameters: {'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1}},
  audio: {mimeType: 'audio/opus', payloadType: 111, clockRate: 48_000, channels: 2, parameters: {}},
} as const
/** The Opus bitrate of the real-time audio. */
export const REALTIME_AUDIO_KBPS = 96
