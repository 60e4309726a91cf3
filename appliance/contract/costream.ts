/**
 * Co-streaming (docs/costream.md): a channel's studio is a call room whose participants (the
 * streamer and up to three guests) go live together. The web asks an ingest to start, change or
 * end the studio's broadcast over HTTP (COSTREAM_PATH, the SFU token as the bearer); the ingest
 * receives the room's media from its SFU as plain RTP, composites the tiles and mixes the audio
 * in ffmpeg, and publishes the result to its own RTMP server as the channel's broadcast.
 */
import {z} from 'zod'

import {ROOM_ID_PATTERN} from './calls.js'

/** Where an ingest takes the web's studio requests: `${COSTREAM_PATH}/<channel>` (POST starts, PUT changes the layout, DELETE ends). */
export const COSTREAM_PATH = '/internal/costream'
/** The layouts a host chooses from: how many tiles the picture has (the host's, then the guests' in the order they came). */
export const costreamLayouts = [1, 2, 4] as const
export type CostreamLayout = (typeof costreamLayouts)[number]
/** Guests a studio takes in its picture (the host is the first tile). */
export const COSTREAM_MAX_GUESTS = 3
/** The refusal when the studio's room has nobody in it (the web says it first; the ingest again, in case). */
export const COSTREAM_EMPTY_ROOM = 'Nobody is in the studio: join it first, then go live.'

const layoutSchema = z.union([z.literal(1), z.literal(2), z.literal(4)])
export const costreamStartSchema = z.object({
  room: z.string().regex(ROOM_ID_PATTERN),
  /** The host's name in the room (their username): the first tile. */
  host: z.string().min(1).max(40),
  layout: layoutSchema,
})
export type CostreamStart = z.infer<typeof costreamStartSchema>
export const costreamLayoutSchema = z.object({layout: layoutSchema})

/** Redis key: the studio of `channel` is live, from this ingest (JSON CostreamLive); refreshed while it is, gone when it ends. */
export const costreamLiveKey = (channel: string): string => `shing:costream:${channel}`
export const COSTREAM_LIVE_TTL_SECONDS = 30
export const costreamLiveSchema = z.object({ingest: z.string(), layout: layoutSchema, since: z.number(), tiles: z.array(z.string())})
export type CostreamLive = z.infer<typeof costreamLiveSchema>
/** Redis key: why the studio's last broadcast ended (shown on the studio page), for a while after. */
export const costreamEndedKey = (channel: string): string => `shing:costream:ended:${channel}`
export const COSTREAM_ENDED_TTL_SECONDS = 600
