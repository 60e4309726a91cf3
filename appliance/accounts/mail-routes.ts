/**
 * Where account mail leads: "forgot your password", the reset form, and the links that confirm an
 * address. "Forgot" answers the same whether or not the account exists; a link that expired, was
 * used, or was made before the password changed is refused with what to do instead.
 */
import type {FastifyInstance} from 'fastify'
import {ObjectId} from 'mongodb'

import type {Logger} from '../platform/logger.js'
import {formText as text, sendPage as html, type PageContextOf} from '../web/html.js'
import type {AccountMail} from './account-mail.js'
import {FORGOT_LIMIT} from './log-in.js'
import {passwordStamp, type MailLinks} from './mail-links.js'
import {deadLinkPage, forgotPage, resetPage} from './pages.js'
import {passwordProblem} from './passwords.js'
import type {RedisSessionStore} from './sessions.js'
import {AccountInputError, type Users} from './users.js'

export interface AccountMailRoutesOptions {
  users: Users
  sessions: RedisSessionStore
  links: MailLinks
  mail: AccountMail
  pageContext: PageContextOf
  /** site.adminEmail: who becomes the first admin by confirming it. */
  adminEmail?: string
  /** Writes an account event to the admin area's audit log. */
  audit: (entry: {actor: string; action: string; target: string}) => Promise<void>
  log: Logger
}

export async function accountMailRoutes(app: FastifyInstance, options: AccountMailRoutesOptions): Promise<void> {
  const {users, sessions, links, mail, pageContext, log} = options
  const expired = {title: 'This link no longer works', next: {href: '/forgot', label: 'Ask for a new reset link'}}
  const resetDead = 'This reset link has expired, was used already, or your password changed since it was sent. Ask for a new one: it works for an hour.'

  app.get('/forgot', async (request, reply) => html(reply, 200, forgotPage(pageContext(request, reply, {form: true}), {mailEnabled: mail.enabled})))

  app.post<{Body: Record<string, unknown>}>('/forgot', {config: {rateLimit: FORGOT_LIMIT}}, async (request, reply) => {
    const login = text(request.body?.login).trim().slice(0, 254)
    if (!mail.enabled) return html(reply, 200, forgotPage(pageContext(request, reply, {form: true}), {mailEnabled: false}))
    const user = login === '' ? null : await users.byLogin(login)
    // Only an account that could log in gets the mail; the answer is the same either way.
    if (user !== null && user.status === 'active') {
      await mail.sendReset(user)
      log.info({user: user.username}, 'password reset link mailed')
    }
    return html(reply, 200, forgotPage(pageContext(request, reply, {form: true}), {mailEnabled: true, login, sent: true}))
  })

  /** The account a reset link is for, if the link still holds (its password unchanged since). */
  const resetTarget = async (token: string): Promise<Awaited<ReturnType<Users['byId']>>> => {
    const record = await links.peek('reset', token)
    if (record === undefined) return null
    const user = await users.byId(record.userId)
    return user !== null && user.status === 'active' && passwordStamp(user.passwordHash) === record.stamp ? user : null
  }

  app.get<{Querystring: {token?: string}}>('/reset', async (request, reply) => {
    const token = text(request.query.token)
    const user = await resetTarget(token)
    if (user === null) return html(reply, 400, deadLinkPage(pageContext(request, reply), {...expired, message: resetDead}))
    return html(reply, 200, resetPage(pageContext(request, reply, {form: true}), {token, username: user.username}))
  })

  app.post<{Body: Record<string, unknown>}>('/reset', {config: {rateLimit: FORGOT_LIMIT}}, async (request, reply) => {
    const token = text(request.body?.token)
    const user = await resetTarget(token)
    if (user === null) return html(reply, 400, deadLinkPage(pageContext(request, reply), {...expired, message: resetDead}))
    const password = text(request.body?.password)
    const problem = passwordProblem(password, user.username)
    // A password that will not do leaves the link as it was: the form comes back.
    if (problem !== undefined) return html(reply, 400, resetPage(pageContext(request, reply, {form: true}), {token, username: user.username, errors: {password: problem}}))
    // The link is used up here; of two tabs posting at once, only one gets it.
    if ((await links.take('reset', token)) === undefined) return html(reply, 400, deadLinkPage(pageContext(request, reply), {...expired, message: resetDead}))
    await users.setPassword(user._id, password, user.username)
    // Reading the mail proves the address as well.
    await users.markEmailVerified(user._id, user.email)
    const ended = await sessions.endAll(user._id.toHexString())
    log.info({user: user.username, sessions: ended}, 'password reset by mailed link; sessions ended')
    return reply.redirect('/login?reset=1', 303)
  })

  app.get<{Querystring: {token?: string}}>('/verify-email', async (request, reply) => {
    const record = await links.take('verify', text(request.query.token))
    const confirmed = record !== undefined && ObjectId.isValid(record.userId) && (await users.markEmailVerified(new ObjectId(record.userId), record.email))
    // A mail scanner may have followed the link first: the address is confirmed all the same.
    if (!confirmed && request.viewer?.emailVerified === true) return reply.redirect('/account?verified=1', 303)
    if (!confirmed) {
      return html(reply, 400, deadLinkPage(pageContext(request, reply), {
        title: 'This link no longer works',
        message: 'This confirmation link has expired, was used already, or is for an address the account no longer has. Log in and send yourself a new one from your account page.',
        next: {href: '/account', label: 'Go to your account'},
      }))
    }
    log.info({userId: record.userId}, 'e-mail address confirmed')
    // The site's admin address, confirmed by its owner: the first admin, if there is none yet.
    if (options.adminEmail !== undefined && record.email.toLowerCase() === options.adminEmail.toLowerCase()) {
      const user = await users.byId(record.userId)
      if (user !== null && (await users.promoteFirstAdmin(user._id))) {
        await options.audit({actor: user.username, action: 'user.first-admin', target: user.username})
        log.warn({user: user.username}, 'the account with site.adminEmail confirmed it: it is the first admin')
      }
    }
    return reply.redirect(request.viewer ? '/account?verified=1' : '/login?verified=1', 303)
  })

  app.get<{Querystring: {token?: string}}>('/verify-email/change', async (request, reply) => {
    const record = await links.take('email-change', text(request.query.token))
    const user = record === undefined ? null : await users.byId(record.userId)
    const dead = (message: string): ReturnType<typeof html> =>
      html(reply, 400, deadLinkPage(pageContext(request, reply), {title: 'This link no longer works', message, next: {href: '/account', label: 'Go to your account'}}))
    if (record === undefined || user === null) return dead('This link has expired or was used already. Ask for the change again from your account page.')
    try {
      await users.setEmail(user._id, record.email, true)
    } catch (error) {
      if (!(error instanceof AccountInputError)) throw error
      return dead(`The address cannot be used: ${error.message}`)
    }
    await mail.sendEmailChanged(user, record.email)
    log.info({user: user.username}, 'e-mail address changed')
    return reply.redirect(request.viewer ? '/account?email-changed=1' : '/login?email-changed=1', 303)
  })
}
