/**
 * The schedule on the web: the streamer's Schedule page (/dashboard/c/<channel>/schedule: add,
 * edit, remove), the site-wide /upcoming, and a channel's calendar feed /c/<channel>/schedule.ics.
 * Adding or moving an entry queues its reminder (schedule.remind, one per entry and start time:
 * the reminder of a time that was changed finds it changed and does nothing).
 */
import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify'
import type {Db} from 'mongodb'

import {Channels} from '../channels/channels.js'
import {ownedChannelOf} from '../channels/owned-channel.js'
import {channelImageUrl} from '../channels/images.js'
import type {LiveStates} from '../channels/stream-state.js'
import {CHANNEL_PATTERN} from '../contract/index.js'
import type {JobQueues} from '../jobs/queues.js'
import type {Logger} from '../platform/logger.js'
import {formText, notFoundPage, sendPage, type PageContextOf} from '../web/html.js'
import {entryId, parseScheduleForm, ScheduleLimitError, Schedules, type ScheduleDoc, type ScheduleForm} from './schedule.js'
import {scheduleCalendar} from './schedule-ics.js'
import {scheduleDashboardPage, upcomingPage, upcomingSection, type ScheduleDashboard, type ScheduleListing} from './schedule-pages.js'

export interface ScheduleRoutesOptions {
  db: Db
  jobs: JobQueues
  liveStates: LiveStates
  /** community.schedule.remindMinutesBefore */
  remindMinutesBefore: number
  /** SHING_PUBLIC_URL: the calendar's events link there. */
  publicUrl: string
  siteName: string
  pageContext: PageContextOf
  log: Logger
}

/** The reminder of an entry at its start time: due remindMinutesBefore before it (at once when that has passed). */
export async function queueReminder(jobs: JobQueues, entry: Pick<ScheduleDoc, '_id' | 'startsAt'>, remindMinutesBefore: number, now = Date.now()): Promise<void> {
  const startsAtMs = entry.startsAt.getTime()
  const delayMs = Math.max(0, startsAtMs - remindMinutesBefore * 60_000 - now)
  await jobs.enqueue('schedule.remind', {entryId: entry._id.toHexString(), startsAtMs}, {delayMs})
}

/**
 * Drops the waiting reminder of an entry's old time (a removed entry's, a moved time's), so that
 * Redis does not keep it until it is due. Should that fail, the reminder finds nothing to do then.
 */
async function dropReminder(jobs: JobQueues, entry: Pick<ScheduleDoc, '_id' | 'startsAt'>, log: Logger): Promise<void> {
  const jobId = `schedule.remind-${entry._id.toHexString()}-${entry.startsAt.getTime()}`
  await jobs
    .queue('schedule.remind')
    .remove(jobId)
    .catch((error: Error) => log.debug({jobId, err: error.message}, 'the old reminder stays: it will find nothing to do'))
}

/** Whether a broadcast is on now, as the last sweep of the live channels saw it. */
const liveCheck =
  (liveStates: LiveStates) =>
  (channel: string, streamId: string): boolean =>
    liveStates.lastKnown(channel)?.streamId === streamId

/** A channel page's "Upcoming" section, for channels/routes.ts. */
export function channelUpcomingSection(db: Db, liveStates: LiveStates): (channel: string) => Promise<string> {
  const schedules = new Schedules(db)
  const isLive = liveCheck(liveStates)
  return async (channel) => {
    const entries = await schedules.upcoming({channel, limit: 10, isLive})
    return upcomingSection(
      channel,
      entries.map((entry) => ({entry, live: entry.streamId !== undefined && isLive(entry.channel, entry.streamId)})),
    )
  }
}

type Params = {channel: string}
type EntryParams = {channel: string; id: string}
type Body = Record<string, unknown>

const formOf = (body: Body | undefined): ScheduleForm => ({title: formText(body?.title), category: formText(body?.category), local: formText(body?.startsAt), utc: formText(body?.startsAtUtc)})

export async function scheduleRoutes(app: FastifyInstance, options: ScheduleRoutesOptions): Promise<void> {
  const {db, jobs, pageContext, log} = options
  const schedules = new Schedules(db)
  const channels = new Channels(db)
  const isLive = liveCheck(options.liveStates)
  const publicUrl = options.publicUrl.replace(/\/+$/, '')
  const host = new URL(publicUrl).hostname

  const listings = (entries: readonly ScheduleDoc[]): ScheduleListing[] => entries.map((entry) => ({entry, live: entry.streamId !== undefined && isLive(entry.channel, entry.streamId)}))

  const ownedChannel = ownedChannelOf(channels, pageContext)

  const show = async (request: FastifyRequest, reply: FastifyReply, channel: string, extra: Partial<Pick<ScheduleDashboard, 'notice' | 'add' | 'edit'>> = {}, status = 200): Promise<FastifyReply> => {
    const entries = await schedules.upcoming({channel, limit: 100, isLive})
    return sendPage(reply, status, scheduleDashboardPage(pageContext(request, reply, {form: true}), {channel, entries: listings(entries), remindMinutesBefore: options.remindMinutesBefore, ...extra}))
  }

  const notices: Record<string, string> = {
    added: 'Added to your schedule.',
    saved: 'The entry is saved.',
    removed: 'The entry is removed.',
  }

  app.get<{Params: Params; Querystring: {done?: string}}>('/dashboard/c/:channel/schedule', async (request, reply) => {
    const channel = await ownedChannel(request, reply)
    if (channel === undefined) return reply
    const notice = request.query.done === undefined ? undefined : notices[request.query.done]
    return show(request, reply, channel, notice === undefined ? {} : {notice})
  })

  const limits = {config: {rateLimit: {max: 60, timeWindow: 60_000}}}

  app.post<{Params: Params; Body: Body}>('/dashboard/c/:channel/schedule', limits, async (request, reply) => {
    const channel = await ownedChannel(request, reply)
    if (channel === undefined) return reply
    const form = formOf(request.body)
    const parsed = parseScheduleForm(form)
    if (parsed.errors !== undefined) return show(request, reply, channel, {add: {form, errors: parsed.errors}}, 400)
    let entry: ScheduleDoc
    try {
      entry = await schedules.add(channel, parsed.input)
    } catch (error) {
      if (!(error instanceof ScheduleLimitError)) throw error
      return show(request, reply, channel, {add: {form, errors: {title: error.message}}}, 400)
    }
    await queueReminder(jobs, entry, options.remindMinutesBefore)
    log.info({channel, entry: entry._id.toHexString(), startsAt: entry.startsAt.toISOString(), user: request.viewer?.username}, 'broadcast scheduled')
    return reply.redirect(`/dashboard/c/${encodeURIComponent(channel)}/schedule?done=added`, 303)
  })

  app.post<{Params: EntryParams; Body: Body}>('/dashboard/c/:channel/schedule/:id', limits, async (request, reply) => {
    const channel = await ownedChannel(request, reply)
    if (channel === undefined) return reply
    const id = entryId(request.params.id)
    const form = formOf(request.body)
    const parsed = parseScheduleForm(form)
    if (id === undefined) return sendPage(reply, 404, notFoundPage(pageContext(request, reply), {what: 'There is no such entry in your schedule.'}))
    if (parsed.errors !== undefined) return show(request, reply, channel, {edit: {id: request.params.id, form, errors: parsed.errors}}, 400)
    const before = await schedules.collection.findOne({_id: id, channel})
    const entry = before === null ? null : await schedules.update(channel, id, parsed.input)
    if (before === null || entry === null) return sendPage(reply, 404, notFoundPage(pageContext(request, reply), {what: 'There is no such entry in your schedule.'}))
    if (before.startsAt.getTime() !== entry.startsAt.getTime()) await dropReminder(jobs, before, log)
    // A new start time is a new reminder; the old one finds the time changed and does nothing.
    await queueReminder(jobs, entry, options.remindMinutesBefore)
    log.info({channel, entry: request.params.id, startsAt: entry.startsAt.toISOString(), user: request.viewer?.username}, 'scheduled broadcast changed')
    return reply.redirect(`/dashboard/c/${encodeURIComponent(channel)}/schedule?done=saved`, 303)
  })

  app.post<{Params: EntryParams}>('/dashboard/c/:channel/schedule/:id/remove', limits, async (request, reply) => {
    const channel = await ownedChannel(request, reply)
    if (channel === undefined) return reply
    const id = entryId(request.params.id)
    const entry = id === undefined ? null : await schedules.collection.findOne({_id: id, channel})
    if (entry !== null && (await schedules.remove(channel, entry._id))) await dropReminder(jobs, entry, log)
    log.info({channel, entry: request.params.id, user: request.viewer?.username}, 'scheduled broadcast removed')
    return reply.redirect(`/dashboard/c/${encodeURIComponent(channel)}/schedule?done=removed`, 303)
  })

  app.get('/upcoming', async (request, reply) => {
    const entries = await schedules.upcoming({limit: 100, isLive})
    // Entries of channels that are gone or disabled are left out.
    const cards = await channels.cards([...new Set(entries.map((e) => e.channel))])
    const rows = listings(entries.filter((e) => cards.has(e.channel))).map((row) => {
      const object = cards.get(row.entry.channel)?.images?.avatar
      return object === undefined ? row : {...row, avatarUrl: channelImageUrl(row.entry.channel, object)}
    })
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(upcomingPage(pageContext(request, reply), rows))
  })

  app.get<{Params: Params}>('/c/:channel/schedule.ics', async (request, reply) => {
    const {channel} = request.params
    const doc = CHANNEL_PATTERN.test(channel) ? (await channels.cards([channel])).get(channel) : undefined
    if (doc === undefined) return reply.code(404).header('cache-control', 'no-store').type('text/plain; charset=utf-8').send('There is no channel by that name.\n')
    const entries = await schedules.feed(channel)
    return reply
      .type('text/calendar; charset=utf-8')
      .header('cache-control', 'public, max-age=300')
      .header('content-disposition', `inline; filename="${channel}.ics"`)
      .send(scheduleCalendar(entries, {channel, publicUrl, host, siteName: options.siteName}))
  })
}
