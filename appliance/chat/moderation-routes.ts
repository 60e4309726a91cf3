/**
 * A channel's chat moderation page, /c/<channel>/moderation: its owner and the site's staff set
 * the chat's settings and choose its moderators (each with the permissions the owner gives); a
 * moderator sees the banned accounts and the moderation log, and unbans or changes the settings
 * where allowed. Every change is logged with who made it and reaches the chat at once.
 */
import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify'

import type {Users, Viewer} from '../accounts/users.js'
import {CHANNEL_PATTERN, CHAT_PERMISSION_LABELS, chatPermissions, chatSettingsSchema, type ChatPermission, type ChatSettings} from '../contract/index.js'
import type {Logger} from '../platform/logger.js'
import {errorPage, formList, formText as text, notFoundPage, sendPage, viewerOrLogIn, type FieldErrors, type PageContextOf} from '../web/html.js'
import type {ChatFloodGate} from './flood.js'
import {chatModerationPage, SETTINGS_BOUNDS, settingsFormOf, type ChatModerationView, type ModerationSection, type SettingsForm} from './moderation-page.js'
import {standingOf, type ChatRoom, type ChatRooms} from './rooms.js'
import {formatMinutes, formatSeconds} from './rules.js'
import type {RunningChat} from './server.js'
import type {ModeratorDoc} from './store.js'

export interface ChatModerationRoutesOptions {
  rooms: ChatRooms
  users: Users
  /** Tells the chat (on this instance and through it every other) what changed. */
  chat: Pick<RunningChat, 'settingsChanged' | 'standingChanged'>
  /** An unban also ends a time-out. */
  timeouts: Pick<ChatFloodGate, 'endTimeout'>
  pageContext: PageContextOf
  log: Logger
}

type Params = {channel: string}
type ModeratorParams = Params & {userId: string}
type Body = Record<string, unknown>

const USER_ID = /^[0-9a-f]{24}$/

/** What was just done (the redirect's ?done=), said in the section it belongs to. */
const DONE = {
  settings: {section: 'settings', text: 'Saved: the chat follows these settings now.'},
  'moderator-added': {section: 'moderators', text: 'The moderator is added: they can act in the chat now.'},
  'moderator-saved': {section: 'moderators', text: 'Saved: the moderator can do what is ticked now.'},
  'moderator-removed': {section: 'moderators', text: 'The moderator is removed.'},
  'moderator-gone': {section: 'moderators', text: 'That account is not a moderator here (any more).'},
  unbanned: {section: 'bans', text: 'Unbanned: they can write in the chat again.'},
  'not-banned': {section: 'bans', text: 'That account was not banned (any more).'},
} satisfies Record<string, {section: ModerationSection; text: string}>
type Done = keyof typeof DONE
const isDone = (value: string | undefined): value is Done => value !== undefined && Object.hasOwn(DONE, value)

const permissionsOf = (value: unknown): ChatPermission[] => {
  const sent = new Set(formList(value))
  return chatPermissions.filter((p) => sent.has(p))
}
const permissionWords = (permissions: readonly ChatPermission[]): string => permissions.map((p) => CHAT_PERMISSION_LABELS[p].toLowerCase()).join(', ')

export const settingsFormFrom = (body: Body): SettingsForm => ({
  slowModeSeconds: text(body.slowModeSeconds).trim(),
  minAccountAgeMinutes: text(body.minAccountAgeMinutes).trim(),
  followersOnly: body.followersOnly !== undefined,
  verifiedEmailOnly: body.verifiedEmailOnly !== undefined,
  linksAllowed: body.linksAllowed !== undefined,
  emoteOnly: body.emoteOnly !== undefined,
  bannedTerms: text(body.bannedTerms),
})

/** The form's settings, validated by the schema, or what to fix beside each field. */
export function parseSettingsForm(form: SettingsForm): {settings: ChatSettings} | {errors: FieldErrors} {
  // An empty number box means "off"; anything but digits is no whole number.
  const whole = (value: string): number => (value === '' ? 0 : /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN)
  const seen = new Set<string>()
  const terms = form.bannedTerms
    .split(/\r?\n/)
    .map((t) => t.trim())
    .filter((t) => t !== '' && !seen.has(t.toLowerCase()) && seen.add(t.toLowerCase()))
  const parsed = chatSettingsSchema.safeParse({
    slowModeSeconds: whole(form.slowModeSeconds),
    minAccountAgeMinutes: whole(form.minAccountAgeMinutes),
    followersOnly: form.followersOnly,
    verifiedEmailOnly: form.verifiedEmailOnly,
    linksAllowed: form.linksAllowed,
    emoteOnly: form.emoteOnly,
    bannedTerms: terms,
  })
  if (parsed.success) return {settings: parsed.data}
  const bounds = SETTINGS_BOUNDS
  const errors: FieldErrors = {}
  for (const issue of parsed.error.issues) {
    const [field, index] = issue.path
    if (typeof field !== 'string' || errors[field] !== undefined) continue
    if (field === 'slowModeSeconds') errors[field] = `Enter a whole number of seconds from 0 (off) to ${bounds.slowModeSeconds}.`
    else if (field === 'minAccountAgeMinutes') errors[field] = `Enter a whole number of minutes from 0 (any account) to ${bounds.minAccountAgeMinutes} (${formatMinutes(bounds.minAccountAgeMinutes)}).`
    else if (field === 'bannedTerms' && typeof index === 'number' && issue.code === 'custom') errors[field] = `“${terms[index] ?? ''}” would refuse nearly every message: a term needs at least 2 characters besides *.`
    else if (field === 'bannedTerms' && typeof index === 'number') errors[field] = `“${terms[index] ?? ''}” is longer than ${bounds.bannedTermLength} characters: shorten it, or use * for the rest.`
    else if (field === 'bannedTerms') errors[field] = `Up to ${bounds.bannedTerms} terms (you gave ${terms.length}).`
    else errors[field] = 'This value is not allowed.'
  }
  return {errors}
}

/** What a save changed, for the log ("slow mode 30 seconds; banned terms added: spoiler"), or undefined when nothing did. */
export function settingsChanges(before: ChatSettings, after: ChatSettings): string | undefined {
  const changes: string[] = []
  if (before.slowModeSeconds !== after.slowModeSeconds) changes.push(`slow mode ${after.slowModeSeconds === 0 ? 'off' : formatSeconds(after.slowModeSeconds)}`)
  if (before.minAccountAgeMinutes !== after.minAccountAgeMinutes) changes.push(`minimum account age ${after.minAccountAgeMinutes === 0 ? 'none' : formatMinutes(after.minAccountAgeMinutes)}`)
  if (before.followersOnly !== after.followersOnly) changes.push(after.followersOnly ? 'followers only' : 'anyone may write')
  if (before.verifiedEmailOnly !== after.verifiedEmailOnly) changes.push(after.verifiedEmailOnly ? 'confirmed e-mail addresses only' : 'any e-mail address')
  if (before.linksAllowed !== after.linksAllowed) changes.push(after.linksAllowed ? 'links allowed' : 'links refused')
  if (before.emoteOnly !== after.emoteOnly) changes.push(`emote-only ${after.emoteOnly ? 'on' : 'off'}`)
  const had = new Set(before.bannedTerms.map((t) => t.toLowerCase()))
  const has = new Set(after.bannedTerms.map((t) => t.toLowerCase()))
  const added = after.bannedTerms.filter((t) => !had.has(t.toLowerCase()))
  const removed = before.bannedTerms.filter((t) => !has.has(t.toLowerCase()))
  if (added.length > 0) changes.push(`banned terms added: ${added.join(', ')}`)
  if (removed.length > 0) changes.push(`banned terms removed: ${removed.join(', ')}`)
  if (changes.length === 0) return undefined
  const summary = changes.join('; ')
  return summary.length > 300 ? `${summary.slice(0, 299)}…` : summary
}

/** Who looks at the page, and what they may do in this channel's chat. */
interface Access {
  viewer: Viewer
  room: ChatRoom
  /** The owner or the site's staff. */
  manager: boolean
  permissions: ChatPermission[]
  /** Read now (not through the room's cache): this page shows them and changes them. */
  moderators: ModeratorDoc[]
}

export async function chatModerationRoutes(app: FastifyInstance, options: ChatModerationRoutesOptions): Promise<void> {
  const {rooms, users, chat, pageContext, log} = options
  const store = rooms.store
  const pathOf = (channel: string): string => `/c/${encodeURIComponent(channel)}/moderation`

  /** The viewer's access, or undefined once answered: log in first; anyone who does not moderate the channel sees no such page. */
  const accessOf = async (request: FastifyRequest<{Params: Params}>, reply: FastifyReply): Promise<Access | undefined> => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return undefined
    const {channel} = request.params
    const room = CHANNEL_PATTERN.test(channel) ? await rooms.get(channel) : null
    if (room !== null) {
      const moderators = await store.moderatorsOf(channel)
      const standing = standingOf({...room, moderators: new Map(moderators.map((m) => [m.userId, m.permissions]))}, viewer)
      if (standing.badge !== undefined) return {viewer, room, manager: standing.badge !== 'moderator', permissions: standing.permissions, moderators}
    }
    void sendPage(reply, 404, notFoundPage(pageContext(request, reply), {what: 'You moderate no channel by that name.'}))
    return undefined
  }

  /** A moderator asking for what the owner did not allow them. */
  const notAllowed = (request: FastifyRequest<{Params: Params}>, reply: FastifyReply, what: string): FastifyReply =>
    sendPage(reply, 403, errorPage(pageContext(request, reply), {title: 'Not allowed', message: `${what} Ask the channel's owner if you need to.`, back: pathOf(request.params.channel)}))

  const show = async (
    request: FastifyRequest<{Params: Params}>,
    reply: FastifyReply,
    access: Access,
    extra: Partial<Pick<ChatModerationView, 'notice' | 'errors' | 'adding' | 'rowError' | 'settings'>> & {status?: number} = {},
  ): Promise<FastifyReply> => {
    const channel = access.room.channel
    const [settings, bans, entries] = await Promise.all([store.settings(channel), store.bansOf(channel), store.logOf(channel, 100)])
    const {status, ...rest} = extra
    return sendPage(
      reply,
      status ?? 200,
      chatModerationPage(pageContext(request, reply, {form: true}), {
        channel,
        manager: access.manager,
        permissions: access.permissions,
        settings: settingsFormOf(settings),
        moderators: access.manager ? access.moderators : [],
        bans,
        log: entries,
        ...rest,
      }),
    )
  }

  const done = (reply: FastifyReply, channel: string, what: Done): FastifyReply => reply.redirect(`${pathOf(channel)}?done=${what}#${DONE[what].section}`, 303)

  app.get<{Params: Params; Querystring: {done?: string}}>('/c/:channel/moderation', async (request, reply) => {
    const access = await accessOf(request, reply)
    if (access === undefined) return reply
    const {done: what} = request.query
    return show(request, reply, access, isDone(what) ? {notice: DONE[what]} : {})
  })

  app.post<{Params: Params; Body: Body}>('/c/:channel/moderation/settings', async (request, reply) => {
    const access = await accessOf(request, reply)
    if (access === undefined) return reply
    if (!access.permissions.includes('settings')) return notAllowed(request, reply, 'You may not change this chat\'s settings.')
    const channel = access.room.channel
    const form = settingsFormFrom(request.body ?? {})
    const parsed = parseSettingsForm(form)
    if ('errors' in parsed) return show(request, reply, access, {status: 400, errors: parsed.errors, settings: form})
    const changes = settingsChanges(await store.settings(channel), parsed.settings)
    await store.setSettings(channel, parsed.settings, access.viewer.username)
    if (changes !== undefined) await store.record({channel, actor: access.viewer.username, action: 'settings', details: changes})
    await chat.settingsChanged(channel)
    log.info({channel, by: access.viewer.username, changes}, 'chat settings saved')
    return done(reply, channel, 'settings')
  })

  app.post<{Params: Params; Body: Body}>('/c/:channel/moderation/moderators', async (request, reply) => {
    const access = await accessOf(request, reply)
    if (access === undefined) return reply
    if (!access.manager) return notAllowed(request, reply, 'Only the channel\'s owner chooses its moderators.')
    const channel = access.room.channel
    const adding = {username: text(request.body?.username).trim(), permissions: permissionsOf(request.body?.permissions)}
    const errors: FieldErrors = {}
    const user = adding.username === '' ? null : await users.byUsername(adding.username)
    if (adding.username === '') errors.username = 'Enter the username of the account to make a moderator.'
    else if (user === null) errors.username = `There is no account called “${adding.username.slice(0, 60)}”: check the spelling.`
    else if (user._id.toHexString() === access.room.ownerId) errors.username = `${user.username} owns this channel: they can do everything here already.`
    if (adding.permissions.length === 0) errors.permissions = 'Choose at least one thing they may do.'
    if (user === null || Object.keys(errors).length > 0) return show(request, reply, access, {status: 400, errors, adding})
    const userId = user._id.toHexString()
    const added = await store.setModerator({channel, userId, user: user.username, permissions: adding.permissions, addedBy: access.viewer.username, at: new Date()})
    await store.record({channel, actor: access.viewer.username, action: added ? 'moderator.add' : 'moderator.change', target: user.username, details: permissionWords(adding.permissions)})
    await chat.standingChanged(channel, userId)
    log.info({channel, by: access.viewer.username, moderator: user.username, permissions: adding.permissions}, added ? 'chat moderator added' : 'chat moderator changed')
    return done(reply, channel, added ? 'moderator-added' : 'moderator-saved')
  })

  app.post<{Params: ModeratorParams; Body: Body}>('/c/:channel/moderation/moderators/:userId', async (request, reply) => {
    const access = await accessOf(request, reply)
    if (access === undefined) return reply
    if (!access.manager) return notAllowed(request, reply, 'Only the channel\'s owner chooses its moderators.')
    const channel = access.room.channel
    const moderator = access.moderators.find((m) => m.userId === request.params.userId)
    if (moderator === undefined) return done(reply, channel, 'moderator-gone')
    const permissions = permissionsOf(request.body?.permissions)
    if (permissions.length === 0) {
      return show(request, reply, access, {status: 400, rowError: {userId: moderator.userId, message: 'Tick at least one, or remove them as a moderator.'}})
    }
    if (permissions.join() !== chatPermissions.filter((p) => moderator.permissions.includes(p)).join()) {
      await store.setModerator({...moderator, permissions})
      await store.record({channel, actor: access.viewer.username, action: 'moderator.change', target: moderator.user, details: permissionWords(permissions)})
      await chat.standingChanged(channel, moderator.userId)
      log.info({channel, by: access.viewer.username, moderator: moderator.user, permissions}, 'chat moderator changed')
    }
    return done(reply, channel, 'moderator-saved')
  })

  app.post<{Params: ModeratorParams}>('/c/:channel/moderation/moderators/:userId/remove', async (request, reply) => {
    const access = await accessOf(request, reply)
    if (access === undefined) return reply
    if (!access.manager) return notAllowed(request, reply, 'Only the channel\'s owner chooses its moderators.')
    const channel = access.room.channel
    const moderator = access.moderators.find((m) => m.userId === request.params.userId)
    if (moderator === undefined || !(await store.removeModerator(channel, moderator.userId))) return done(reply, channel, 'moderator-gone')
    await store.record({channel, actor: access.viewer.username, action: 'moderator.remove', target: moderator.user})
    await chat.standingChanged(channel, moderator.userId)
    log.info({channel, by: access.viewer.username, moderator: moderator.user}, 'chat moderator removed')
    return done(reply, channel, 'moderator-removed')
  })

  app.post<{Params: ModeratorParams}>('/c/:channel/moderation/bans/:userId/unban', async (request, reply) => {
    const access = await accessOf(request, reply)
    if (access === undefined) return reply
    if (!access.permissions.includes('ban')) return notAllowed(request, reply, 'You may not unban in this chat.')
    const channel = access.room.channel
    const {userId} = request.params
    const ban = USER_ID.test(userId) ? await store.bans.findOne({channel, userId}) : null
    if (ban === null || !(await store.unban(channel, userId))) return done(reply, channel, 'not-banned')
    await options.timeouts.endTimeout(channel, userId)
    await store.record({channel, actor: access.viewer.username, action: 'unban', target: ban.user})
    await chat.standingChanged(channel, userId)
    log.info({channel, by: access.viewer.username, user: ban.user}, 'unbanned from the chat')
    return done(reply, channel, 'unbanned')
  })
}
