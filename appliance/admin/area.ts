/**
 * The admin area (/admin), for accounts whose role is admin: find accounts, set their role,
 * suspend, ban or reactivate them, see who is live, change the site's settings, and read the
 * audit log, where every admin action is written with who did it and when. Reports and channels
 * (moderators too) are moderation-area.ts's; nodes and health nodes-page.ts's.
 */
import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify'
import type {Redis} from 'ioredis'
import {ObjectId, type Db} from 'mongodb'

import {roles, Users, type AccountStatus, type Role, type Viewer} from '../accounts/users.js'
import {Channels} from '../channels/channels.js'
import type {LiveStates} from '../channels/stream-state.js'
import type {Logger} from '../platform/logger.js'
import {errorPage, formText as text, notFoundPage, sendPage as html, type PageContextOf} from '../web/html.js'
import {CHANNELS_PER_ACCOUNT_MAX, registrationModes, RULES_MAX, SITE_TITLE_MAX, type RegistrationMode, type SiteSettings} from '../site/settings.js'
import {adminPage, auditPage, settingsPage} from './area-pages.js'
import {AuditLog} from './audit.js'
import {staffOnly, takeNotice} from './guard.js'
import {setAccountStatus} from './moderation.js'

declare module 'fastify' {
  interface Session {
    /** What the admin's last action did, until the admin page shows it (once). */
    adminNotice?: string
  }
}

/** What an admin may set an account to (pending is where sign-up puts it, not an admin). */
const settableStatuses = ['active', 'suspended', 'banned'] as const satisfies readonly AccountStatus[]

export interface AdminAreaOptions {
  db: Db
  redis: Redis
  streamKeySecret: string
  liveStates: LiveStates
  settings: SiteSettings
  pageContext: PageContextOf
  log: Logger
}

export async function adminArea(app: FastifyInstance, options: AdminAreaOptions): Promise<void> {
  const {db, redis, liveStates, settings, pageContext, log} = options
  const users = new Users(db)
  const channels = new Channels(db)
  const audit = new AuditLog(db)
  void audit.ensureIndexes().catch((error: Error) => log.warn({err: error.message}, 'audit index not made yet'))

  /** The admin looking, or an answer already sent (log in first; others get 403). */
  const adminOf = staffOnly(pageContext, 'admin')

  const record = (admin: Viewer, action: string, target: string, details?: Record<string, string | number | boolean>): Promise<void> =>
    audit.record({actor: admin.username, actorId: admin.id, action, target, ...(details === undefined ? {} : {details})})

  /** Back to the admin page, which says once what was done (the words travel in the session, not the URL: nobody can put words there). */
  const done = (request: FastifyRequest, reply: FastifyReply, notice: string): FastifyReply => {
    request.session.adminNotice = notice
    return reply.redirect('/admin', 303)
  }

  app.get<{Querystring: {q?: string}}>('/admin', async (request, reply) => {
    const admin = adminOf(request, reply)
    if (admin === undefined) return reply
    const query = text(request.query.q).slice(0, 100)
    const notice = takeNotice(request)
    const found = await users.search(query)
    const live = liveStates.all().slice(0, 100)
    const owners = new Map((await channels.collection.find({name: {$in: live.map((l) => l.channel)}}).toArray()).map((c) => [c.name, c.ownerId]))
    const ownerIds = [...new Set([...owners.values()].filter((id): id is string => id !== undefined && ObjectId.isValid(id)))]
    const ownerNames = new Map(
      (await users.collection.find({_id: {$in: ownerIds.map((id) => new ObjectId(id))}}, {projection: {username: 1}}).toArray()).map((u) => [u._id.toHexString(), u.username]),
    )
    return html(
      reply,
      200,
      adminPage(pageContext(request, reply, {form: true}), {
        query,
        selfId: admin.id,
        users: found.map((u) => ({id: u._id.toHexString(), username: u.username, email: u.email, role: u.role, status: u.status, createdAt: u.createdAt, twoFactor: u.totp !== undefined})),
        live: live.map((l) => {
          const owner = ownerNames.get(owners.get(l.channel) ?? '')
          return {channel: l.channel, since: l.since, ...(owner === undefined ? {} : {owner})}
        }),
        ...(notice === undefined ? {} : {notice}),
      }),
    )
  })

  const target = async (request: FastifyRequest<{Params: {id: string}}>, reply: FastifyReply, admin: Viewer) => {
    const user = await users.byId(request.params.id)
    if (user === null) {
      void html(reply, 404, notFoundPage(pageContext(request, reply), {what: 'There is no such account.'}))
      return undefined
    }
    if (user._id.toHexString() === admin.id) {
      void html(reply, 400, errorPage(pageContext(request, reply), {title: 'Not on yourself', message: 'An admin cannot change their own role or status here; ask another admin.', back: '/admin'}))
      return undefined
    }
    return user
  }

  app.post<{Params: {id: string}; Body: Record<string, unknown>}>('/admin/users/:id/status', async (request, reply) => {
    const admin = adminOf(request, reply)
    if (admin === undefined) return reply
    const status = settableStatuses.find((s) => s === text(request.body?.status))
    if (status === undefined) return html(reply, 400, errorPage(pageContext(request, reply), {title: 'That did not work', message: `Status must be one of ${settableStatuses.join(', ')}.`, back: '/admin'}))
    const user = await target(request, reply, admin)
    if (user === undefined) return reply
    const change = await setAccountStatus({db, redis, streamKeySecret: options.streamKeySecret}, user, status)
    const action = status === 'active' ? (user.status === 'pending' ? 'approve' : 'reactivate') : status === 'suspended' ? 'suspend' : 'ban'
    await record(admin, `user.${action}`, user.username, {
      sessionsEnded: change.sessionsEnded,
      keysRevoked: change.keysRevoked,
      ...(change.broadcastsEnded.length === 0 ? {} : {broadcastsEnded: change.broadcastsEnded.join(' ')}),
    })
    log.info({admin: admin.username, user: user.username, status, ...change}, 'account status changed')
    return done(request, reply, action === 'approve' ? `${user.username} is approved and can log in.` : `${user.username} is ${status === 'active' ? 'active again' : status}.`)
  })

  app.post<{Params: {id: string}; Body: Record<string, unknown>}>('/admin/users/:id/role', async (request, reply) => {
    const admin = adminOf(request, reply)
    if (admin === undefined) return reply
    const role = text(request.body?.role) as Role
    if (!roles.includes(role)) return html(reply, 400, errorPage(pageContext(request, reply), {title: 'That did not work', message: `Role must be one of ${roles.join(', ')}.`, back: '/admin'}))
    const user = await target(request, reply, admin)
    if (user === undefined) return reply
    await users.setRole(user._id, role)
    await record(admin, 'user.role', user.username, {from: user.role, to: role})
    return done(request, reply, `${user.username} is ${role === 'user' ? 'a user' : `a ${role}`} now.`)
  })

  app.post<{Params: {id: string}}>('/admin/users/:id/2fa-reset', async (request, reply) => {
    const admin = adminOf(request, reply)
    if (admin === undefined) return reply
    const user = await target(request, reply, admin)
    if (user === undefined) return reply
    if (await users.disableTotp(user._id)) await record(admin, 'user.reset-2fa', user.username)
    return done(request, reply, `Two-factor log-in of ${user.username} is off: their password alone logs them in now.`)
  })

  const showSettings = async (request: FastifyRequest, reply: FastifyReply, extra: {status?: number; error?: string; notice?: string; invite?: string} = {}): Promise<FastifyReply> =>
    html(reply, extra.status ?? 200, settingsPage(pageContext(request, reply, {form: true}), {settings: await settings.get(), unusedInvites: await settings.unusedInvites(), ...extra}))

  app.get<{Querystring: {saved?: string}}>('/admin/settings', async (request, reply) => {
    const admin = adminOf(request, reply)
    if (admin === undefined) return reply
    return showSettings(request, reply, request.query.saved === undefined ? {} : {notice: 'Saved. Every web replica shows it within seconds.'})
  })

  app.post<{Body: Record<string, unknown>}>('/admin/settings', async (request, reply) => {
    const admin = adminOf(request, reply)
    if (admin === undefined) return reply
    const title = text(request.body?.title).trim()
    const rules = text(request.body?.rules)
    const registration = text(request.body?.registration) as RegistrationMode
    const before = await settings.get()
    // Not sent (an older form): kept as it is.
    const sentLimit = text(request.body?.channelsPerAccount).trim()
    const channelsPerAccount = sentLimit === '' ? before.channelsPerAccount : Number(sentLimit)
    const error = !registrationModes.includes(registration)
      ? `Sign-up must be one of ${registrationModes.join(', ')}.`
      : !Number.isInteger(channelsPerAccount) || channelsPerAccount < 1 || channelsPerAccount > CHANNELS_PER_ACCOUNT_MAX
        ? `Channels per account must be a whole number from 1 to ${CHANNELS_PER_ACCOUNT_MAX}.`
      : title.length > SITE_TITLE_MAX
        ? `Keep the title to ${SITE_TITLE_MAX} characters.`
        : rules.length > RULES_MAX
          ? `Keep the rules to ${RULES_MAX} characters.`
          : undefined
    if (error !== undefined) return showSettings(request, reply, {status: 400, error})
    await settings.update({title, registration, rules, channelsPerAccount})
    await record(admin, 'site.settings', 'site', {registration, channelsPerAccount, ...(title === before.title ? {} : {title})})
    return reply.redirect('/admin/settings?saved=1', 303)
  })

  app.post('/admin/invites', async (request, reply) => {
    const admin = adminOf(request, reply)
    if (admin === undefined) return reply
    const invite = await settings.createInvite(admin.username)
    await record(admin, 'invite.create', 'site')
    return showSettings(request, reply, {invite})
  })

  app.get('/admin/audit', async (request, reply) => {
    const admin = adminOf(request, reply)
    if (admin === undefined) return reply
    return html(reply, 200, auditPage(pageContext(request, reply), await audit.latest(200)))
  })
}
