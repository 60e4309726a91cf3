/**
 * Moderation through real processes (web and ingest on real Redis, FerretDB and MinIO, ffmpeg
 * publishing, Chromium): a viewer reports a channel, a site moderator reads the report (the
 * viewer's words as text) and disables the channel, which ends its live broadcast within seconds,
 * leaves every list, answers "disabled" on its page and is refused at the ingest with words the
 * encoder prints; enabling it lets it publish again. A moderator is kept out of accounts,
 * settings and nodes; the admin sees the nodes and the health checks, and every action in the
 * audit log.
 */
import type {Page} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {createdUserSchema, streamStateKey} from '../../../appliance/contract/index.js'
import {runAdminOperation} from '../../harness/appliance.js'
import {PHONE, screenshotDesktopAndPhone} from '../../harness/artifacts.js'
import {launchChromium, recordDialogs, type RunningChromium} from '../../harness/chromium.js'
import {FormClient, signUpThroughForm} from '../../harness/http-client.js'
import {startLiveSite, type LiveSite} from '../../harness/live-site.js'
import {waitFor, type ManagedProcess} from '../../harness/process.js'
import {publishTestStream, publishWhenThereIsRoom} from '../../harness/rtmp.js'

let site: LiveSite
let chromium: RunningChromium
let page: Page
let web: string
let owner: FormClient
let viewer: FormClient
let moderator: FormClient
let admin: FormClient
let streamKey: string
const credentials = {moderator: '', admin: ''}
const publishers: ManagedProcess[] = []
const dialogs: string[] = []

const PASSWORD = 'correct horse battery staple'
const CHANNEL = 'loud-corner'
const DETAILS = 'He shouts <img src=x onerror=alert(1)> at 12:30\n<script>alert("details")</script> & worse'
const REASON = 'Harassment of viewers in the broadcast of 6 December'

beforeAll(async () => {
  // One small rung: the box running this has 2 cores.
  site = await startLiveSite({adjustProfile: (p) => ({...p, ladder: [{name: '180p', height: 180, fps: 15, videoKbps: 300, audioKbps: 64}]})})
  await Promise.all([site.start('web'), site.start('ingest')])
  web = `http://127.0.0.1:${site.get('web').httpPort}`
  owner = await signUp('corner-owner', '198.51.100.80')
  viewer = await signUp('upset-viewer', '198.51.100.81')
  expect(await owner.submit('/dashboard', '/dashboard/channels', {name: CHANNEL, title: 'Shouting hour'})).toMatchObject({status: 303})
  streamKey = await site.streamKey(CHANNEL)
  credentials.moderator = await makeUser('site-mod', 'moderator')
  credentials.admin = await makeUser('site-admin', 'admin')
  moderator = await logIn('site-mod', credentials.moderator, '198.51.100.82')
  admin = await logIn('site-admin', credentials.admin, '198.51.100.83')
  chromium = await launchChromium()
  page = recordDialogs(await chromium.newPage(), dialogs)
})

afterAll(async () => {
  await Promise.allSettled(publishers.map((p) => p.stop()))
  await chromium?.close().catch(() => undefined)
  await site?.stop()
})

const signUp = (username: string, address: string): Promise<FormClient> => signUpThroughForm(web, username, {password: PASSWORD, address})

async function makeUser(username: string, role: 'admin' | 'moderator'): Promise<string> {
  const created = await runAdminOperation('user.create', {username, email: `${username}@example.test`, role}, {...site.env, SHING_COMPONENT: 'web'})
  return createdUserSchema.parse(created.reply.ok ? created.reply.result : undefined).password
}

async function logIn(username: string, password: string, address: string): Promise<FormClient> {
  const client = new FormClient(web, address)
  expect((await client.submit('/login', '/login', {login: username, password})).status).toBe(303)
  return client
}

/** Logs the browser in as someone else. */
async function browserLogIn(username: string, password: string): Promise<void> {
  await page.context().clearCookies()
  await page.goto(`${web}/login`)
  await page.getByLabel('Username or e-mail').fill(username)
  await page.getByLabel('Password').fill(password)
  await page.getByRole('button', {name: 'Log in'}).click()
  await page.waitForURL((url) => url.pathname !== '/login')
}

/** A screenshot on a desktop and one on a phone, where nothing may be wider than the screen. */
async function look(name: string): Promise<void> {
  expect(await screenshotDesktopAndPhone(page, name), `${name} on a phone`).toBeLessThanOrEqual(PHONE.width)
}

const rtmpUrl = (): string => `rtmp://127.0.0.1:${site.get('ingest').rtmpPort}/live/${streamKey}`
const isLive = async (): Promise<boolean> => (await site.client.get(streamStateKey(CHANNEL))) !== null
const frontPageLists = async (): Promise<boolean> => (await new FormClient(web).get('/')).text.includes(`href="/c/${CHANNEL}"`)

async function publish(): Promise<ManagedProcess> {
  const publisher = await publishWhenThereIsRoom({url: rtmpUrl(), size: '320x180', fps: 15, timeoutMs: 60_000})
  publishers.push(publisher)
  return publisher
}

describe('reports from viewers', () => {
  it('the channel page has a "Report" link; a visitor without an account logs in first and comes back to the form', async () => {
    expect(await new FormClient(web).get(`/c/${CHANNEL}/report`)).toMatchObject({status: 303, location: `/login?next=${encodeURIComponent(`/c/${CHANNEL}/report`)}`})
    await page.goto(`${web}/c/${CHANNEL}`)
    await look('admin-report-link')
    await page.getByRole('link', {name: 'Report this channel'}).click()
    await page.waitForURL(/\/login\?next=/)
    await page.getByLabel('Username or e-mail').fill('upset-viewer')
    await page.getByLabel('Password').fill(PASSWORD)
    await page.getByRole('button', {name: 'Log in'}).click()
    await page.waitForURL(`${web}/c/${CHANNEL}/report`)
    expect(await page.getByRole('heading', {level: 1}).textContent()).toBe(`Report ${CHANNEL}`)
    expect(await page.getByRole('radio').count()).toBe(6)
    await look('admin-report-form')
  })

  it('a viewer reports it; reporting again updates the one report; a cross-site post is refused; 5 an hour', async () => {
    const report = (reason: string) => viewer.submit(`/c/${CHANNEL}/report`, `/c/${CHANNEL}/report`, {reason, details: DETAILS})
    const first = await report('spam')
    expect(first.status).toBe(200)
    expect(first.text).toContain('Your report is sent.')
    const form = await viewer.get(`/c/${CHANNEL}/report`)
    expect(form.text).toContain('You reported this channel already')
    expect(form.text).toContain('&lt;img src=x onerror=alert(1)&gt;')
    expect((await report('harassment')).text).toContain('Your report is updated.')
    expect(await site.mongoClient.db('shing').collection('reports').countDocuments({channel: CHANNEL, status: 'open'})).toBe(1)

    // What another site's page could make the viewer's browser send: the cookie, but no token.
    const forged = await viewer.post(`/c/${CHANNEL}/report`, {reason: 'spam', details: 'forged'})
    expect(forged.status).toBe(403)
    expect(forged.text).toContain('This form has expired')
    const unknown = await viewer.submit(`/c/${CHANNEL}/report`, `/c/${CHANNEL}/report`, {reason: 'because', details: ''})
    expect(unknown.status).toBe(400)
    expect(unknown.text).toContain('Choose what is wrong with this channel.')
    // Two accepted and one refused for its reason so far (the forged one never counted): two more pass, then 429.
    for (let i = 0; i < 2; i++) expect((await report('harassment')).status).toBe(200)
    const limited = await report('harassment')
    expect(limited.status).toBe(429)
    expect(limited.text).toContain('Too many attempts')
  })

  it('a moderator reads it in Chromium, the details as the text typed, and has no way into accounts, settings or nodes', async () => {
    await browserLogIn('site-mod', credentials.moderator)
    expect(await page.locator('.site-header').getByRole('link', {name: 'Moderation'}).count()).toBe(1)
    await page.goto(`${web}/admin/reports`)
    const report = page.locator('li.report')
    expect(await report.count()).toBe(1)
    expect(await report.locator('.report-head').textContent()).toMatch(new RegExp(`${CHANNEL}.*Harassment or hate.*by upset-viewer`))
    expect(await report.locator('.report-details').textContent()).toBe(DETAILS)
    expect(await page.locator('main img').count()).toBe(0)
    expect(await page.getByRole('navigation', {name: 'Admin'}).textContent()).toBe('Reports Channels')
    await look('admin-reports')
    expect(dialogs).toEqual([])

    for (const path of ['/admin', '/admin/settings', '/admin/nodes', '/admin/audit']) {
      const answer = await moderator.get(path)
      expect(answer.status, path).toBe(403)
      expect(answer.text, path).toContain('Admins only')
    }
    const settings = await moderator.submit('/admin/reports', '/admin/settings', {title: 'Taken over', registration: 'open', rules: ''})
    expect(settings.status).toBe(403)
    // A plain user gets neither part.
    expect((await viewer.get('/admin/reports')).status).toBe(403)
  })
})

describe('disabling a channel', () => {
  it('ends its live broadcast within seconds, takes it off the front page and search, and its page says it is disabled', async () => {
    const publisher = await publish()
    await waitFor(`${CHANNEL} live`, isLive, {timeoutMs: 15_000})
    await waitFor('the front page to list it', frontPageLists, {timeoutMs: 10_000, intervalMs: 500})

    await page.goto(`${web}/admin/reports`)
    expect(await page.locator('li.report .live-dot').count()).toBe(1)
    await page.locator('li.report').getByLabel(`Why ${CHANNEL} is disabled (its owner reads this)`).fill(REASON)
    const since = Date.now()
    await page.getByRole('button', {name: `Disable ${CHANNEL}`}).click()
    await page.waitForURL(`${web}/admin/reports`)
    expect(await page.locator('main').getByRole('status').textContent()).toContain(`${CHANNEL} is disabled: its broadcast ends within seconds.`)
    const exit = await Promise.race([publisher.exited, new Promise<undefined>((resolve) => setTimeout(resolve, 12_000))])
    expect(exit, 'ffmpeg still publishing 12 s after the channel was disabled').toBeDefined()
    await waitFor(`${CHANNEL} offline`, async () => !(await isLive()), {timeoutMs: 5000})
    expect(Date.now() - since).toBeLessThan(12_000)
    // The report is closed with what was done.
    expect(await page.locator('li.report').count()).toBe(0)
    expect(await page.locator('table.admin').textContent()).toContain('Channel disabled by site-mod')

    await waitFor('the front page without it', async () => !(await frontPageLists()), {timeoutMs: 10_000, intervalMs: 500})
    expect((await new FormClient(web).get(`/search?q=${CHANNEL}`)).text).not.toContain(`href="/c/${CHANNEL}"`)
    const gone = await waitFor('the channel page to say it is disabled', async () => {
      const answer = await new FormClient(web).get(`/c/${CHANNEL}`)
      return answer.status === 410 ? answer : undefined
    }, {timeoutMs: 5000, intervalMs: 250})
    expect(gone.text).toContain('This channel is disabled')
    expect((await viewer.get(`/c/${CHANNEL}/report`)).status).toBe(410)
    await page.goto(`${web}/c/${CHANNEL}`)
    await look('admin-channel-disabled-page')
  })

  it('the ingest refuses a publish with a valid key, in words the encoder prints', async () => {
    const refused = await publishTestStream({url: rtmpUrl(), size: '320x180', fps: 15}).then(
      async (publisher) => {
        publishers.push(publisher)
        const exit = await Promise.race([publisher.exited, new Promise<undefined>((resolve) => setTimeout(resolve, 10_000))])
        expect(exit, 'ffmpeg still publishing 10 s after a refused publish').toBeDefined()
        return publisher.output()
      },
      (error: Error) => error.message,
    )
    expect(refused).toContain(`Server error: ${CHANNEL} is disabled by the site's moderators: your dashboard says why`)
    expect(await site.metric('ingest', 'shing_ingest_publish_refused_total', {reason: 'disabled'})).toBe(1)
    expect(await isLive()).toBe(false)
    // And the dashboard says why, as the refusal promised.
    const dashboard = await owner.get(`/dashboard/c/${CHANNEL}`)
    expect(dashboard.text).toMatch(/id="channel-disabled"><strong>This channel is disabled by the site's moderators<\/strong> \(site-mod, /)
  })

  it('the channels page shows it disabled with the reason; enabling it lets it publish again', async () => {
    await page.goto(`${web}/admin/channels`)
    const row = page.locator('table.channels-admin tr', {hasText: CHANNEL})
    expect(await row.textContent()).toContain(`Disabled by site-mod`)
    expect(await row.textContent()).toContain(REASON)
    expect(await row.textContent()).toContain('corner-owner')
    await look('admin-channels')
    await page.getByRole('button', {name: `Enable ${CHANNEL}`}).click()
    await page.waitForURL(`${web}/admin/channels`)
    expect(await page.locator('main').getByRole('status').textContent()).toContain(`${CHANNEL} is enabled again`)

    const publisher = await publish()
    await waitFor(`${CHANNEL} live again`, isLive, {timeoutMs: 15_000})
    // The web sweeps who is live every few seconds.
    await waitFor('the channels page to show it live', async () => {
      await page.goto(`${web}/admin/channels?q=corner`)
      return (await page.locator('table.channels-admin tr', {hasText: CHANNEL}).locator('.live-dot').count()) === 1
    }, {timeoutMs: 10_000, intervalMs: 500})
    await look('admin-channels-live')
    await publisher.stop()
    await waitFor(`${CHANNEL} offline`, async () => !(await isLive()), {timeoutMs: 10_000})
    await waitFor('the channel page back', async () => (await new FormClient(web).get(`/c/${CHANNEL}`)).status === 200, {timeoutMs: 5000, intervalMs: 250})
  })

  it('a moderator dismisses a report; a channel action without the form token is refused', async () => {
    expect((await admin.submit(`/c/${CHANNEL}/report`, `/c/${CHANNEL}/report`, {reason: 'copyright', details: ''})).status).toBe(200)
    await page.goto(`${web}/admin/reports`)
    await page.getByRole('button', {name: `Dismiss the report of site-admin on ${CHANNEL}`}).click()
    await page.waitForURL(`${web}/admin/reports`)
    expect(await page.locator('main').getByRole('status').textContent()).toContain(`The report on ${CHANNEL} is dismissed.`)
    expect(await page.locator('table.admin').textContent()).toContain('Dismissed by site-mod')

    const forged = await moderator.post(`/admin/channels/${CHANNEL}/disable`, {reason: 'forged'})
    expect(forged.status).toBe(403)
    expect((await new FormClient(web).get(`/c/${CHANNEL}`)).status).toBe(200)
  })
})

describe('the admin', () => {
  it('sees the nodes registry (the ingest, with its load) and the health of what the web depends on', async () => {
    const nodes = await admin.get('/admin/nodes')
    expect(nodes.status).toBe(200)
    expect(nodes.text).toContain(`rtmp ${site.get('ingest').rtmpPort}`)
    for (const check of ['redis', 'mongo', 's3']) expect(nodes.text).toContain(`<li><strong>${check}</strong> <span class="state-ok">ok</span></li>`)
    await browserLogIn('site-admin', credentials.admin)
    await page.goto(`${web}/admin/nodes`)
    expect(await page.getByRole('heading', {name: 'Ingests'}).count()).toBe(1)
    await look('admin-nodes')
  })

  it('reads every moderation action in the audit log, with who did it', async () => {
    const audit = await admin.get('/admin/audit')
    const rows = [...audit.text.matchAll(/<tr><td><time[^>]*>[^<]*<\/time><\/td><td>([^<]*)<\/td><td><code>([^<]*)<\/code><\/td><td>([^<]*)<\/td>/g)].map((m) => `${m[1]} ${m[2]} ${m[3]}`)
    expect(rows.slice(0, 3)).toEqual([`site-mod report.dismiss ${CHANNEL}`, `site-mod channel.enable ${CHANNEL}`, `site-mod channel.disable ${CHANNEL}`])
    expect(audit.text).toContain(`reason: ${REASON}, broadcastEnded: true, reportsClosed: 1`)
  })
})
