/**
 * Browser broadcasting: the Go-live page (or any client) sends what MediaRecorder records over a
 * WebSocket to an ingest, which feeds it into the same RTMP path OBS uses. The protocol is written
 * down in docs/browser-ingest.md; this is its machine-readable half.
 */
import {createHmac, randomBytes, timingSafeEqual} from 'node:crypto'

import {z} from 'zod'

import {CHANNEL_PATTERN} from './live.js'

/** The ingest's WebSocket path. Through the site: /ingest/ws/<ingestId>?ticket=… (the web forwards it). */
export const BROWSER_INGEST_PATH = '/ingest/ws'
export const browserIngestUrl = (ingestId: string, ticket: string): string =>
  `${BROWSER_INGEST_PATH}/${encodeURIComponent(ingestId)}?ticket=${encodeURIComponent(ticket)}`

/** The largest media frame the ingest takes (MediaRecorder's chunks of a second are ~1 MB at most). */
export const BROWSER_INGEST_MAX_FRAME_BYTES = 8 * 1024 * 1024
/** A broadcast that sends no media for this long is ended. */
export const BROWSER_INGEST_SILENCE_MS = 10_000
/** How long a client has to say hello after the socket opened. */
export const BROWSER_INGEST_HELLO_MS = 5_000

/** Close codes beside the standard ones (1000 normal, 1001 going away, 1009 too big). */
export const closeCodes = {
  /** The hello was missing, malformed, or came too late. */
  badHello: 4000,
  /** No valid ticket and no valid stream key. */
  unauthorized: 4001,
  /** The publish was refused: the reason says why (already live, disabled, revoked…). */
  refused: 4003,
  /** What arrived is not a recording the ingest can read. */
  badMedia: 4004,
  /** No media for BROWSER_INGEST_SILENCE_MS. */
  silent: 4008,
  /** This ingest has no room, or is shutting down: ask the site for another one. */
  goElsewhere: 4010,
  /** The broadcast ended on the server's side (the ladder stopped, a moderator ended it). */
  ended: 4011,
} as const

/** The client's first message (text). */
export const browserHelloSchema = z.object({
  type: z.literal('hello'),
  /** MediaRecorder's mimeType, e.g. video/webm;codecs=h264,opus (ASCII: a MIME type and its parameters). */
  mimeType: z.string().max(200).regex(/^[\w.+/;=," -]*$/, 'a MIME type'),
  /** A stream key, for clients without a ticket (a tool, a script); never with a ticket. */
  key: z.string().max(100).optional(),
})
export type BrowserHello = z.infer<typeof browserHelloSchema>

/** What the ingest sends (text). */
export const browserServerMessageSchema = z.discriminatedUnion('type', [
  /** Authenticated and ready for media: send the recording. */
  z.object({type: z.literal('ready'), channel: z.string()}),
  /** The channel is live from this socket. */
  z.object({type: z.literal('live'), streamId: z.string()}),
  /** The ingest cannot take the data as fast as it comes: send at a lower bitrate. */
  z.object({type: z.literal('slow-down'), bufferedSeconds: z.number()}),
  /** Before any close the ingest decides: the reason, in words for the streamer. */
  z.object({type: z.literal('error'), code: z.number().int(), message: z.string()}),
])
export type BrowserServerMessage = z.infer<typeof browserServerMessageSchema>

/** What the page asks the web for before it connects (POST, CSRF-protected). */
export const goLiveSessionSchema = z.object({
  /** The WebSocket path through the site, with the ticket. */
  socketPath: z.string(),
  ingestId: z.string(),
  /** The hardware profile's ladder top: what the page records at. */
  video: z.object({height: z.number().int(), fps: z.number(), kbps: z.number().int()}),
})
export type GoLiveSession = z.infer<typeof goLiveSessionSchema>

/** A ticket lives this long: the page connects at once after it got one. */
export const TICKET_TTL_MS = 60_000

const ticketKey = (streamKeySecret: string): Buffer => createHmac('sha256', streamKeySecret).update('shing browser publish ticket').digest()

/** `<channel>.<expires ms>.<nonce>.<mac>`: the web mints it for the channel's owner, the ingest checks it. */
export function mintTicket(streamKeySecret: string, channel: string, now = Date.now()): string {
  const body = `${channel}.${now + TICKET_TTL_MS}.${randomBytes(9).toString('base64url')}`
  return `${body}.${createHmac('sha256', ticketKey(streamKeySecret)).update(body).digest('base64url')}`
}

export type TicketCheck = {ok: true; channel: string; nonce: string; expires: number} | {ok: false; why: string}

export function checkTicket(streamKeySecret: string, ticket: string, now = Date.now()): TicketCheck {
  const parts = ticket.split('.')
  if (parts.length !== 4) return {ok: false, why: 'not a ticket'}
  const [channel, expires, nonce, mac] = parts as [string, string, string, string]
  const want = createHmac('sha256', ticketKey(streamKeySecret)).update(`${channel}.${expires}.${nonce}`).digest()
  const got = Buffer.from(mac, 'base64url')
  if (got.length !== want.length || !timingSafeEqual(got, want)) return {ok: false, why: 'the ticket is not signed by this site'}
  if (!CHANNEL_PATTERN.test(channel)) return {ok: false, why: 'not a ticket'}
  if (Number(expires) < now) return {ok: false, why: 'the ticket expired: ask the site for a new one'}
  return {ok: true, channel, nonce, expires: Number(expires)}
}
