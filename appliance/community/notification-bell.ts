/**
 * The bell in the header: its unread count on every page of a logged-in account, kept live over
 * the chat's Socket.IO server (namespace /notifications, the session cookie says whose). `notify`
 * may run on a worker, which has no Socket.IO server: it publishes the users whose count changed
 * on Redis (BELL_CHANNEL); every web instance hears it and sends the new count to those of them
 * connected to it. Only the instance holding a user's socket counts, so a went-live to 100,000
 * followers costs counts only for those online.
 */
import type {FastifyInstance} from 'fastify'
import {Redis} from 'ioredis'
import type {Db} from 'mongodb'
import type {Server, Socket} from 'socket.io'
import {z} from 'zod'

import type {RedisSessionStore} from '../accounts/sessions.js'
import {socketSession} from '../accounts/socket-session.js'
import {CHAT_SOCKET_PATH} from '../contract/index.js'
import type {Logger} from '../platform/logger.js'
import {safeJson} from '../platform/json.js'
import {reconnectDelay, type RedisEndpoint} from '../platform/redis.js'
import {asset} from '../web/assets.js'
import {BELL_CHANNEL, Notifications, UNREAD_SHOWN_MAX} from './notifications.js'

export const BELL_NAMESPACE = '/notifications'
const roomOf = (userId: string): string => `bell:${userId}`
const bellMessageSchema = z.object({userIds: z.array(z.string()).max(10_000)})

declare module 'fastify' {
  interface FastifyRequest {
    /** The viewer's unread notifications, counted for pages (the header's bell). */
    unreadNotifications?: number
  }
}

/**
 * Counts the viewer's unread notifications for each page a browser loads (Accept: text/html),
 * after the viewer is known. A count that fails leaves the bell without a number; the script
 * gets it on connecting.
 */
export function loadUnreadCount(app: FastifyInstance, db: Db, log: Logger): void {
  const notifications = new Notifications(db)
  app.decorateRequest('unreadNotifications', undefined)
  app.addHook('preHandler', async (request) => {
    if (request.viewer === undefined || request.method !== 'GET' || request.headers.accept?.includes('text/html') !== true) return
    try {
      request.unreadNotifications = await notifications.unreadCount(request.viewer.id)
    } catch (error) {
      log.debug({err: (error as Error).message}, 'unread notifications not counted')
    }
  })
}

export interface BellServerOptions {
  /** The web's Socket.IO server (chat's), across instances through its Redis adapter. */
  io: Server
  app: FastifyInstance
  db: Db
  sessions: RedisSessionStore
  sessionSecret: string
  sessionCookie: string
  redisEndpoint: RedisEndpoint
  log: Logger
}

/** The /notifications namespace and the Redis subscription that feeds it. */
export function startBells(options: BellServerOptions): {close(): Promise<void>} {
  const {log} = options
  const notifications = new Notifications(options.db)
  const nsp = options.io.of(BELL_NAMESPACE)

  nsp.use(socketSession({...options, loggedOut: 'Log in to get notifications.', unavailable: 'Notifications are unavailable for a moment.'}))

  const sendCount = async (target: Socket | string): Promise<void> => {
    const userId = typeof target === 'string' ? target : (target.data as {userId: string}).userId
    const count = await notifications.unreadCount(userId)
    if (typeof target === 'string') nsp.local.to(roomOf(userId)).emit('unread', count)
    else target.emit('unread', count)
  }

  nsp.on('connection', (socket) => {
    const {userId} = socket.data as {userId: string}
    void socket.join(roomOf(userId))
    // The page may be older than the last change (a tab restored, a slow connect): the count now.
    sendCount(socket).catch((error: unknown) => log.debug({err: (error as Error).message}, 'bell: count not sent'))
  })

  // Subscribed connections take no other command: one of its own, waiting for Redis when it is away.
  const subscriber = new Redis({...options.redisEndpoint, connectionName: 'bells', retryStrategy: reconnectDelay, maxRetriesPerRequest: null})
  subscriber.on('error', (error: Error) => log.debug({err: error.message}, 'bell redis error'))
  subscriber.subscribe(BELL_CHANNEL).catch((error: unknown) => log.warn({err: (error as Error).message}, 'bell: not subscribed; bells update on the next page'))
  subscriber.on('message', (_channel, message) => {
    const parsed = bellMessageSchema.safeParse(safeJson(message))
    if (!parsed.success) return
    // Those connected here (this instance's own rooms); the other instances serve theirs.
    const here = parsed.data.userIds.filter((id) => nsp.adapter.rooms.has(roomOf(id)))
    for (const userId of here) sendCount(userId).catch((error: unknown) => log.debug({err: (error as Error).message}, 'bell: count not sent'))
  })

  return {
    close: async () => {
      subscriber.disconnect()
      nsp.disconnectSockets(true)
    },
  }
}

/** What the bell says to a screen reader, and shows. */
export const unreadLabel = (count: number): string => (count === 0 ? 'Notifications, none unread' : `Notifications, ${count > UNREAD_SHOWN_MAX ? `${UNREAD_SHOWN_MAX}+` : count} unread`)

/** The bell's script (an asset: no inline script): connects and keeps the count as the server sends it. */
export const bellJs = asset(
  '/assets/bell.js',
  'text/javascript; charset=utf-8',
  `(() => {
  const bell = document.getElementById('bell');
  if (!bell || typeof io !== 'function') return;
  const count = bell.querySelector('.bell-count');
  const status = document.getElementById('bell-status');
  const MAX = ${UNREAD_SHOWN_MAX};
  // Unknown (not counted with the page): the first count is shown, not announced.
  let last = bell.dataset.unread === '' ? null : Number(bell.dataset.unread);
  function show(n) {
    const shown = n > MAX ? MAX + '+' : String(n);
    count.textContent = n > 0 ? shown : '';
    count.hidden = n === 0;
    bell.setAttribute('aria-label', n === 0 ? 'Notifications, none unread' : 'Notifications, ' + shown + ' unread');
    bell.dataset.unread = String(n);
    // Said once by a screen reader when something new comes; not when they are read.
    if (status && last !== null && n > last) status.textContent = 'New notification: ' + shown + ' unread';
    last = n;
  }
  const socket = io('${BELL_NAMESPACE}', {path: '${CHAT_SOCKET_PATH}', transports: ['websocket']});
  socket.on('unread', (n) => { if (typeof n === 'number') show(n); });
  window.shingBell = {socket: socket};
})();
`,
)
