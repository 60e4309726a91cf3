/**
 * Live chat as the CLI, the web and the browser agree on it: the site's limits (shing.yaml
 * `chat:`), a channel's chat settings, and the Socket.IO protocol (events and their payloads).
 */
import {z} from 'zod'

/** Where Socket.IO answers (the edge sends everything but /live/* to the web). */
export const CHAT_SOCKET_PATH = '/socket.io'
/** A message is at most this many characters (Unicode code points). */
export const CHAT_MESSAGE_MAX = 500
/** What a viewer who joins sees of what was said before. */
export const CHAT_HISTORY = 50

/**
 * The site's limits, one per abuse: shing.yaml `chat:` → SHING_CHAT_LIMITS (JSON) on the web.
 * Defaults fit a busy channel; a site with bots that post more raises them.
 */
export const chatLimitsSchema = z.strictObject({
  /** Messages one account may send at once (a token bucket: over it, nothing is delivered and the sender is told to slow down). */
  burst: z.number().int().min(1).max(1000).default(5),
  /** How fast that bucket refills, in messages per second. */
  perSecond: z.number().min(0.01).max(1000).default(1),
  /** Events (messages, moderation, anything) one connection may send per 10 s before it is disconnected. */
  eventsPer10s: z.number().int().min(5).max(100_000).default(60),
  /** A frame bigger than this (bytes) closes the socket. */
  maxFrameBytes: z.number().int().min(2048).max(1_048_576).default(8192),
  /** Chat connections from one address on one web instance (a household behind one NAT has several). */
  connectionsPerAddress: z.number().int().min(1).max(100_000).default(30),
})
export type ChatLimits = z.infer<typeof chatLimitsSchema>

/** What a channel's moderators may be allowed, each chosen by the owner. */
export const chatPermissions = ['delete', 'timeout', 'ban', 'settings'] as const
export type ChatPermission = (typeof chatPermissions)[number]
export const CHAT_PERMISSION_LABELS: Record<ChatPermission, string> = {
  delete: 'Delete messages',
  timeout: 'Time people out',
  ban: 'Ban and unban',
  settings: 'Change chat settings',
}

/** Time-outs a moderator picks from (seconds). */
export const CHAT_TIMEOUTS = [60, 600, 3600, 86_400, 604_800] as const

/** A channel's chat settings, as its owner (or a moderator allowed to) sets them. */
export const chatSettingsSchema = z.strictObject({
  /** Seconds one person waits between messages (0: off). Moderators and the owner are exempt. */
  slowModeSeconds: z.number().int().min(0).max(3600).default(0),
  /** Accounts younger than this (minutes) read only. */
  minAccountAgeMinutes: z.number().int().min(0).max(525_600).default(0),
  /** Only accounts that follow the channel may write. */
  followersOnly: z.boolean().default(false),
  /** Only accounts whose e-mail address is confirmed may write (on a site that sends mail). */
  verifiedEmailOnly: z.boolean().default(false),
  /** Links show as links; off: a message with a link is refused. */
  linksAllowed: z.boolean().default(true),
  /** Only emoji (and spaces): a quiet mode for moments that need it. */
  emoteOnly: z.boolean().default(false),
  /**
   * Words and patterns refused before delivery, one per entry, without regard to case: a word
   * matches on its own (`spam` not in `spammer`), a phrase likewise; a term with `*` matches one
   * word, `*` standing for anything in it (`free*coins` matches free-bit-coins).
   */
  bannedTerms: z
    .array(
      z
        .string()
        .trim()
        .min(1)
        .max(100)
        // `*` alone (or `a*`) would refuse nearly every message.
        .refine((term) => term.replace(/\*/g, '').length >= 2, 'a term needs at least 2 characters besides *'),
    )
    .max(200)
    .default([]),
})
export type ChatSettings = z.infer<typeof chatSettingsSchema>
export const DEFAULT_CHAT_SETTINGS: ChatSettings = chatSettingsSchema.parse({})

/** A message as every client gets it. */
export interface ChatMessage {
  id: string
  channel: string
  user: string
  text: string
  /** ISO time the server accepted it. */
  at: string
  /** What the author is in this channel: a badge beside the name. */
  badge?: 'owner' | 'moderator' | 'staff'
}

/** What a connection may do in its room, sent when it joins and when it changes. */
export interface ChatYou {
  /** Signed in as. */
  user?: string
  /** Why this connection cannot write now (absent: it can). */
  cannotWrite?: string
  /** Until when a time-out runs (ISO). */
  timedOutUntil?: string
  /** What it may do to others here. */
  permissions: ChatPermission[]
}

/** The first thing a connection gets: the room as it is. */
export interface ChatWelcome {
  channel: string
  history: ChatMessage[]
  settings: Pick<ChatSettings, 'slowModeSeconds' | 'linksAllowed' | 'emoteOnly'>
  you: ChatYou
}

export const chatModerationSchema = z.discriminatedUnion('action', [
  z.strictObject({action: z.literal('delete'), messageId: z.string().regex(/^[0-9a-f]{24}$/)}),
  z.strictObject({action: z.literal('timeout'), user: z.string().min(1).max(30), seconds: z.number().int().min(1).max(1_209_600)}),
  z.strictObject({action: z.literal('ban'), user: z.string().min(1).max(30)}),
  z.strictObject({action: z.literal('unban'), user: z.string().min(1).max(30)}),
])
export type ChatModeration = z.infer<typeof chatModerationSchema>

/** Every answer to a request (an acknowledgement). */
export type ChatAck<T = object> = ({ok: true} & T) | {ok: false; error: string}

/** Server → client. */
export interface ChatServerEvents {
  welcome: (welcome: ChatWelcome) => void
  message: (message: ChatMessage) => void
  /** Messages gone (a moderator deleted them, or banned their author). */
  deleted: (removal: {ids: string[]}) => void
  /** This connection's rights changed (timed out, banned, made a moderator). */
  you: (you: ChatYou) => void
  settings: (settings: ChatWelcome['settings']) => void
}

/** Client → server: each answers through its acknowledgement. */
export interface ChatClientEvents {
  send: (text: string, ack: (answer: ChatAck<{id: string}>) => void) => void
  moderate: (request: ChatModeration, ack: (answer: ChatAck) => void) => void
}

/** The handshake's auth: which room (the session cookie says who). A reconnecting client adds its recovery ids (pid, offset). */
export const chatHandshakeSchema = z.object({channel: z.string().min(1).max(63)})

/** A past broadcast's chat, for its replay: when each message came, from the broadcast's start. */
export interface ChatReplay {
  messages: (ChatMessage & {offsetSeconds: number})[]
}
