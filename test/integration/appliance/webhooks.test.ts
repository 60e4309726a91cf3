/**
 * Outgoing webhooks through real processes (two webs, an ingest and a worker on real Redis,
 * FerretDB and MinIO; Chromium; ffmpeg publishing over RTMP) and a real HTTP receiver on
 * 127.0.0.1 (the site allows private addresses for it): a streamer adds webhooks on the dashboard;
 * going live and offline reach the receiver signed with the secret shown there (checked as
 * docs/webhooks.md tells a receiver to); a receiver answering 500 gets the same delivery again
 * after a backoff, one answering 410 is not tried again; a post reaches it once even when its
 * channel.event runs again; the dashboard shows each delivery's outcome. A web whose site does
 * not allow private addresses refuses one in the form, saying why.
 */
import {createHmac, timingSafeEqual} from 'node:crypto'
import http from 'node:http'
import {once} from 'node:events'

import pino from 'pino'
import type {Page} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {MONGO_DATABASE, streamStateKey} from '../../../appliance/contract/index.js'
import {JobQueues} from '../../../appliance/jobs/queues.js'
import {PHONE, screenshotDesktopAndPhone} from '../../harness/artifacts.js'
import {launchChromium, type RunningChromium} from '../../harness/chromium.js'
import {FormClient, signUpThroughForm} from '../../harness/http-client.js'
import {startLiveSite, type LiveSite} from '../../harness/live-site.js'
import {waitFor, type ManagedProcess} from '../../harness/process.js'
import {publishWhenThereIsRoom} from '../../harness/rtmp.js'

const PASSWORD = 'hooks and their secrets'
const CHANNEL = 'hook-line'

interface Received {
  path: string
  headers: http.IncomingHttpHeaders
  body: string
  at: number
}

let site: LiveSite
let web: string
/** A web of a site that does not allow private addresses. */
let strictWeb: string
let chromium: RunningChromium
let page: Page
let owner: FormClient
let receiver: http.Server
let receiverUrl: string
let publisher: ManagedProcess | undefined
let jobs: JobQueues
const received: Received[] = []
let flakyAnswers = 0

beforeAll(async () => {
  site = await startLiveSite({adjustProfile: (p) => ({...p, hls: {...p.hls, segmentSeconds: 2, partSeconds: 0.5}, ladder: [{name: '360p', height: 360, fps: 15, videoKbps: 500, audioKbps: 64}]})})
  const allow = {SHING_COMMUNITY: JSON.stringify({webhooks: {allowPrivateAddresses: true}})}
  await Promise.all([site.start('web', allow), site.start('web-2', {SHING_COMMUNITY: JSON.stringify({webhooks: {allowPrivateAddresses: false}})}), site.start('ingest'), site.start('worker', allow)])
  web = `http://127.0.0.1:${site.get('web').httpPort}`
  strictWeb = `http://127.0.0.1:${site.get('web-2').httpPort}`
  owner = await signUpThroughForm(web, 'hook-owner', {password: PASSWORD, address: '198.51.100.150'})
  expect(await owner.submit('/dashboard', '/dashboard/channels', {name: CHANNEL, title: 'Hooked'})).toMatchObject({status: 303})

  // The receiver: /hook answers 204, /flaky 500 the first time then 200, /gone 410.
  receiver = http.createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const path = request.url ?? '/'
      received.push({path, headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now()})
      if (path === '/flaky') response.writeHead(flakyAnswers++ === 0 ? 500 : 200).end('ok')
      else if (path === '/gone') response.writeHead(410).end('gone')
      else response.writeHead(204).end()
    })
  })
  receiver.listen(0, '127.0.0.1')
  await once(receiver, 'listening')
  receiverUrl = `http://127.0.0.1:${(receiver.address() as {port: number}).port}`
  jobs = new JobQueues(site.redisEndpoint, site.client, pino({level: 'silent'}))
  chromium = await launchChromium()
  const context = await chromium.browser.newContext({timezoneId: 'Europe/Berlin', locale: 'en-GB'})
  await context.addCookies([{name: 'shing_session', value: owner.cookie('shing_session')!, url: web}])
  page = await context.newPage()
})

afterAll(async () => {
  await publisher?.stop().catch(() => undefined)
  await jobs?.close()
  await chromium?.close().catch(() => undefined)
  receiver?.close()
  await site?.stop()
})

const db = () => site.mongoClient.db(MONGO_DATABASE)
const at = (path: string, event?: string): Received[] => received.filter((r) => r.path === path && (event === undefined || r.headers['x-shing-event'] === event))

/** What docs/webhooks.md tells a receiver to do: HMAC-SHA256 of "<t>.<raw body>" with the secret, compared in constant time. */
function verifies(delivery: Received, secret: string): boolean {
  const header = String(delivery.headers['x-shing-signature'] ?? '')
  const parts = Object.fromEntries(header.split(',').map((p) => p.split('=', 2) as [string, string]))
  if (parts.t === undefined || parts.v1 === undefined) return false
  const expected = createHmac('sha256', secret).update(`${parts.t}.${delivery.body}`).digest()
  const given = Buffer.from(parts.v1, 'hex')
  return given.length === expected.length && timingSafeEqual(given, expected)
}

let secret: string
let streamId: string

describe('webhooks', () => {
  it('a streamer adds a webhook on the dashboard and sees its secret', async () => {
    await page.goto(`${web}/dashboard/c/${CHANNEL}`)
    await page.getByRole('link', {name: 'Webhooks'}).click()
    await page.waitForURL(`${web}/dashboard/c/${CHANNEL}/webhooks`)
    expect(await page.locator('main').textContent()).toContain('No webhook yet.')
    await page.getByLabel('Address').fill(`${receiverUrl}/hook`)
    // Every event is chosen to begin with.
    expect(await page.getByLabel('Went live').isChecked()).toBe(true)
    expect(await page.getByLabel('New post').isChecked()).toBe(true)
    await page.getByRole('button', {name: 'Add the webhook'}).click()
    await page.waitForURL(/\/webhooks\?done=added/)
    expect(await page.locator('.notice.ok').textContent()).toBe('The webhook is added: its secret is below.')
    secret = await page.locator('#secret-0').inputValue()
    expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{32}$/)
    // Two more, for live only: one that fails once, one that refuses.
    for (const path of ['/flaky', '/gone']) {
      expect(await owner.submit(`/dashboard/c/${CHANNEL}/webhooks`, `/dashboard/c/${CHANNEL}/webhooks`, {url: `${receiverUrl}${path}`, events: 'live'})).toMatchObject({status: 303})
    }
    expect(await db().collection('webhooks').countDocuments({channel: CHANNEL})).toBe(3)
  })

  it('a site that does not allow private addresses refuses one in the form, saying why', async () => {
    const refused = await owner.submit(`/dashboard/c/${CHANNEL}/webhooks`, `/dashboard/c/${CHANNEL}/webhooks`, {url: `${receiverUrl}/hook`, events: 'live'}, strictWeb)
    expect(refused.status).toBe(400)
    expect(refused.text).toContain('127.0.0.1 is a private, loopback or link-local address: webhooks go to public addresses only on this site.')
    const named = await owner.submit(`/dashboard/c/${CHANNEL}/webhooks`, `/dashboard/c/${CHANNEL}/webhooks`, {url: 'http://localhost:9/hook', events: 'live'}, strictWeb)
    expect(named.status).toBe(400)
    expect(named.text).toMatch(/localhost is a private, loopback or link-local address \((127\.0\.0\.1|::1)\)/)
    const scheme = await owner.submit(`/dashboard/c/${CHANNEL}/webhooks`, `/dashboard/c/${CHANNEL}/webhooks`, {url: 'ftp://example.org/', events: 'live'}, strictWeb)
    expect(scheme.text).toContain('Only https:// (or http://) addresses.')
    expect(await db().collection('webhooks').countDocuments({channel: CHANNEL})).toBe(3)
    // As the streamer sees it (the same session on the other web).
    await page.goto(`${strictWeb}/dashboard/c/${CHANNEL}/webhooks`)
    await page.getByLabel('Address').fill('http://10.0.0.7/hook')
    await page.getByRole('button', {name: 'Add the webhook'}).click()
    await page.locator('#url-error').waitFor()
    expect(await page.locator('#url-error').textContent()).toBe('10.0.0.7 is a private, loopback or link-local address: webhooks go to public addresses only on this site.')
    expect(await page.getByLabel('Address').getAttribute('aria-invalid')).toBe('true')
    await page.locator('#add').scrollIntoViewIfNeeded()
    const width = await screenshotDesktopAndPhone(page, 'webhooks-refused')
    expect(width).toBeLessThanOrEqual(PHONE.width)
  })

  it('going live reaches the receiver signed with the secret; a 500 gets it again after a backoff; a 410 is not retried', async () => {
    const key = await site.streamKey(CHANNEL)
    publisher = await publishWhenThereIsRoom({url: `rtmp://127.0.0.1:${site.get('ingest').rtmpPort}/live/${key}`, size: '640x360', fps: 15, timeoutMs: 60_000})
    const state = await waitFor('the channel live', async () => site.client.get(streamStateKey(CHANNEL)).then((v) => v ?? undefined), {timeoutMs: 30_000})
    streamId = (JSON.parse(state) as {streamId: string}).streamId
    const [live] = await waitFor('the live delivery', async () => (at('/hook', 'live').length > 0 ? at('/hook', 'live') : undefined), {timeoutMs: 30_000, intervalMs: 100})
    expect(verifies(live!, secret)).toBe(true)
    expect(verifies(live!, 'whsec_someone-else')).toBe(false)
    expect(live!.headers['content-type']).toBe('application/json')
    expect(live!.headers['x-shing-delivery']).toMatch(/^[a-f0-9]{32}$/)
    const timestamp = Number(live!.headers['x-shing-timestamp'])
    expect(Math.abs(timestamp - Date.now() / 1000)).toBeLessThan(60)
    expect(String(live!.headers['x-shing-signature'])).toMatch(new RegExp(`^t=${timestamp},v1=[a-f0-9]{64}$`))
    const payload = JSON.parse(live!.body) as Record<string, unknown>
    expect(payload).toMatchObject({event: 'live', channel: CHANNEL, streamId, url: `${site.env.SHING_PUBLIC_URL!.replace(/\/$/, '')}/c/${CHANNEL}`})
    expect(Number.isNaN(Date.parse(String(payload.at)))).toBe(false)

    // The flaky receiver: 500, then the same delivery again about 10 s later.
    const flaky = await waitFor('the flaky receiver asked twice', async () => (at('/flaky').length >= 2 ? at('/flaky') : undefined), {timeoutMs: 60_000, intervalMs: 200})
    expect(flaky[1]!.at - flaky[0]!.at).toBeGreaterThanOrEqual(9_000)
    expect(flaky[1]!.headers['x-shing-delivery']).toBe(flaky[0]!.headers['x-shing-delivery'])
    expect(flaky[1]!.body).toBe(flaky[0]!.body)
    // By then a retry of the 410 would have come: it did not.
    expect(at('/gone')).toHaveLength(1)
    expect(at('/hook', 'live')).toHaveLength(1)
  })

  it('going offline reaches it too', async () => {
    await publisher!.stop()
    publisher = undefined
    const [offline] = await waitFor('the offline delivery', async () => (at('/hook', 'offline').length > 0 ? at('/hook', 'offline') : undefined), {timeoutMs: 60_000, intervalMs: 200})
    expect(verifies(offline!, secret)).toBe(true)
    expect(JSON.parse(offline!.body)).toMatchObject({event: 'offline', channel: CHANNEL, streamId})
    // Only /hook wants offline.
    expect(at('/flaky', 'offline')).toHaveLength(0)
  })

  it("a post reaches it once, with the post's URL, even when its channel.event runs again", async () => {
    const postId = 'a1b2c3d4e5f6a7b8c9d0e1f2'
    const event = {channel: CHANNEL, event: 'post' as const, postId, at: new Date().toISOString()}
    await jobs.enqueue('channel.event', event)
    const [post] = await waitFor('the post delivery', async () => (at('/hook', 'post').length > 0 ? at('/hook', 'post') : undefined), {timeoutMs: 30_000, intervalMs: 100})
    expect(JSON.parse(post!.body)).toMatchObject({event: 'post', channel: CHANNEL, postId, url: `${site.env.SHING_PUBLIC_URL!.replace(/\/$/, '')}/c/${CHANNEL}/posts/${postId}`})
    expect(verifies(post!, secret)).toBe(true)
    // The event's listeners run again (as in a retry): the delivery is queued under the same id, and not sent twice.
    await jobs.run('channel.event', event, 30_000, {jobId: 'channel.event-post-again'})
    await new Promise((resolve) => setTimeout(resolve, 2000))
    expect(at('/hook', 'post')).toHaveLength(1)
  })

  it('the dashboard shows each delivery; a new secret replaces the old; a webhook is removed', async () => {
    await page.goto(`${web}/dashboard/c/${CHANNEL}/webhooks`)
    const hook = page.locator('section.webhook', {hasText: '/hook'})
    const flaky = page.locator('section.webhook', {hasText: '/flaky'})
    const gone = page.locator('section.webhook', {hasText: '/gone'})
    expect(await hook.locator('td.delivery-delivered').count()).toBe(3)
    expect(await hook.locator('tbody').textContent()).toContain('Delivered (HTTP 204)')
    expect(await flaky.locator('tbody').textContent()).toContain('Delivered (HTTP 200) after 2 attempts')
    expect(await gone.locator('tbody').textContent()).toContain('Failed (HTTP 410)answered 410: not tried again (only no answer, a 5xx or a 429 is)')
    const width = await screenshotDesktopAndPhone(page, 'webhooks-dashboard')
    expect(width).toBeLessThanOrEqual(PHONE.width)

    await hook.getByRole('button', {name: /Make a new secret/}).click()
    await page.waitForURL(/done=secret/)
    const renewed = await page.locator('section.webhook', {hasText: '/hook'}).locator('input[readonly]').inputValue()
    expect(renewed).not.toBe(secret)
    expect(renewed).toMatch(/^whsec_/)
    await page.locator('section.webhook', {hasText: '/gone'}).getByRole('button', {name: /Remove the webhook/}).click()
    await page.waitForURL(/done=removed/)
    expect(await page.locator('section.webhook').count()).toBe(2)
    expect(await db().collection('webhook_deliveries').countDocuments({webhookId: {$exists: true}, channel: CHANNEL})).toBe(4)
  })
})
