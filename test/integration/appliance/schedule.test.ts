/**
 * The schedule through real processes (web, ingest and a worker on real Redis, FerretDB and MinIO;
 * Chromium; ffmpeg publishing over RTMP): a streamer in Kolkata plans a broadcast on the dashboard
 * in their own time; a viewer in Los Angeles sees it on the channel's page and on /upcoming in
 * theirs; the channel's .ics feed, read by a calendar library, starts it at the same instant. A
 * follower with live alerts on is reminded once before an entry, not before a moved time's old
 * one nor a removed entry's. Going live near a planned time links the broadcast: "Live now" on the
 * channel page and /upcoming, and the entry drops off when the broadcast ends.
 */
import ICAL from 'ical.js'
import pino from 'pino'
import type {BrowserContext, Page} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {MONGO_DATABASE, streamStateKey} from '../../../appliance/contract/index.js'
import {JobQueues} from '../../../appliance/jobs/queues.js'
import {screenshotDesktopAndPhone, PHONE} from '../../harness/artifacts.js'
import {launchChromium, type RunningChromium} from '../../harness/chromium.js'
import {FormClient, signUpThroughForm} from '../../harness/http-client.js'
import {startLiveSite, type LiveSite} from '../../harness/live-site.js'
import {waitFor, type ManagedProcess} from '../../harness/process.js'
import {publishWhenThereIsRoom} from '../../harness/rtmp.js'

const PASSWORD = 'plans are made to be kept'
const CHANNEL = 'owl-hours'
const REMINDED = 'early-birds'
const REMIND_MINUTES = 10
const STREAMER_ZONE = 'Asia/Kolkata'
const VIEWER_ZONE = 'America/Los_Angeles'

let site: LiveSite
let web: string
let chromium: RunningChromium
let streamerContext: BrowserContext
let viewerContext: BrowserContext
let streamerPage: Page
let viewerPage: Page
let owner: FormClient
/** The reminders' channel's owner (an account has one channel on this site). */
let birdOwner: FormClient
let fan: FormClient
let publisher: ManagedProcess | undefined

const db = () => site.mongoClient.db(MONGO_DATABASE)
const schedules = () => db().collection<{_id: unknown; channel: string; title: string; startsAt: Date; streamId?: string}>('schedules')

beforeAll(async () => {
  site = await startLiveSite({adjustProfile: (p) => ({...p, hls: {...p.hls, segmentSeconds: 2, partSeconds: 0.5}, ladder: [{name: '360p', height: 360, fps: 15, videoKbps: 500, audioKbps: 64}]})})
  const community = {SHING_COMMUNITY: JSON.stringify({schedule: {remindMinutesBefore: REMIND_MINUTES}})}
  await Promise.all([site.start('web', community), site.start('ingest'), site.start('worker', community)])
  web = `http://127.0.0.1:${site.get('web').httpPort}`
  owner = await signUpThroughForm(web, 'owl-keeper', {password: PASSWORD, address: '198.51.100.140'})
  fan = await signUpThroughForm(web, 'owl-fan', {password: PASSWORD, address: '198.51.100.141'})
  birdOwner = await signUpThroughForm(web, 'bird-keeper', {password: PASSWORD, address: '198.51.100.142'})
  expect(await owner.submit('/dashboard', '/dashboard/channels', {name: CHANNEL, title: 'Night <b>owls</b>'})).toMatchObject({status: 303})
  expect(await birdOwner.submit('/dashboard', '/dashboard/channels', {name: REMINDED, title: 'Early birds'})).toMatchObject({status: 303})
  chromium = await launchChromium()
  // The streamer and the viewer are on opposite sides of the world.
  streamerContext = await chromium.browser.newContext({timezoneId: STREAMER_ZONE, locale: 'en-US'})
  await streamerContext.addCookies([{name: 'shing_session', value: owner.cookie('shing_session')!, url: web}])
  viewerContext = await chromium.browser.newContext({timezoneId: VIEWER_ZONE, locale: 'en-US'})
  streamerPage = await streamerContext.newPage()
  viewerPage = await viewerContext.newPage()
})

afterAll(async () => {
  await publisher?.stop().catch(() => undefined)
  await chromium?.close().catch(() => undefined)
  await site?.stop()
})

/** The wall-clock parts of an instant in a time zone. */
function wallClock(date: Date, timeZone: string): {date: string; hour: number; minute: string; zone: string} {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: 'numeric', minute: '2-digit', hour12: false, timeZoneName: 'short'}).formatToParts(date).map((p) => [p.type, p.value]),
  ) as Record<string, string>
  return {date: `${parts.year}-${parts.month}-${parts.day}`, hour: Number(parts.hour) % 24, minute: parts.minute!, zone: parts.timeZoneName!}
}

/** Posts the dashboard's schedule form as the page's script would (the instant in UTC beside the local field). */
const planThroughForm = (channel: string, title: string, startsAt: Date): Promise<{status: number; location?: string}> =>
  (channel === REMINDED ? birdOwner : owner).submit(`/dashboard/c/${channel}/schedule`, `/dashboard/c/${channel}/schedule`, {title, category: '', startsAt: startsAt.toISOString().slice(0, 16), startsAtUtc: startsAt.toISOString()})

describe('planning a broadcast', () => {
  // Tomorrow at 20:30 in Kolkata (UTC+5:30, no summer time): 15:00 UTC.
  let planned: Date

  it('the streamer enters it in their local time on the dashboard; the server stores the instant in UTC', async () => {
    const tomorrow = wallClock(new Date(Date.now() + 24 * 3600_000), STREAMER_ZONE).date
    planned = new Date(`${tomorrow}T20:30:00+05:30`)
    await streamerPage.goto(`${web}/dashboard/c/${CHANNEL}`)
    await streamerPage.getByRole('link', {name: 'Schedule'}).click()
    await streamerPage.waitForURL(`${web}/dashboard/c/${CHANNEL}/schedule`)
    // (Chromium's ICU names Kolkata by its older alias.)
    expect(await streamerPage.locator('#add ~ form [data-zone]').textContent()).toMatch(/^Your time zone: Asia\/(Kolkata|Calcutta)\.$/)
    // A past time is refused beside its field.
    await streamerPage.locator('#add ~ form input[name="title"]').fill('Too late')
    await streamerPage.locator('#add ~ form input[type="datetime-local"]').fill('2020-01-01T10:00')
    await streamerPage.getByRole('button', {name: 'Add to the schedule'}).click()
    expect(await streamerPage.locator('.field-error').textContent()).toBe('That time has passed: give one in the future.')

    await streamerPage.locator('#add ~ form input[name="title"]').fill('Owl <watching> & "Q&A"')
    await streamerPage.locator('#add ~ form input[type="datetime-local"]').fill(`${tomorrow}T20:30`)
    await streamerPage.locator('#add ~ form select[name="category"]').selectOption('education')
    await streamerPage.getByRole('button', {name: 'Add to the schedule'}).click()
    await streamerPage.waitForURL(`${web}/dashboard/c/${CHANNEL}/schedule?done=added`)
    const stored = await schedules().findOne({channel: CHANNEL})
    expect(stored?.startsAt.toISOString()).toBe(planned.toISOString())
    expect(stored?.title).toBe('Owl <watching> & "Q&A"')
    // Shown back in the streamer's time, and the edit form holds it in local time too.
    const listed = await streamerPage.locator('.schedule-entry time').first().textContent()
    expect(listed).toContain('8:30')
    expect(listed).toMatch(/GMT\+5:30|IST/)
    expect(await streamerPage.locator('.schedule-entry input[type="datetime-local"]').first().inputValue()).toBe(`${tomorrow}T20:30`)
    const width = await screenshotDesktopAndPhone(streamerPage, 'schedule-dashboard')
    expect(width).toBeLessThanOrEqual(PHONE.width)
  })

  it('a streamer edits an entry in the browser: the new local time is stored', async () => {
    const tomorrow = wallClock(planned, STREAMER_ZONE).date
    const entry = streamerPage.locator('.schedule-entry').first()
    await entry.getByText('Edit').click()
    await entry.locator('input[type="datetime-local"]').fill(`${tomorrow}T21:00`)
    await entry.getByRole('button', {name: 'Save changes'}).click()
    await streamerPage.waitForURL(`${web}/dashboard/c/${CHANNEL}/schedule?done=saved`)
    planned = new Date(`${tomorrow}T21:00:00+05:30`)
    expect((await schedules().findOne({channel: CHANNEL}))?.startsAt.toISOString()).toBe(planned.toISOString())
  })

  it('without JavaScript, an edit of the time (read as UTC, as the form says) is stored too', async () => {
    const id = String((await schedules().findOne({channel: CHANNEL}))!._id)
    const form = (await owner.get(`/dashboard/c/${CHANNEL}/schedule`)).text
    // The hidden UTC field is the script's to fill: without it, it goes empty and the visible field counts.
    expect(form).toContain('<input type="hidden" name="startsAtUtc" value="">')
    const edit = async (at: Date): Promise<void> => {
      const answer = await owner.submit(`/dashboard/c/${CHANNEL}/schedule`, `/dashboard/c/${CHANNEL}/schedule/${id}`, {title: 'Owl <watching> & "Q&A"', category: '', startsAt: at.toISOString().slice(0, 16), startsAtUtc: ''})
      expect(answer.status).toBe(303)
      expect((await schedules().findOne({channel: CHANNEL}))?.startsAt.toISOString()).toBe(at.toISOString())
    }
    await edit(new Date(planned.getTime() + 3_600_000))
    await edit(planned)
  })

  it("a viewer elsewhere sees it on the channel's page and on /upcoming in their own time zone, soonest first", async () => {
    // A second entry, sooner, on the other channel.
    const sooner = new Date(Date.now() + 3 * 3600_000)
    expect(await planThroughForm(REMINDED, 'Sunrise <chat>', sooner)).toMatchObject({status: 303})
    const local = wallClock(planned, VIEWER_ZONE)
    await viewerPage.goto(`${web}/c/${CHANNEL}`)
    const time = viewerPage.locator('section.upcoming time')
    await waitFor('the time rewritten in the viewer zone', async () => !(await time.textContent())?.endsWith('UTC'))
    const shown = (await time.textContent())!
    expect(shown).toContain(`${local.hour % 12 === 0 ? 12 : local.hour % 12}:${local.minute}`)
    expect(shown).toContain(local.zone)
    expect(await time.getAttribute('datetime')).toBe(planned.toISOString())
    expect(await viewerPage.locator('section.upcoming').textContent()).toContain('Owl <watching> & "Q&A"')

    await viewerPage.goto(`${web}/upcoming`)
    const rows = viewerPage.locator('ul.schedule li')
    expect(await rows.count()).toBe(2)
    expect(await rows.nth(0).locator('.schedule-channel').textContent()).toBe(REMINDED)
    expect(await rows.nth(1).locator('.schedule-channel').textContent()).toBe(CHANNEL)
    expect(await rows.nth(1).locator('time').textContent()).toContain(local.zone)
    expect(await viewerPage.locator('[data-zone]').textContent()).toBe(`Your time zone: ${VIEWER_ZONE}.`)
    // Without JavaScript the time reads in UTC.
    const html = (await new FormClient(web).get('/upcoming')).text
    expect(html).toContain(`<time datetime="${planned.toISOString()}" data-local>${planned.toISOString().slice(0, 16).replace('T', ' ')} UTC</time>`)
    expect(html).toContain('Owl &lt;watching&gt; &amp; &quot;Q&amp;A&quot;')
    const width = await screenshotDesktopAndPhone(viewerPage, 'schedule-upcoming')
    expect(width).toBeLessThanOrEqual(PHONE.width)
    await viewerPage.goto(`${web}/c/${CHANNEL}`)
    await screenshotDesktopAndPhone(viewerPage, 'schedule-channel-page')
  })

  it('the .ics feed is a calendar that ical.js reads: the event starts at the same instant, with its UID and the channel URL', async () => {
    const answer = await fetch(`${web}/c/${CHANNEL}/schedule.ics`)
    expect(answer.status).toBe(200)
    expect(answer.headers.get('content-type')).toBe('text/calendar; charset=utf-8')
    const text = await answer.text()
    const calendar = new ICAL.Component(ICAL.parse(text))
    const events = calendar.getAllSubcomponents('vevent').map((v) => new ICAL.Event(v))
    expect(events).toHaveLength(1)
    const entry = await schedules().findOne({channel: CHANNEL})
    expect(events[0]!.uid).toBe(`${String(entry!._id)}@${new URL(site.env.SHING_PUBLIC_URL!).hostname}`)
    expect(events[0]!.startDate.toJSDate().toISOString()).toBe(planned.toISOString())
    expect(events[0]!.summary).toBe(`Owl <watching> & "Q&A" (${CHANNEL})`)
    expect(calendar.getAllSubcomponents('vevent')[0]!.getFirstPropertyValue('url')).toBe(`${site.env.SHING_PUBLIC_URL!.replace(/\/$/, '')}/c/${CHANNEL}`)
    expect((await fetch(`${web}/c/no-such-channel/schedule.ics`)).status).toBe(404)
  })

  it("another account cannot change or remove the streamer's entries", async () => {
    const entry = await schedules().findOne({channel: CHANNEL})
    const id = String(entry!._id)
    expect((await fan.submit('/upcoming', `/dashboard/c/${CHANNEL}/schedule/${id}/remove`, {})).status).toBe(404)
    expect((await new FormClient(web).post(`/dashboard/c/${CHANNEL}/schedule/${id}/remove`, {})).status).toBe(403)
    expect(await schedules().countDocuments({channel: CHANNEL})).toBe(1)
  })
})

describe('reminders', () => {
  it('a follower with live alerts on is reminded once; a moved time reminds at the new one only; a removed entry reminds nobody', async () => {
    expect(await fan.submit(`/c/${REMINDED}`, `/c/${REMINDED}/follow`, {})).toMatchObject({status: 303})
    const follow = await db().collection<{userId: string}>('follows').findOne({channel: REMINDED})
    const userId = follow!.userId
    const soon = (seconds: number): Date => new Date(Math.ceil((Date.now() + REMIND_MINUTES * 60_000 + seconds * 1000) / 1000) * 1000)
    // Kept: due in ~4 s. Moved: first due in ~3 s, then moved to ~8 s. Removed: due in ~3 s, removed at once.
    const kept = soon(4)
    expect(await planThroughForm(REMINDED, 'Kept', kept)).toMatchObject({status: 303})
    const first = soon(3)
    expect(await planThroughForm(REMINDED, 'Moved', first)).toMatchObject({status: 303})
    const moved = await schedules().findOne({channel: REMINDED, title: 'Moved'})
    const later = soon(8)
    expect(await birdOwner.submit(`/dashboard/c/${REMINDED}/schedule`, `/dashboard/c/${REMINDED}/schedule/${String(moved!._id)}`, {title: 'Moved', category: '', startsAt: '', startsAtUtc: later.toISOString()})).toMatchObject({status: 303})
    const removedAt = soon(3)
    expect(await planThroughForm(REMINDED, 'Removed', removedAt)).toMatchObject({status: 303})
    const removed = await schedules().findOne({channel: REMINDED, title: 'Removed'})
    expect(await birdOwner.submit(`/dashboard/c/${REMINDED}/schedule`, `/dashboard/c/${REMINDED}/schedule/${String(removed!._id)}/remove`, {})).toMatchObject({status: 303})

    // The old time's reminder and the removed entry's are dropped from the queue at once.
    const jobs = new JobQueues(site.redisEndpoint, site.client, pino({level: 'silent'}))
    try {
      const reminders = jobs.queue('schedule.remind')
      expect(await reminders.getJob(`schedule.remind-${String(moved!._id)}-${first.getTime()}`)).toBeUndefined()
      expect(await reminders.getJob(`schedule.remind-${String(removed!._id)}-${removedAt.getTime()}`)).toBeUndefined()
      expect(await reminders.getJob(`schedule.remind-${String(moved!._id)}-${later.getTime()}`)).toBeDefined()
    } finally {
      await jobs.close()
    }
    const notifications = db().collection<{userId: string; key: string; kind: string; text: string; url: string}>('notifications')
    const keptEntry = await schedules().findOne({channel: REMINDED, title: 'Kept'})
    const keyOf = (id: unknown, at: Date): string => `schedule:${String(id)}:${at.getTime()}`
    const reminder = await waitFor('the kept entry reminded', async () => (await notifications.findOne({userId, key: keyOf(keptEntry!._id, kept)})) ?? undefined, {timeoutMs: 30_000, intervalMs: 250})
    expect(reminder).toMatchObject({kind: 'schedule', url: `/c/${REMINDED}`})
    expect(reminder.text).toMatch(/^early-birds: “Kept” starts in (9|10) minutes$/)
    await waitFor('the moved entry reminded at its new time', async () => (await notifications.findOne({userId, key: keyOf(moved!._id, later)})) ?? undefined, {timeoutMs: 30_000, intervalMs: 250})
    // Nobody was told of the old time or of the removed entry.
    expect(await notifications.countDocuments({userId, key: keyOf(moved!._id, first)})).toBe(0)
    expect(await notifications.countDocuments({key: {$regex: `^schedule:${String(removed!._id)}:`}})).toBe(0)
    expect(await notifications.countDocuments({userId, kind: 'schedule'})).toBe(2)
  })
})

describe('going live near a planned time', () => {
  it('links the broadcast to the entry: "Live now" on the channel page and /upcoming; it drops off when the broadcast ends', async () => {
    const soon = new Date(Math.ceil((Date.now() + 20 * 60_000) / 1000) * 1000)
    expect(await planThroughForm(CHANNEL, 'Owls, live', soon)).toMatchObject({status: 303})
    const key = await site.streamKey(CHANNEL)
    publisher = await publishWhenThereIsRoom({url: `rtmp://127.0.0.1:${site.get('ingest').rtmpPort}/live/${key}`, size: '640x360', fps: 15, timeoutMs: 60_000})
    const state = await waitFor('the channel live', async () => site.client.get(streamStateKey(CHANNEL)).then((v) => v ?? undefined), {timeoutMs: 30_000})
    const streamId = (JSON.parse(state) as {streamId: string}).streamId
    const linked = await waitFor('the entry linked', async () => (await schedules().findOne({channel: CHANNEL, title: 'Owls, live'}))?.streamId, {timeoutMs: 30_000, intervalMs: 250})
    expect(linked).toBe(streamId)
    // Tomorrow's entry is not this broadcast's.
    expect((await schedules().findOne({channel: CHANNEL, title: 'Owl <watching> & "Q&A"'}))?.streamId).toBeUndefined()
    await waitFor('Live now on the channel page', async () => (await new FormClient(web).get(`/c/${CHANNEL}`)).text.includes('<a class="live-dot" href="/c/owl-hours">Live now</a>'), {timeoutMs: 15_000, intervalMs: 500})
    await viewerPage.goto(`${web}/upcoming`)
    const row = viewerPage.locator('ul.schedule li', {hasText: 'Owls, live'})
    expect(await row.getByRole('link', {name: 'Live now'}).getAttribute('href')).toBe(`/c/${CHANNEL}`)
    await screenshotDesktopAndPhone(viewerPage, 'schedule-upcoming-live')

    await publisher.stop()
    publisher = undefined
    await waitFor('the channel offline', async () => (await site.client.exists(streamStateKey(CHANNEL))) === 0, {timeoutMs: 30_000})
    await waitFor('the entry gone from /upcoming', async () => !(await new FormClient(web).get('/upcoming')).text.includes('Owls, live'), {timeoutMs: 15_000, intervalMs: 500})
    // (The channel page an anonymous visitor gets may be up to 2 s old: the micro-cache.)
    await waitFor('the entry gone from the channel page', async () => !(await new FormClient(web).get(`/c/${CHANNEL}`)).text.includes('Owls, live'), {timeoutMs: 15_000, intervalMs: 500})
  })
})
