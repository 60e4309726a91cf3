/**
 * The community, end to end (`npm run e2e:community`): real Redis, FerretDB, MinIO, Mailpit and
 * ffmpeg, two web instances, an ingest and a worker as processes behind one front, Chromium, and a
 * webhook receiver on 127.0.0.1. B follows A's channel with live alerts on (in the browser); A adds
 * a webhook and publishes a post (in the browser); B's home timeline shows it; A goes live; B's
 * bell, its socket on the other web instance, turns to 1 without a reload; Mailpit holds one
 * went-live mail for B; the receiver gets the signed `live` delivery, whose signature checks out
 * with the secret the dashboard shows; A deletes the post and it leaves B's timeline.
 * Ends with `community e2e: timeline=ok bell=ok mail=<n> webhook=ok`.
 */
import {createHmac, timingSafeEqual} from 'node:crypto'
import {createServer, type IncomingHttpHeaders, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'

import type {Page} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {PHONE, screenshotDesktopAndPhone} from '../harness/artifacts.js'
import {launchChromium, recordDialogs, type RunningChromium} from '../harness/chromium.js'
import {signUpThroughForm, type FormClient} from '../harness/http-client.js'
import {startLiveSite, type LiveSite} from '../harness/live-site.js'
import {linkIn, mailpitEnv, startMailpit, type MailpitServer} from '../harness/mailpit.js'
import {waitFor, type ManagedProcess} from '../harness/process.js'
import {publishWhenThereIsRoom} from '../harness/rtmp.js'

const PASSWORD = 'a community gathers at dusk'
const CHANNEL = 'dusk-radio'
const POST_TEXT = 'Tonight at nine: **the long set**. <script>alert(1)</script>'

let site: LiveSite
let mailpit: MailpitServer
let chromium: RunningChromium
let front = ''
let streamer: FormClient
let publisher: ManagedProcess | undefined
/** B's browser: every request through the front, its sockets pinned to web-2. */
let fanPage: Page
/** A's browser, pinned to web. */
let ownerPage: Page
const dialogs: string[] = []
const figures = {timeline: 'no', bell: 'no', mail: -1, webhook: 'no'}

interface Delivery {
  headers: IncomingHttpHeaders
  body: string
}
const deliveries: Delivery[] = []
let receiver: Server
let receiverUrl = ''

/** Signs up through the form and confirms the address from the mail, as a person does. */
async function signUpConfirmed(username: string, address: string): Promise<FormClient> {
  const client = await signUpThroughForm(front, username, {password: PASSWORD, address})
  const mail = await mailpit.waitForMail(`${username}@example.test`)
  expect((await client.get(linkIn(mail, `${front}/verify-email?token=`).slice(front.length))).status).toBe(303)
  return client
}

/** A browser of its own, logged in as the client's account, its sockets on `instance`. */
async function browserOf(client: FormClient, instance: string): Promise<Page> {
  const context = await chromium.browser.newContext({viewport: {width: 1280, height: 800}, extraHTTPHeaders: {'x-front-prefer': instance}})
  await context.addCookies([{name: 'shing_session', value: client.cookie('shing_session')!, url: front}])
  return recordDialogs(await context.newPage(), dialogs)
}

const wentLiveMails = async (): Promise<number> => (await mailpit.mailTo('dusk-fan@example.test')).filter((m) => m.subject.startsWith(`${CHANNEL} is live`)).length

/** What the home timeline shows B: the posts' ids, on a fresh load. */
async function timelineIds(): Promise<string[]> {
  await fanPage.goto(`${front}/home`)
  return fanPage.locator('main article.post').evaluateAll((posts) => posts.map((p) => p.id.replace(/^post-/, '')))
}

beforeAll(async () => {
  receiver = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      deliveries.push({headers: request.headers, body: Buffer.concat(chunks).toString('utf8')})
      response.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/shing`
  ;[site, mailpit] = await Promise.all([
    // A small ladder: the 2-core box runs two webs, an ingest, a worker and Chromium at once.
    startLiveSite({adjustProfile: (p) => ({...p, hls: {segmentSeconds: 2, partSeconds: 0.5}, ladder: [{name: '240p', height: 240, fps: 15, videoKbps: 400, audioKbps: 64}]})}),
    startMailpit(),
  ])
  front = site.frontUrl()
  const env = {
    SHING_PUBLIC_URL: front,
    ...(await mailpitEnv(mailpit, site.env.SHING_SECRETS_DIR!, 'Dusk <community@example.test>')),
    // The receiver is on 127.0.0.1: a site allows that only when told to.
    SHING_COMMUNITY: JSON.stringify({webhooks: {allowPrivateAddresses: true}}),
  }
  await Promise.all(['web', 'web-2', 'ingest', 'worker'].map((id) => site.start(id, env)))
  streamer = await signUpConfirmed('dusk-host', '198.51.100.160')
  expect(await streamer.submit('/dashboard', '/dashboard/channels', {name: CHANNEL, title: 'Dusk <radio> hour'})).toMatchObject({status: 303})
  const fan = await signUpConfirmed('dusk-fan', '198.51.100.161')
  chromium = await launchChromium()
  fanPage = await browserOf(fan, 'web-2')
  ownerPage = await browserOf(streamer, 'web')
})

afterAll(async () => {
  process.stdout.write(`community e2e: timeline=${figures.timeline} bell=${figures.bell} mail=${figures.mail} webhook=${figures.webhook}\n`)
  await publisher?.stop().catch(() => undefined)
  await chromium?.close().catch(() => undefined)
  await site?.stop()
  await mailpit?.stop()
  await new Promise<void>((resolve) => receiver?.close(() => resolve()))
})

describe('a community around a channel', () => {
  let postId = ''
  let secret = ''

  it('B follows the channel from its page, live alerts on', async () => {
    await fanPage.goto(`${front}/c/${CHANNEL}`)
    await fanPage.getByRole('button', {name: 'Follow', exact: true}).click()
    await fanPage.waitForURL(`${front}/c/${CHANNEL}`)
    await expect(fanPage.getByRole('button', {name: 'Live alerts on'}).isVisible()).resolves.toBe(true)
    expect(await fanPage.locator('#followers').textContent()).toBe('1 follower')
  })

  it('A adds a webhook for going live on the dashboard and sees its secret', async () => {
    await ownerPage.goto(`${front}/dashboard/c/${CHANNEL}/webhooks`)
    await ownerPage.locator('input[name="url"]').fill(receiverUrl)
    await ownerPage.locator('input[name="events"][value="live"]').check()
    await ownerPage.locator('input[name="events"][value="live"]').press('Enter')
    await ownerPage.waitForURL((url) => url.searchParams.get('done') === 'added')
    secret = await ownerPage.locator('input[id^="secret-"]').first().inputValue()
    expect(secret).toMatch(/^whsec_/)
  })

  it("A publishes a post; it is on B's home timeline, its script shown as text", async () => {
    await ownerPage.goto(`${front}/c/${CHANNEL}/posts`)
    await ownerPage.locator('#post-markdown').fill(POST_TEXT)
    await ownerPage.locator('form:has(#post-markdown) button[type="submit"]').click()
    await ownerPage.waitForURL(new RegExp(`/c/${CHANNEL}/posts/[a-f0-9]{24}$`))
    postId = ownerPage.url().split('/').pop()!
    // The worker writes it into B's timeline (post.fanout).
    await waitFor("the post on B's timeline", async () => ((await timelineIds()).includes(postId) ? true : undefined), {timeoutMs: 30_000, intervalMs: 500})
    const post = fanPage.locator(`#post-${postId}`)
    expect(await post.locator('strong').textContent()).toBe('the long set')
    expect(await post.locator('.post-body').textContent()).toContain('<script>alert(1)</script>')
    expect(await post.locator('script').count()).toBe(0)
    expect(await screenshotDesktopAndPhone(fanPage, 'community-home-timeline'), 'the timeline on a phone').toBeLessThanOrEqual(PHONE.width)
    figures.timeline = 'ok'
  })

  it("A goes live: B's bell turns to 1 without a reload, one went-live mail, and the signed webhook", async () => {
    await fanPage.goto(`${front}/home`)
    await fanPage.waitForFunction(() => (window as unknown as {shingBell?: {socket: {connected: boolean}}}).shingBell?.socket.connected === true, undefined, {timeout: 15_000})
    const unreadBefore = Number((await fanPage.locator('#bell').getAttribute('data-unread')) ?? '0')
    const key = await site.streamKey(CHANNEL)
    const started = Date.now()
    publisher = await publishWhenThereIsRoom({url: `rtmp://127.0.0.1:${site.get('ingest').rtmpPort}/live/${key}`, size: '426x240', fps: 15, timeoutMs: 60_000})
    await fanPage.waitForFunction((before) => document.getElementById('bell')?.dataset.unread === String(before + 1), unreadBefore, {timeout: 30_000, polling: 100})
    process.stdout.write(`community: went live → B's bell (web-2) rang ${((Date.now() - started) / 1000).toFixed(1)} s after the publish began\n`)
    expect(await fanPage.locator('#bell').getAttribute('aria-label')).toBe(`Notifications, ${unreadBefore + 1} unread`)
    figures.bell = 'ok'

    const hook = await waitFor('the live webhook', async () => deliveries.find((d) => d.headers['x-shing-event'] === 'live'), {timeoutMs: 30_000, intervalMs: 250})
    const {t, v1} = Object.fromEntries(String(hook.headers['x-shing-signature']).split(',').map((part) => part.split('=', 2))) as {t: string; v1: string}
    const expected = createHmac('sha256', secret).update(`${t}.${hook.body}`).digest()
    expect(timingSafeEqual(Buffer.from(v1, 'hex'), expected)).toBe(true)
    expect(JSON.parse(hook.body)).toMatchObject({event: 'live', channel: CHANNEL, url: `${front}/c/${CHANNEL}`})
    figures.webhook = 'ok'

    await waitFor('the went-live mail', async () => ((await wentLiveMails()) >= 1 ? true : undefined), {timeoutMs: 30_000, intervalMs: 500})
    figures.mail = await wentLiveMails()
    expect(figures.mail).toBe(1)
  })

  it('the notification leads to the live channel, and reading it empties the bell', async () => {
    await fanPage.locator('#bell').click()
    await fanPage.waitForURL(`${front}/notifications`)
    await fanPage.getByRole('link', {name: new RegExp(`${CHANNEL} is live`)}).first().click()
    await fanPage.waitForURL(`${front}/c/${CHANNEL}`)
    expect(await fanPage.locator('#bell').getAttribute('aria-label')).toBe('Notifications, none unread')
  })

  it("A deletes the post: it leaves B's timeline", async () => {
    const answer = await streamer.submit(`/c/${CHANNEL}/posts/${postId}`, `/c/${CHANNEL}/posts/${postId}/delete`, {})
    expect(answer.status).toBe(303)
    await waitFor("the post gone from B's timeline", async () => (!(await timelineIds()).includes(postId) ? true : undefined), {timeoutMs: 30_000, intervalMs: 500})
    expect((await fetch(`${front}/c/${CHANNEL}/posts/${postId}`)).status).toBe(404)
    // The broadcast is still live: one went-live mail, whatever happened since.
    expect(await wentLiveMails()).toBe(1)
    expect(dialogs).toEqual([])
  })
})
