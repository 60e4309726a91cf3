/**
 * Notifications through real parts: Redis, FerretDB, MinIO, Mailpit, two web instances, an
 * ingest, a worker, ffmpeg publishing over RTMP and Chromium. B follows A with live alerts on; A
 * goes live; B's bell (its socket on the second web, the went-live told by the worker) turns to 1
 * without a reload, and Mailpit holds one went-live mail with a one-click unsubscribe that works
 * without logging in. The notifications page lists it and opening it marks it read. A new
 * follower, a chat mention and a chat time-out notify too; a rerun of the jobs mails nothing twice;
 * a broadcast over before its job ran mails nobody; the daily digest sends once.
 */

import type {Page} from 'playwright-core'
import pino from 'pino'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {createdUserSchema, MONGO_DATABASE, streamStateKey} from '../../../appliance/contract/index.js'
import {JobQueues} from '../../../appliance/jobs/queues.js'
import type {JobData, JobResult, JobType} from '../../../appliance/jobs/types.js'
import {runAdminOperation} from '../../harness/appliance.js'
import {PHONE, screenshot, screenshotDesktopAndPhone} from '../../harness/artifacts.js'
import {launchChromium, recordDialogs, type RunningChromium} from '../../harness/chromium.js'
import {FormClient, signUpThroughForm} from '../../harness/http-client.js'
import {startLiveSite, type LiveSite} from '../../harness/live-site.js'
import {linkIn, mailpitEnv, startMailpit, type MailpitServer, type ReceivedMail} from '../../harness/mailpit.js'
import type {ManagedProcess} from '../../harness/process.js'
import {waitFor} from '../../harness/process.js'
import {publishWhenThereIsRoom} from '../../harness/rtmp.js'

const PASSWORD = 'bells ring when streams begin'
const CHANNEL = 'nova-live'
const quiet = pino({level: 'silent'})

let site: LiveSite
let mailpit: MailpitServer
let chromium: RunningChromium
let jobs: JobQueues
let publisher: ManagedProcess | undefined
/** The two web instances, straight (the browser's pages and socket go to the second). */
let web1: string
let web2: string
let front: string
let streamer: FormClient
let fan: FormClient
let other: FormClient
/** The fan's browser, on web-2. */
let fanPage: Page
let streamId = ''
const dialogs: string[] = []

const db = () => site.mongoClient.db(MONGO_DATABASE)
const idOf = async (username: string): Promise<string> => (await db().collection('users').findOne({usernameKey: username}))!._id.toHexString()

/** Signs up through the form and confirms the address from the mail, as a person does. */
async function signUpConfirmed(username: string, address: string): Promise<FormClient> {
  const client = await signUpThroughForm(web1, username, {password: PASSWORD, address})
  const mail = await mailpit.waitForMail(`${username}@example.test`)
  const link = linkIn(mail, `${front}/verify-email?token=`)
  expect((await client.get(link.slice(front.length), web1)).status).toBe(303)
  return client
}

const liveMails = async (address: string): Promise<ReceivedMail[]> => (await mailpit.mailTo(address)).filter((m) => m.subject.startsWith(`${CHANNEL} is live`))

/** The bell as the page shows it now. */
const bell = async (page: Page): Promise<{unread: string | null; label: string | null; count: string | null}> => ({
  unread: await page.locator('#bell').getAttribute('data-unread'),
  label: await page.locator('#bell').getAttribute('aria-label'),
  count: await page.locator('#bell .bell-count').textContent(),
})

/**
 * Queues a job for the site's worker and polls it until it is done: its result. (JobQueues.run
 * waits on QueueEvents, which misses a job that finishes between its check and its first read of
 * the events stream: seen here as a 30 s time-out for a job done in milliseconds.)
 */
async function runJob<T extends JobType>(type: T, data: JobData[T], timeoutMs: number, options: {jobId: string}): Promise<JobResult[T]> {
  const {queue, jobId} = await jobs.enqueue(type, data, options)
  return waitFor(`${type} ${jobId} done`, async () => {
    const job = await jobs.queue(queue).getJob(jobId)
    const state = await job?.getState()
    if (state === 'failed') throw new Error(`${type} ${jobId} failed: ${job?.failedReason ?? ''}`)
    return state === 'completed' ? (job!.returnvalue as JobResult[T]) : undefined
  }, {timeoutMs, intervalMs: 100})
}

const bellConnected = (page: Page): Promise<unknown> => page.waitForFunction(() => (window as unknown as {shingBell?: {socket: {connected: boolean}}}).shingBell?.socket.connected === true, undefined, {timeout: 15_000})

beforeAll(async () => {
  ;[site, mailpit] = await Promise.all([
    startLiveSite({adjustProfile: (p) => ({...p, hls: {...p.hls, segmentSeconds: 2, partSeconds: 0.5}, ladder: [{name: '360p', height: 360, fps: 15, videoKbps: 500, audioKbps: 64}]})}),
    startMailpit(),
  ])
  front = site.frontUrl()
  const mailEnv = {
    SHING_PUBLIC_URL: front,
    ...(await mailpitEnv(mailpit, site.env.SHING_SECRETS_DIR!, 'Bell Tower <live@example.test>')),
  }
  await Promise.all([site.start('web', mailEnv), site.start('web-2', mailEnv), site.start('ingest', mailEnv), site.start('worker', mailEnv)])
  web1 = `http://127.0.0.1:${site.get('web').httpPort}`
  web2 = `http://127.0.0.1:${site.get('web-2').httpPort}`
  streamer = await signUpConfirmed('nova', '198.51.100.140')
  fan = await signUpConfirmed('bea', '198.51.100.141')
  other = await signUpConfirmed('cal', '198.51.100.142')
  expect(await streamer.submit('/dashboard', '/dashboard/channels', {name: CHANNEL, title: 'Night <sky> watch'}, web1)).toMatchObject({status: 303})
  jobs = new JobQueues(site.redisEndpoint, site.client, quiet)
  chromium = await launchChromium()
  const context = await chromium.browser.newContext({viewport: {width: 1280, height: 800}})
  await context.addCookies([{name: 'shing_session', value: fan.cookie('shing_session')!, url: web2}])
  fanPage = recordDialogs(await context.newPage(), dialogs)
})

afterAll(async () => {
  await publisher?.stop().catch(() => undefined)
  await jobs?.close()
  await chromium?.close().catch(() => undefined)
  await site?.stop()
  await mailpit?.stop()
})

describe('notifications', () => {
  it('a new follower: the owner is told once, in the site only (their default)', async () => {
    expect((await fan.submit(`/c/${CHANNEL}`, `/c/${CHANNEL}/follow`, {}, web1)).status).toBe(303)
    // Unfollowing and following again is the same follower: no second notification.
    expect((await fan.submit(`/c/${CHANNEL}`, `/c/${CHANNEL}/unfollow`, {}, web1)).status).toBe(303)
    expect((await fan.submit(`/c/${CHANNEL}`, `/c/${CHANNEL}/follow`, {}, web1)).status).toBe(303)
    const mine = await db().collection('notifications').find({userId: await idOf('nova')}).toArray()
    expect(mine).toHaveLength(1)
    expect(mine[0]).toMatchObject({kind: 'follower', actor: 'bea', text: `bea now follows ${CHANNEL}`, url: `/c/${CHANNEL}`})
    const list = await streamer.get('/notifications', web1)
    expect(list.text).toContain(`bea now follows ${CHANNEL}`)
    expect(list.text).toContain('<span>1 unread.</span>')
    // A browser's page load counts for the bell; a request that is not one leaves the number to the script.
    expect(list.text).toContain('aria-label="Notifications" data-unread=""')
    const page = await fetch(`${web1}/following`, {headers: {accept: 'text/html', cookie: `shing_session=${streamer.cookie('shing_session')!}`}})
    expect(await page.text()).toContain('aria-label="Notifications, 1 unread" data-unread="1"')
    expect(await db().collection('follows').findOne({channel: CHANNEL})).toMatchObject({notify: true})
  })

  it("A goes live: B's bell, on the other web instance, shows 1 within seconds without a reload; one went-live mail", async () => {
    await fanPage.goto(`${web2}/following`)
    expect(await bell(fanPage)).toEqual({unread: '0', label: 'Notifications, none unread', count: ''})
    await bellConnected(fanPage)
    const key = await site.streamKey(CHANNEL)
    publisher = await publishWhenThereIsRoom({url: `rtmp://127.0.0.1:${site.get('ingest').rtmpPort}/live/${key}`, size: '640x360', fps: 15, timeoutMs: 60_000})
    const state = await waitFor('the channel live', async () => site.client.get(streamStateKey(CHANNEL)).then((v) => v ?? undefined), {timeoutMs: 30_000, intervalMs: 100})
    const liveAt = Date.now()
    const live = JSON.parse(state) as {streamId: string; since: string}
    streamId = live.streamId
    await fanPage.waitForFunction(() => document.getElementById('bell')?.dataset.unread === '1', undefined, {timeout: 15_000, polling: 50})
    const seconds = (Date.now() - liveAt) / 1000
    // From the ingest's acceptance of the publish (the stream state's `since`): channel.event, notify.live, Redis, the socket.
    process.stdout.write(`notifications: went live → bell on the other web instance at 1 in ${((Date.now() - Date.parse(live.since)) / 1000).toFixed(2)} s (${seconds.toFixed(2)} s after the test saw it live)\n`)
    expect(seconds).toBeLessThan(10)
    expect(await bell(fanPage)).toEqual({unread: '1', label: 'Notifications, 1 unread', count: '1'})
    expect(await fanPage.locator('#bell-status').textContent()).toBe('New notification: 1 unread')
    await screenshotDesktopAndPhone(fanPage, 'notifications-bell')

    const mail = await waitFor('the went-live mail', async () => (await liveMails('bea@example.test'))[0], {timeoutMs: 30_000, intervalMs: 250})
    expect(mail.subject).toBe(`${CHANNEL} is live: Night <sky> watch · 127.0.0.1`)
    expect(mail.text).toContain(`${front}/c/${CHANNEL}`)
    // The title is text in the HTML copy.
    expect(mail.html).toContain('Night &lt;sky&gt; watch')
    const headers = (await (await fetch(`${mailpit.apiUrl}/api/v1/message/${mail.id}/headers`)).json()) as Record<string, string[]>
    const unsubscribe = linkIn(mail, `${front}/notifications/unsubscribe/`)
    expect(headers['List-Unsubscribe']).toEqual([`<${unsubscribe}>`])
    expect(headers['List-Unsubscribe-Post']).toEqual(['List-Unsubscribe=One-Click'])
    // Nobody else follows with alerts: the streamer got none.
    expect(await liveMails('nova@example.test')).toEqual([])
  })

  it('running the went-live jobs again mails nothing twice and notifies no one twice', async () => {
    const rerun = await runJob('notify.live', {channel: CHANNEL, streamId}, 30_000, {jobId: `rerun-${streamId}`})
    expect(rerun).toEqual({status: 'done', followers: 1, notified: 0})
    const notification = await db().collection('notifications').findOne({key: `live:${streamId}`})
    expect(notification?.mailedAt).toBeInstanceOf(Date)
    const again = await runJob('notify.mail', {notificationIds: [notification!._id.toHexString()]}, 30_000, {jobId: `rerun-mail-${streamId}`})
    expect(again).toEqual({status: 'done', queued: 0, skipped: {'already mailed': 1}})
    // channel.event itself once more (as the ingest would on a retry).
    await runJob('channel.event', {channel: CHANNEL, event: 'live', streamId, at: new Date().toISOString()}, 30_000, {jobId: `rerun-event-${streamId}`})
    await new Promise((resolve) => setTimeout(resolve, 2000))
    expect(await liveMails('bea@example.test')).toHaveLength(1)
    expect(await db().collection('notifications').countDocuments({key: `live:${streamId}`})).toBe(1)
  })

  it('the one-click unsubscribe (a POST without a log-in, as mail clients send it) turns that kind of mail off', async () => {
    const mail = (await liveMails('bea@example.test'))[0]!
    const link = linkIn(mail, `${front}/notifications/unsubscribe/`)
    // Following the link only asks (a link scanner changes nothing).
    const asked = await new FormClient('').get(link)
    expect(asked.status).toBe(200)
    expect(asked.text).toContain('Stop these mails')
    expect((await db().collection('notification_settings').findOne({_id: (await idOf('bea')) as never}))?.delivery?.live).toBeUndefined()
    // Some clients send the click as multipart/form-data (RFC 8058 allows both).
    const form = new FormData()
    form.set('List-Unsubscribe', 'One-Click')
    expect((await fetch(link, {method: 'POST', body: form})).status).toBe(200)
    const clicked = await fetch(link, {method: 'POST', headers: {'content-type': 'application/x-www-form-urlencoded'}, body: 'List-Unsubscribe=One-Click'})
    expect(clicked.status).toBe(200)
    expect(await clicked.text()).toContain('You will get no more mails for')
    expect((await db().collection('notification_settings').findOne({_id: (await idOf('bea')) as never}))?.delivery?.live).toBe('site')
    const settings = await fan.get('/account/notifications', web1)
    expect(settings.text).toMatch(/id="delivery-live-site" name="live" value="site" checked/)
    // A forged token changes nothing.
    const forged = await fetch(link.replace(/\/[^/]+$/, '/' + 'x'.repeat(32)), {method: 'POST'})
    expect(forged.status).toBe(404)
  })

  it('the notifications page lists it, unread; opening it marks it read and goes to the channel', async () => {
    await fanPage.locator('#bell').click()
    await fanPage.waitForURL(`${web2}/notifications`)
    const item = fanPage.locator('ul.notifications li').first()
    expect(await item.getAttribute('class')).toBe('unread')
    expect(await item.locator('.n-text').textContent()).toBe(`${CHANNEL} is live: Night <sky> watch`)
    expect(await item.locator('.badge').textContent()).toBe('Unread')
    expect(await screenshotDesktopAndPhone(fanPage, 'notifications-page'), 'the page on a phone').toBeLessThanOrEqual(PHONE.width)
    // By keyboard: the link is reachable and opens with Enter.
    await item.locator('a').focus()
    await fanPage.keyboard.press('Enter')
    await fanPage.waitForURL(`${web2}/c/${CHANNEL}`)
    expect(await bell(fanPage)).toMatchObject({unread: '0', label: 'Notifications, none unread'})
    const doc = await db().collection('notifications').findOne({key: `live:${streamId}`})
    expect(doc?.readAt).toBeInstanceOf(Date)
  })

  it('a chat mention notifies the account mentioned (not the sender, not a name nobody has); "Mark all as read" clears the bell everywhere', async () => {
    const streamerContext = await chromium.browser.newContext()
    await streamerContext.addCookies([{name: 'shing_session', value: streamer.cookie('shing_session')!, url: web1}])
    const chat = await streamerContext.newPage()
    await chat.goto(`${web1}/c/${CHANNEL}`)
    await chat.waitForSelector('#chat[data-you="writer"]')
    await fanPage.goto(`${web2}/notifications`)
    await bellConnected(fanPage)
    await chat.locator('#chat-input').fill('hello @bea and @nova and @nobody-here, see <you> soon')
    await chat.locator('#chat-input').press('Enter')
    await fanPage.waitForFunction(() => document.getElementById('bell')?.dataset.unread === '1', undefined, {timeout: 10_000})
    const mention = await db().collection('notifications').findOne({kind: 'mention', userId: await idOf('bea')})
    expect(mention).toMatchObject({actor: 'nova', channel: CHANNEL, text: `nova mentioned you in ${CHANNEL}'s chat: "hello @bea and @nova and @nobody-here, see <you> soon"`})
    expect(await db().collection('notifications').countDocuments({kind: 'mention'})).toBe(1)

    // A time-out by the channel's owner tells the one timed out.
    const moderated = await chat.evaluate(
      (channel) =>
        new Promise((resolve) => {
          const socket = (window as unknown as {io: (options: object) => {on: (event: string, run: () => void) => void; emit: (...args: unknown[]) => void}}).io({path: '/socket.io', transports: ['websocket'], auth: {channel}, forceNew: true})
          socket.on('welcome', () => socket.emit('moderate', {action: 'timeout', user: 'cal', seconds: 600}, resolve))
        }),
      CHANNEL,
    )
    expect(moderated).toEqual({ok: true})
    await waitFor('the time-out notified', async () => (await other.get('/notifications', web1)).text.includes(`You were timed out of ${CHANNEL}&#39;s chat for 10 minutes by its moderators.`) || undefined, {timeoutMs: 10_000, intervalMs: 250})
    await streamerContext.close()

    await fanPage.reload()
    expect(await fanPage.locator('ul.notifications li.unread .n-text').first().textContent()).toContain('nova mentioned you')
    await fanPage.getByRole('button', {name: 'Mark all as read'}).click()
    await fanPage.waitForURL(`${web2}/notifications?read=all`)
    expect(await fanPage.locator('main .notice').textContent()).toBe('All marked as read.')
    expect(await fanPage.locator('ul.notifications li.unread').count()).toBe(0)
    expect(await bell(fanPage)).toMatchObject({unread: '0'})
    await screenshot(fanPage, 'notifications-all-read')
    expect(dialogs).toEqual([])
  })

  it('a went-live whose broadcast ended before its job ran tells no one and mails no one', async () => {
    await publisher?.stop()
    publisher = undefined
    await waitFor('the broadcast ended', async () => (await db().collection('streams').findOne({streamId}))?.endedAt ?? undefined, {timeoutMs: 30_000, intervalMs: 250})
    // Mail on again, so only the ended broadcast keeps it from going.
    await fan.submit('/account/notifications', '/account/notifications', {live: 'email'}, web1)
    await db().collection('notifications').deleteMany({key: `live:${streamId}`})
    const late = await runJob('notify.live', {channel: CHANNEL, streamId}, 30_000, {jobId: `late-${streamId}`})
    expect(late).toEqual({status: 'ended', followers: 0, notified: 0})
    expect(await db().collection('notifications').countDocuments({key: `live:${streamId}`})).toBe(0)
    expect(await liveMails('bea@example.test')).toHaveLength(1)
  })

  it('the daily digest mails what is unread and not yet mailed, once', async () => {
    expect((await fan.submit('/account/notifications', '/account/notifications', {live: 'site', mention: 'digest'}, web1)).status).toBe(303)
    const settingsPage = await fan.get('/account/notifications?saved=1', web1)
    expect(settingsPage.text).toContain('Saved.')
    await db().collection('notifications').updateMany({userId: await idOf('bea')}, {$unset: {readAt: ''}})
    const first = await runJob('notify.digest', {}, 30_000, {jobId: 'digest-test-1'})
    expect(first).toEqual({status: 'done', mails: 1, notifications: 1})
    const digest = await waitFor('the digest', async () => (await mailpit.mailTo('bea@example.test')).find((m) => m.subject.startsWith('1 new notification')), {timeoutMs: 30_000, intervalMs: 250})
    expect(digest.text).toContain('nova mentioned you')
    expect(linkIn(digest, `${front}/notifications/unsubscribe/`)).toMatch(/\/digest\//)
    const second = await runJob('notify.digest', {}, 30_000, {jobId: 'digest-test-2'})
    expect(second).toEqual({status: 'done', mails: 0, notifications: 0})
    // The settings as the person sees them, on a desktop and a phone.
    await fanPage.goto(`${web2}/account/notifications`)
    expect(await fanPage.getByRole('group', {name: 'Someone mentions you'}).getByLabel('In a daily digest mail').isChecked()).toBe(true)
    expect(await screenshotDesktopAndPhone(fanPage, 'notification-settings'), 'the settings on a phone').toBeLessThanOrEqual(PHONE.width)
  })

  it("a site moderator disabling the channel tells its owner why", async () => {
    const created = await runAdminOperation('user.create', {username: 'site-staff', email: 'site-staff@example.test', role: 'moderator'}, {...site.env, SHING_COMPONENT: 'web'})
    const staff = new FormClient(web1, '198.51.100.143')
    expect((await staff.submit('/login', '/login', {login: 'site-staff', password: createdUserSchema.parse(created.reply.ok ? created.reply.result : undefined).password})).status).toBe(303)
    expect((await staff.submit('/admin/channels', `/admin/channels/${CHANNEL}/disable`, {reason: 'Spam <links> in the title'})).status).toBe(303)
    const list = await streamer.get('/notifications', web1)
    expect(list.text).toContain(`Your channel ${CHANNEL} was disabled by the site&#39;s moderators: Spam &lt;links&gt; in the title`)
  })
})

