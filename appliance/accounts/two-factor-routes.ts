/**
 * Two-factor log-in on the web. After the right password, an account with it on is not logged in
 * yet: the session remembers who is halfway (for 5 minutes and 5 tries), and /login/2fa asks for
 * the app's code or a recovery code. Turning it on proves the app works (a code from the new
 * secret) and shows the recovery codes once; turning it off needs the password and a code.
 */
import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify'

import type {Logger} from '../platform/logger.js'
import {formText as text, sendPage as html, viewerOrLogIn, type FieldErrors, type PageContextOf} from '../web/html.js'
import {recoveryCodesPage, twoFactorLoginPage, twoFactorSetupPage} from './pages.js'
import {verifyPassword} from './passwords.js'
import {logIn, LOGIN_LIMIT} from './log-in.js'
import {hashRecoveryCode, type TwoFactor} from './two-factor.js'
import type {UserDoc, Users} from './users.js'

declare module 'fastify' {
  interface Session {
    /** Password right, second factor still to come. */
    pendingTwoFactor?: {userId: string; next?: string; at: number; tries: number}
    /** The secret being set up (sealed), until a code from it proves the app has it. */
    totpSetup?: string
  }
}

const PENDING_MS = 5 * 60_000
const PENDING_TRIES = 5

/** Called by the log-in form once the password was right, for an account with two-factor on. */
export async function startSecondFactor(request: FastifyRequest, userId: string, next: string | undefined): Promise<void> {
  await request.session.regenerate()
  request.session.pendingTwoFactor = {userId, at: Date.now(), tries: 0, ...(next === undefined ? {} : {next})}
  await request.session.save()
}

export interface TwoFactorRoutesOptions {
  users: Users
  twoFactor: TwoFactor
  pageContext: PageContextOf
  /** Shows the account page with field errors (it owns the forms this plugin answers). */
  showAccount: (request: FastifyRequest, reply: FastifyReply, status: number, extra: {errors?: FieldErrors}) => Promise<FastifyReply>
  siteTitle: () => Promise<string>
  log: Logger
}

export async function twoFactorRoutes(app: FastifyInstance, options: TwoFactorRoutesOptions): Promise<void> {
  const {users, twoFactor, pageContext, showAccount, siteTitle, log} = options

  /** A code from the app (once per time step) or a recovery code (once ever). */
  const secondFactor = async (user: UserDoc, code: string): Promise<'app' | 'recovery' | undefined> => {
    if (user.totp === undefined) return undefined
    const step = await twoFactor.check(twoFactor.open(user.totp.secret), code, user.totp.lastStep)
    if (step !== undefined) return (await users.useTotpStep(user._id, step)) ? 'app' : undefined
    if (/^\d{6}$/.test(code.trim())) return undefined
    return (await users.useRecoveryCode(user._id, hashRecoveryCode(code))) ? 'recovery' : undefined
  }

  const pending = (request: FastifyRequest): NonNullable<FastifyRequest['session']['pendingTwoFactor']> | undefined => {
    const state = request.session.pendingTwoFactor
    return state !== undefined && Date.now() - state.at < PENDING_MS && state.tries < PENDING_TRIES ? state : undefined
  }

  app.get('/login/2fa', async (request, reply) => {
    if (pending(request) === undefined) return reply.redirect('/login', 303)
    return html(reply, 200, twoFactorLoginPage(pageContext(request, reply, {form: true})))
  })

  app.post<{Body: Record<string, unknown>}>('/login/2fa', {config: {rateLimit: LOGIN_LIMIT}}, async (request, reply) => {
    const state = pending(request)
    if (state === undefined) return reply.redirect('/login', 303)
    const user = await users.byId(state.userId)
    const used = user === null || user.status !== 'active' ? undefined : await secondFactor(user, text(request.body?.code))
    if (used === undefined || user === null) {
      request.session.pendingTwoFactor = {...state, tries: state.tries + 1}
      log.info({userId: state.userId, ip: request.ip, tries: state.tries + 1}, 'second factor refused')
      // Out of tries: the password is asked again.
      if (state.tries + 1 >= PENDING_TRIES) return reply.redirect('/login', 303)
      return html(reply, 401, twoFactorLoginPage(pageContext(request, reply, {form: true}), {message: 'That code is not right (or was used already). Try the newest code from the app.'}))
    }
    await logIn(request, state.userId)
    log.info({user: user.username, with: used}, 'logged in with a second factor')
    return reply.redirect(state.next ?? (used === 'recovery' ? '/account?recovery-used=1' : '/account'), 303)
  })

  app.get('/account/2fa/setup', async (request, reply) => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return reply
    const user = await users.byId(viewer.id)
    if (user === null) return reply.redirect('/login', 303)
    if (user.totp !== undefined) return reply.redirect('/account', 303)
    request.session.totpSetup ??= twoFactor.seal(twoFactor.newSecret())
    const secret = twoFactor.open(request.session.totpSetup)
    const {qrSvg} = await twoFactor.enrolment(secret, await siteTitle(), user.username)
    return html(reply, 200, twoFactorSetupPage(pageContext(request, reply, {form: true}), {qrSvg, secret}))
  })

  app.post<{Body: Record<string, unknown>}>('/account/2fa/enable', {config: {rateLimit: LOGIN_LIMIT}}, async (request, reply) => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return reply
    const user = await users.byId(viewer.id)
    const sealed = request.session.totpSetup
    if (user === null || user.totp !== undefined || sealed === undefined) return reply.redirect('/account', 303)
    const secret = twoFactor.open(sealed)
    const step = await twoFactor.check(secret, text(request.body?.code))
    if (step === undefined) {
      const {qrSvg} = await twoFactor.enrolment(secret, await siteTitle(), user.username)
      return html(reply, 400, twoFactorSetupPage(pageContext(request, reply, {form: true}), {qrSvg, secret, errors: {code: 'That code is not right: enter the 6 digits the app shows now (its clock must be right).'}}))
    }
    const {codes, hashes} = twoFactor.recoveryCodes()
    await users.enableTotp(user._id, {secret: sealed, enabledAt: new Date(), lastStep: step, recoveryHashes: hashes})
    delete request.session.totpSetup
    log.info({user: user.username}, 'two-factor log-in turned on')
    return html(reply, 200, recoveryCodesPage(pageContext(request, reply), {codes, first: true}))
  })

  app.post<{Body: Record<string, unknown>}>('/account/2fa/recovery', {config: {rateLimit: LOGIN_LIMIT}}, async (request, reply) => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return reply
    const user = await users.byId(viewer.id)
    if (user?.totp === undefined) return reply.redirect('/account', 303)
    const step = await twoFactor.check(twoFactor.open(user.totp.secret), text(request.body?.recoveryTotp), user.totp.lastStep)
    if (step === undefined || !(await users.useTotpStep(user._id, step))) {
      return showAccount(request, reply, 400, {errors: {recoveryTotp: 'That code is not right (or was used already): enter the newest code from the app.'}})
    }
    const {codes, hashes} = twoFactor.recoveryCodes()
    await users.setRecoveryCodes(user._id, hashes)
    return html(reply, 200, recoveryCodesPage(pageContext(request, reply), {codes, first: false}))
  })

  app.post<{Body: Record<string, unknown>}>('/account/2fa/disable', {config: {rateLimit: LOGIN_LIMIT}}, async (request, reply) => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return reply
    const user = await users.byId(viewer.id)
    if (user?.totp === undefined) return reply.redirect('/account', 303)
    if (!(await verifyPassword(text(request.body?.disablePassword), user.passwordHash))) {
      return showAccount(request, reply, 400, {errors: {disablePassword: 'That is not your current password.'}})
    }
    if ((await secondFactor(user, text(request.body?.disableCode))) === undefined) {
      return showAccount(request, reply, 400, {errors: {disableCode: 'That code is not right (or was used already).'}})
    }
    await users.disableTotp(user._id)
    log.info({user: user.username}, 'two-factor log-in turned off')
    return reply.redirect('/account?2fa-off=1', 303)
  })
}
