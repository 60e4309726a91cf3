/**
 * Accounts on the web: sign up, log in, log out, log out everywhere, change password. Forms post
 * and redirect (a reload never posts twice); a refused form comes back with its values (not the
 * password) and a message beside the field to fix. Log-in and sign-up are rate limited per address
 * across every web instance; a wrong password and an unknown name get the same answer.
 */
import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify'

import type {Logger} from '../platform/logger.js'
import {formText as text, sendPage as html, viewerOrLogIn, type FieldErrors, type PageContextOf} from '../web/html.js'
import type {AccountRemoval} from '../admin/delete-account.js'
import {accountDeletedPage, accountPage, loginPage, signupPage} from './pages.js'
import {logIn, LOGIN_LIMIT, RESEND_LIMIT, SIGNUP_LIMIT} from './log-in.js'
import type {RedisSessionStore} from './sessions.js'
import {AccountInputError, emailProblem, viewerOf, type UserDoc, type Users, type Viewer} from './users.js'
import type {SiteSettings} from '../site/settings.js'
import {passwordProblem, verifyPassword} from './passwords.js'
import type {AccountMail} from './account-mail.js'
import type {TwoFactor} from './two-factor.js'
import {startSecondFactor, twoFactorRoutes} from './two-factor-routes.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The logged-in account, when there is one (loaded before every handler). */
    viewer?: Viewer
  }
}

export interface AccountRoutesOptions {
  users: Users
  sessions: RedisSessionStore
  settings: SiteSettings
  mail: AccountMail
  twoFactor: TwoFactor
  /** Deletes an account with its channels, broadcasts and tokens (delete-account.ts). */
  deleteAccount: (user: UserDoc) => Promise<AccountRemoval>
  pageContext: PageContextOf
  log: Logger
}


/** Only a path on this site (no //host, no scheme): where a log-in may send the browser next. */
export const safeNext = (next: unknown): string | undefined => {
  const value = text(next)
  return /^\/(?![/\\])[\x21-\x7e]{0,500}$/.test(value) ? value : undefined
}

/**
 * Loads the logged-in account before every handler. An account that is gone, suspended or banned
 * ends the session there and then; MongoDB away leaves the visitor anonymous for that request.
 */
export function loadViewer(app: FastifyInstance, users: Users, log: Logger): void {
  app.decorateRequest('viewer', undefined)
  app.addHook('preHandler', async (request) => {
    const userId = request.session?.userId
    if (userId === undefined) return
    try {
      const user = await users.byId(userId)
      if (user === null || user.status !== 'active') {
        await request.session.destroy()
        return
      }
      request.viewer = viewerOf(user)
    } catch (error) {
      log.warn({err: (error as Error).message}, 'could not load the logged-in account: MongoDB unavailable')
    }
  })
}


export async function accountRoutes(app: FastifyInstance, options: AccountRoutesOptions): Promise<void> {
  const {users, sessions, settings, mail, twoFactor, pageContext, log} = options
  const CLOSED = 'Sign-ups are closed on this site. An admin can make you an account.'

  app.get('/signup', async (request, reply) => {
    if (request.viewer) return reply.redirect('/account')
    const {registration, rules} = await settings.get()
    if (registration === 'closed') return html(reply, 200, signupPage(pageContext(request, reply), {closed: CLOSED}))
    return html(reply, 200, signupPage(pageContext(request, reply, {form: true}), {mode: registration, rules}))
  })

  app.post<{Body: Record<string, unknown>}>('/signup', {config: {rateLimit: SIGNUP_LIMIT}}, async (request, reply) => {
    const {registration, rules} = await settings.get()
    if (registration === 'closed') return html(reply, 403, signupPage(pageContext(request, reply), {closed: CLOSED}))
    const values = {username: text(request.body?.username).trim(), email: text(request.body?.email).trim(), invite: text(request.body?.invite).trim()}
    const refuse = (status: number, errors: FieldErrors): FastifyReply =>
      html(reply, status, signupPage(pageContext(request, reply, {form: true}), {mode: registration, rules, values, errors, message: 'Check the form: one field needs a change.'}))
    const badInvite = {invite: 'This invite code is not valid or was used already: ask the admin who invited you for another.'}
    if (registration === 'invite' && !(await settings.inviteValid(values.invite))) return refuse(400, badInvite)
    let user
    try {
      user = await users.create({username: values.username, email: values.email, password: text(request.body?.password), status: registration === 'approval' ? 'pending' : 'active'})
    } catch (error) {
      if (!(error instanceof AccountInputError)) throw error
      return refuse(error.conflict ? 409 : 400, {[error.field]: error.message})
    }
    // Another sign-up may have used the same code meanwhile: the code decides, atomically.
    if (registration === 'invite' && !(await settings.useInvite(values.invite, user.username))) {
      await users.remove(user._id)
      return refuse(400, badInvite)
    }
    log.info({user: user.username, status: user.status}, 'account created')
    await mail.sendVerification(user)
    if (user.status === 'pending') return reply.redirect('/login?pending=1', 303)
    await logIn(request, user._id.toHexString())
    return reply.redirect('/account?welcome=1', 303)
  })

  const loginNotices: Record<string, string> = {
    pending: 'Your account is made. An admin approves new accounts here: you can log in once yours is approved.',
    reset: 'Your password was changed, and every session of the account logged out: log in with the new one.',
    verified: 'Your e-mail address is confirmed. Log in to carry on.',
    'email-changed': 'Your e-mail address was changed. Log in to carry on.',
  }
  app.get<{Querystring: Record<string, string | undefined>}>('/login', async (request, reply) => {
    const next = safeNext(request.query.next)
    if (request.viewer) return reply.redirect(next ?? '/account')
    const notice = request.query.out === 'everywhere' ? 'You are logged out on every device.' : Object.entries(loginNotices).find(([flag]) => request.query[flag] !== undefined)?.[1]
    return html(reply, 200, loginPage(pageContext(request, reply, {form: true}), {next, notice}))
  })

  app.post<{Body: Record<string, unknown>}>('/login', {config: {rateLimit: LOGIN_LIMIT}}, async (request, reply) => {
    const login = text(request.body?.login).trim()
    const next = safeNext(request.body?.next)
    const user = login === '' ? null : await users.authenticate(login, text(request.body?.password))
    if (user?.status === 'pending') {
      // Only after the right password: the account's owner learns why.
      return html(reply, 401, loginPage(pageContext(request, reply, {form: true}), {login, next, message: 'Your account waits for an admin\'s approval; try again once it is approved.'}))
    }
    if (user === null || user.status !== 'active') {
      log.info({login: login.slice(0, 80), ip: request.ip}, 'log-in refused')
      // The same answer for an unknown name, a wrong password and a closed account.
      return html(reply, 401, loginPage(pageContext(request, reply, {form: true}), {login, next, message: 'Wrong username or password, or this account cannot log in.'}))
    }
    if (user.totp !== undefined) {
      await startSecondFactor(request, user._id.toHexString(), next)
      return reply.redirect('/login/2fa', 303)
    }
    await logIn(request, user._id.toHexString())
    return reply.redirect(next ?? '/account', 303)
  })

  app.post('/logout', async (request, reply) => {
    await request.session.destroy()
    return reply.redirect('/', 303)
  })

  const showAccount = async (request: FastifyRequest, reply: FastifyReply, status: number, extra: {errors?: FieldErrors; notice?: string}): Promise<FastifyReply> => {
    const viewer = request.viewer!
    const user = await users.byId(viewer.id)
    if (user === null) return reply.redirect('/login', 303)
    const view = {
      username: user.username,
      email: user.email,
      ...(mail.enabled ? {emailVerified: user.emailVerifiedAt !== undefined} : {}),
      role: user.role,
      createdAt: user.createdAt,
      sessions: await sessions.count(viewer.id),
      twoFactor: user.totp === undefined ? {enabled: false as const} : {enabled: true as const, since: user.totp.enabledAt, codesLeft: user.totp.recoveryHashes.length},
    }
    return html(reply, status, accountPage(pageContext(request, reply, {form: true}), view, extra))
  }

  const accountNotices: Record<string, string> = {
    welcome: mail.enabled ? 'Welcome! Your account is ready. We mailed you a link to confirm your address.' : 'Welcome! Your account is ready.',
    changed: 'Your password was changed; your other sessions were logged out.',
    verified: 'Your e-mail address is confirmed.',
    'email-sent': 'We mailed a link to your new address: it becomes your address when you follow it.',
    'email-changed': 'Your e-mail address was changed.',
    resent: 'We mailed you a new confirmation link. Nothing there? Look in the spam folder.',
    '2fa-off': 'Two-factor log-in is off: your password alone logs you in.',
    'recovery-used': 'You logged in with a recovery code, which now no longer works. Running low? Make new ones below.',
  }
  app.get<{Querystring: Record<string, string | undefined>}>('/account', async (request, reply) => {
    if (viewerOrLogIn(request, reply) === undefined) return reply
    const notice = Object.entries(accountNotices).find(([flag]) => request.query[flag] !== undefined)?.[1]
    return showAccount(request, reply, 200, {notice})
  })

  app.post<{Body: Record<string, unknown>}>('/account/email', {config: {rateLimit: LOGIN_LIMIT}}, async (request, reply) => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return reply
    const user = await users.byId(viewer.id)
    if (user === null) return reply.redirect('/login', 303)
    const email = text(request.body?.email).trim()
    const problem = emailProblem(email) ?? (email.toLowerCase() === user.emailKey ? 'That is your address already.' : undefined)
    if (problem !== undefined) return showAccount(request, reply, 400, {errors: {email: problem}})
    if (!(await verifyPassword(text(request.body?.emailPassword), user.passwordHash))) {
      return showAccount(request, reply, 400, {errors: {emailPassword: 'That is not your current password.'}})
    }
    if (mail.enabled) {
      // The address changes once its owner follows the link sent to it.
      await mail.sendEmailChange(user, email)
      return reply.redirect('/account?email-sent=1', 303)
    }
    try {
      await users.setEmail(user._id, email, false)
    } catch (error) {
      if (!(error instanceof AccountInputError)) throw error
      return showAccount(request, reply, error.conflict ? 409 : 400, {errors: {email: error.message}})
    }
    log.info({user: user.username}, 'e-mail address changed')
    return reply.redirect('/account?email-changed=1', 303)
  })

  await app.register(twoFactorRoutes, {users, twoFactor, pageContext, showAccount, siteTitle: async () => (await settings.get()).title, log})

  app.post<{Body: Record<string, unknown>}>('/account/delete', {config: {rateLimit: LOGIN_LIMIT}}, async (request, reply) => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return reply
    const user = await users.byId(viewer.id)
    if (user === null) return reply.redirect('/login', 303)
    if (text(request.body?.confirmUsername).trim() !== user.username) {
      return showAccount(request, reply, 400, {errors: {confirmUsername: `Type your username, ${user.username}, to confirm.`}})
    }
    if (!(await verifyPassword(text(request.body?.deletePassword), user.passwordHash))) {
      return showAccount(request, reply, 400, {errors: {deletePassword: 'That is not your current password.'}})
    }
    const removal = await options.deleteAccount(user)
    await request.session.destroy()
    // The page that says so is a visitor's: no account, no session.
    request.viewer = undefined
    log.info({user: user.username, ...removal}, 'account deleted by its owner')
    return html(reply, 200, accountDeletedPage(pageContext(request, reply), removal))
  })

  app.post('/account/email/resend', {config: {rateLimit: RESEND_LIMIT}}, async (request, reply) => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return reply
    const user = await users.byId(viewer.id)
    if (user === null) return reply.redirect('/login', 303)
    if (user.emailVerifiedAt !== undefined || !mail.enabled) return reply.redirect('/account', 303)
    await mail.sendVerification(user)
    return reply.redirect('/account?resent=1', 303)
  })

  app.post<{Body: Record<string, unknown>}>('/account/password', {config: {rateLimit: LOGIN_LIMIT}}, async (request, reply) => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return reply
    const user = await users.byId(viewer.id)
    if (user === null) return reply.redirect('/login', 303)
    if (!(await verifyPassword(text(request.body?.current), user.passwordHash))) {
      return showAccount(request, reply, 400, {errors: {current: 'That is not your current password.'}})
    }
    const password = text(request.body?.password)
    const problem = passwordProblem(password, user.username)
    if (problem !== undefined) return showAccount(request, reply, 400, {errors: {password: problem}})
    await users.setPassword(user._id, password, user.username)
    // Whoever knew the old password is logged out everywhere; this browser stays, under a new session id.
    await sessions.endAll(viewer.id, request.session.sessionId)
    await logIn(request, viewer.id)
    log.info({user: user.username}, 'password changed; other sessions ended')
    return reply.redirect('/account?changed=1', 303)
  })

  app.post('/account/logout-everywhere', async (request, reply) => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return reply
    const ended = await sessions.endAll(viewer.id)
    await request.session.destroy()
    log.info({user: viewer.username, sessions: ended}, 'logged out everywhere')
    return reply.redirect('/login?out=everywhere', 303)
  })
}
