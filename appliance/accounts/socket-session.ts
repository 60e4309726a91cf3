/** Who a Socket.IO connection belongs to: its session cookie, as a namespace middleware. */
import {Signer} from '@fastify/cookie'
import type {FastifyInstance} from 'fastify'
import type {Socket} from 'socket.io'

import type {RedisSessionStore} from './sessions.js'

export interface SocketSessionOptions {
  app: FastifyInstance
  sessions: RedisSessionStore
  sessionSecret: string
  sessionCookie: string
  /** What a connection without a logged-in session is told, and one while sessions cannot be read. */
  loggedOut: string
  unavailable: string
}

/** Sets socket.data.userId from the session, or refuses the connection with a message for the person. */
export function socketSession(options: SocketSessionOptions): (socket: Socket, next: (error?: Error) => void) => void {
  const signer = new Signer(options.sessionSecret)
  return (socket, next) => {
    const raw = options.app.parseCookie(socket.request.headers.cookie ?? '')[options.sessionCookie]
    const unsigned = raw === undefined ? undefined : signer.unsign(raw)
    if (unsigned === undefined || !unsigned.valid || unsigned.value === null) return next(new Error(options.loggedOut))
    options.sessions.get(unsigned.value, (error, session) => {
      if (error !== null && error !== undefined) return next(new Error(options.unavailable))
      if (session?.userId === undefined) return next(new Error(options.loggedOut))
      ;(socket.data as {userId?: string}).userId = session.userId
      next()
    })
  }
}
