/** Starting a logged-in session, and the limits on the forms that lead to one. */
import type {FastifyRequest} from 'fastify'

import {SESSION_TTL_SECONDS} from './sessions.js'

/** Limits per client address, shared by every web instance (Redis). */
export const LOGIN_LIMIT = {max: 10, timeWindow: '1 minute'}
export const SIGNUP_LIMIT = {max: 20, timeWindow: '1 hour'}
export const RESEND_LIMIT = {max: 3, timeWindow: '1 hour'}
/** "Forgot your password" and the reset form: enough for typos, too few to flood a mailbox. */
export const FORGOT_LIMIT = {max: 5, timeWindow: '15 minutes'}

/** Starts a logged-in session under a new id (no session fixation). */
export async function logIn(request: FastifyRequest, userId: string): Promise<void> {
  await request.session.regenerate()
  request.session.cookie.maxAge = SESSION_TTL_SECONDS * 1000
  request.session.userId = userId
  request.session.loggedInAt = new Date().toISOString()
  await request.session.save()
}
