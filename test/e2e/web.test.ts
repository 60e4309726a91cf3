/**
 * The web platform's flow (`npm run e2e:web`), in Chromium against two real web instances behind
 * one front, the ingest, relay and worker as processes (real Redis, FerretDB, MinIO, and Mailpit
 * as the SMTP server): sign up, the confirmation mail arrives and its link confirms, make a channel, make a stream key (shown
 * once) with the OBS server beside it, publish with ffmpeg, see the dashboard turn live by itself,
 * change the title while live, a visitor finds the channel on the front page and watches it,
 * revoking the key ends the broadcast within seconds, and an admin's ban ends the next one and
 * the streamer's sessions. Someone else's channel is not theirs to see; hostile input is text.
 * Ends with `web e2e: <n> steps ok` when every step passed.
 */

import type {Page} from 'playwright-core'
import sharp from 'sharp'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {createdUserSchema, INGEST_ASSIGN_PATH, type Playback} from '../../appliance/contract/index.js'
import {runAdminOperation} from '../harness/appliance.js'
import {screenshot} from '../harness/artifacts.js'
import {launchChromium, recordDialogs, type RunningChromium} from '../harness/chromium.js'
import {csrfToken, FormClient} from '../harness/http-client.js'
import {BUCKET, startLiveSite, type LiveSite} from '../harness/live-site.js'
import {linkIn, mailpitEnv, startMailpit, type MailpitServer} from '../harness/mailpit.js'
import {waitFor, type ManagedProcess} from '../harness/process.js'
import {publishWhenThereIsRoom} from '../harness/rtmp.js'

let site: LiveSite
let chromium: RunningChromium
let page: Page
let web: string
let mailpit: MailpitServer
let publisher: ManagedProcess | undefined
const dialogs: string[] = []
const PASSWORD = 'night owls sing loudly'
const TITLE = '<b>Late "night" & <script>alert(1)</script></b>'

beforeAll(async () => {
  ;[site, mailpit] = await Promise.all([startLiveSite(), startMailpit()])
  // The browser goes through the front, which takes turns between the two web instances.
  web = site.frontUrl()
  const mail = {
    SHING_PUBLIC_URL: web,
    ...(await mailpitEnv(mailpit, site.env.SHING_SECRETS_DIR!, 'Night Owls <live@example.test>')),
  }
  await Promise.all(['web', 'web-2', 'ingest', 'relay', 'worker'].map((id) => site.start(id, mail)))
  chromium = await launchChromium()
  page = recordDialogs(await chromium.newPage(), dialogs)
  await page.setExtraHTTPHeaders({'x-forwarded-for': '192.0.2.10'})
})

const steps = {passed: 0, run: 0}
afterEach((context) => {
  steps.run += 1
  if (context.task.result?.state !== 'fail') steps.passed += 1
})

afterAll(async () => {
  if (steps.run > 0 && steps.passed === steps.run) process.stdout.write(`web e2e: ${steps.passed} steps ok\n`)
  await publisher?.stop().catch(() => undefined)
  await chromium?.close().catch(() => undefined)
  await site?.stop()
  await mailpit?.stop()
})

const playback = async (channel: string): Promise<Playback> => (await site.web<Playback>(`/api/streams/${channel}/playback`)).body

/** A publish as OBS makes one: to the server the assignment API gives, again while the ingest has no room. */
const publishWhenRoom = (url: string): Promise<ManagedProcess> =>
  publishWhenThereIsRoom({url, size: '640x360', hasRoom: async () => (await site.web<{rtmpUrl?: string}>(INGEST_ASSIGN_PATH)).body.rtmpUrl !== undefined})

describe('the dashboard', () => {
  let key = ''
  let server = ''

  it('a new user makes a channel; a hostile or taken name is refused with the fix', async () => {
    await page.goto(`${web}/signup`)
    await page.getByLabel('Username').fill('streamer')
    await page.getByLabel('E-mail').fill('streamer@example.test')
    await page.getByLabel('Password').fill(PASSWORD)
    await page.getByRole('button', {name: 'Sign up'}).click()
    await page.waitForURL(/\/account/)
    expect(await page.locator('.badge.warn').textContent()).toBe('not confirmed')
    await screenshot(page, 'account-unconfirmed')
    const mail = await mailpit.waitForMail('streamer@example.test')
    await page.goto(linkIn(mail, `${web}/verify-email?token=`))
    await page.waitForURL(`${web}/account?verified=1`)
    expect(await page.locator('.badge.ok').textContent()).toBe('confirmed')
    await page.getByRole('link', {name: 'Dashboard'}).click()
    await page.waitForURL(`${web}/dashboard`)
    expect(await page.textContent('main')).toContain('You have no channel yet')

    await page.getByLabel('Channel name').fill('<script>')
    await page.getByRole('button', {name: 'Create channel'}).click()
    expect(await page.locator('#name-error').textContent()).toMatch(/a-z, 0-9/)
    expect(await page.getByLabel('Channel name').inputValue()).toBe('<script>')

    await page.getByLabel('Channel name').fill('night-show')
    await page.getByLabel('Title').fill(TITLE)
    await page.getByRole('button', {name: 'Create channel'}).click()
    await page.waitForURL(`${web}/dashboard/c/night-show?created=1`)
    expect(await page.getByLabel('Title shown to viewers').inputValue()).toBe(TITLE)
    expect(await page.locator('#live-status').textContent()).toMatch(/^Offline/)
    // An avatar, as a phone's photo: redrawn as a 256×256 WebP, shown on the dashboard and in every list.
    const photo = await sharp({create: {width: 640, height: 480, channels: 3, background: '#7a4fd6'}}).jpeg().toBuffer()
    await page.getByLabel('Avatar').setInputFiles({name: 'me.jpg', mimeType: 'image/jpeg', buffer: photo})
    await page.getByRole('button', {name: 'Upload the avatar'}).click()
    await page.waitForURL(/saved=avatar/)
    expect(await page.locator('img.image-preview.kind-avatar').getAttribute('src')).toMatch(/^\/media\/channels\/night-show\/avatar-[0-9a-f]{16}\.webp$/)
    // The channel page exists now.
    expect((await fetch(`${web}/c/night-show`)).status).toBe(200)

    const other = new FormClient(web, '192.0.2.11')
    await other.submit('/signup', '/signup', {username: 'someone', email: 'someone@example.test', password: PASSWORD})
    const taken = await other.submit('/dashboard', '/dashboard/channels', {name: 'night-show', title: ''})
    expect(taken.status).toBe(400)
    expect(taken.text).toContain('That channel name is taken')
    // Someone else's dashboard is not there for them.
    expect((await other.get('/dashboard/c/night-show')).status).toBe(404)
    const forged = await other.submit('/dashboard', '/dashboard/c/night-show/keys', {})
    expect(forged.status).toBe(404)
  })

  it('a stream key is shown once, with the OBS server of the assigned ingest', async () => {
    // An ingest with no room (the 2-core box busy with other tests) is not assigned: the page
    // would rightly show the site's own RTMP address. Wait for room first, as OBS would retry.
    await waitFor('the ingest to have room', async () => (await site.web<{rtmpUrl?: string}>(INGEST_ASSIGN_PATH)).body.rtmpUrl !== undefined || undefined, {timeoutMs: 90_000, intervalMs: 1000})
    await page.getByRole('button', {name: 'Create a stream key'}).click()
    await page.waitForURL(`${web}/dashboard/c/night-show`)
    key = await page.locator('#new-key').inputValue()
    server = await page.locator('#obs-server').inputValue()
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(server).toBe(`rtmp://127.0.0.1:${site.get('ingest').rtmpPort}/live`)
    await page.reload()
    expect(await page.locator('#new-key').count()).toBe(0)
    expect(await page.locator('table.keys tbody tr').count()).toBe(1)
  })

  it('publishing with it turns the dashboard live by itself, with what the encoder sends; the title changes while live', async () => {
    publisher = await publishWhenRoom(`${server}/${key}`)
    await waitFor('the dashboard to show live without a reload', async () => (await page.locator('#live-status').getAttribute('data-live')) === 'true', {timeoutMs: 30_000, intervalMs: 500})
    expect(await page.locator('#live-status').textContent()).toMatch(/^Live since/)
    // The ingest's measurement of the encoder (ffmpeg: 640x360, 30 fps, 3000 kbit/s, a keyframe every 2 s).
    const figure = async (name: string): Promise<string> => (await page.locator(`#figure-${name}`).textContent()) ?? ''
    await waitFor('the encoder figures on the dashboard', async () => /kbit\/s video/.test(await figure('bitrate')) && /every/.test(await figure('keyframes')), {timeoutMs: 30_000, intervalMs: 500})
    expect(await figure('picture')).toMatch(/^640×360 at (29|30) fps/)
    const videoKbps = Number(/^(\d+) kbit\/s video, (\d+) kbit\/s audio$/.exec(await figure('bitrate'))?.[1])
    expect(videoKbps).toBeGreaterThan(1500)
    expect(videoKbps).toBeLessThan(4500)
    expect(await figure('keyframes')).toBe('every 2 s')
    expect(await figure('viewers')).toBe('0')
    await page.reload()
    expect(await page.locator('#live-status').textContent()).toMatch(/^Live since .+\(.*p.*\)/)
    await page.getByLabel('Title shown to viewers').fill('Live now: the night show')
    await page.getByRole('button', {name: 'Save title'}).click()
    await page.waitForURL(`${web}/dashboard/c/night-show`)
    expect(await page.getByLabel('Title shown to viewers').inputValue()).toBe('Live now: the night show')
    await screenshot(page, 'dashboard-live')
    await page.setViewportSize({width: 390, height: 844})
    await screenshot(page, 'dashboard-live-phone')
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390)
    await page.setViewportSize({width: 1280, height: 720})
  })

  it('a visitor finds the channel live on the front page with its title, and watches it on the channel page', async () => {
    const visitor = new FormClient(site.frontUrl())
    const front = await waitFor('the front page to list the channel with its title', async () => {
      const answer = await visitor.get('/')
      return answer.text.includes('Live now: the night show') ? answer.text : undefined
    }, {timeoutMs: 10_000, intervalMs: 500})
    expect(front).toMatch(/<ul class="channels live"><li><a href="\/c\/night-show">night-show<\/a>/)
    expect(front).toMatch(/\/media\/channels\/night-show\/avatar-[0-9a-f]{16}\.webp/)

    const watcher = await chromium.newPage()
    await watcher.goto(site.frontUrl())
    await screenshot(watcher, 'front-page')
    await watcher.getByRole('link', {name: 'night-show'}).click()
    await watcher.waitForURL(`${site.frontUrl()}/c/night-show`)
    expect(await watcher.locator('.stream-title').textContent()).toBe('Live now: the night show')
    await waitFor('the channel page to play 3 s', async () => watcher.evaluate(() => (document.getElementById('video') as HTMLVideoElement).currentTime > 3), {timeoutMs: 30_000, intervalMs: 500})
    // One viewer now: on the streamer's dashboard (it asks every 3 s), in the playback API, and on the front page.
    await waitFor('the dashboard to count the viewer', async () => (await page.locator('#figure-viewers').textContent()) === '1', {timeoutMs: 15_000, intervalMs: 500})
    expect((await playback('night-show')).viewers).toBe(1)
    await waitFor('the front page to count the viewer', async () => ((await visitor.get('/')).text.includes('<span class="viewers">1 viewer</span>') ? true : undefined), {timeoutMs: 10_000, intervalMs: 500})
    await screenshot(page, 'dashboard-live-watched')
    // The channel page shows it with its next look at the playback API (every 15 s while live).
    await waitFor('the channel page to count the viewer', async () => (await watcher.locator('#viewers').textContent()) === '1 viewer', {timeoutMs: 20_000, intervalMs: 500})
    await screenshot(watcher, 'channel-page')
    await watcher.close()
  })

  it('revoking the key in use ends the broadcast within seconds', async () => {
    expect((await playback('night-show')).live).toBe(true)
    const started = Date.now()
    await page.getByRole('button', {name: /^Revoke key/}).click()
    await page.waitForURL(`${web}/dashboard/c/night-show?revoked=1`)
    await waitFor('the broadcast to end', async () => !(await playback('night-show')).live, {timeoutMs: 15_000, intervalMs: 250})
    const seconds = (Date.now() - started) / 1000
    expect(seconds).toBeLessThan(10)
    await publisher?.exited
    expect(publisher?.output()).toMatch(/error|closed|broken|end of file/i)
    expect(await page.locator('table.keys').count()).toBe(0)
    expect(dialogs).toEqual([])
  })

  it('the ended broadcast is a past broadcast; deleting it takes it off the channel and its recording out of storage', async () => {
    const row = await waitFor('the recording on the dashboard', async () => {
      await page.goto(`${web}/dashboard/c/night-show`)
      return (await page.locator('table.vods tbody tr').count()) === 1 ? true : undefined
    }, {timeoutMs: 60_000, intervalMs: 1000})
    expect(row).toBe(true)
    const href = await page.locator('table.vods tbody tr a').getAttribute('href')
    const streamId = href!.split('/').pop()!
    const objects = async (): Promise<number> => {
      let count = 0
      for await (const _ of site.minio.listObjectsV2(BUCKET, `dvr/night-show/${streamId}/`, true)) count += 1
      return count
    }
    expect(await objects()).toBeGreaterThan(0)
    expect((await fetch(`${web}/c/night-show`)).status).toBe(200)
    await page.getByRole('button', {name: /^Delete the broadcast/}).click()
    await page.waitForURL(`${web}/dashboard/c/night-show?deleted=1`)
    expect(await page.locator('table.vods').count()).toBe(0)
    await waitFor('the recording gone from storage', async () => ((await objects()) === 0 ? true : undefined), {timeoutMs: 30_000, intervalMs: 500})
    await waitFor('the channel page without it', async () => (!(await (await fetch(`${web}/c/night-show`)).text()).includes(streamId) ? true : undefined), {timeoutMs: 10_000, intervalMs: 500})
  })

  it('an admin bans the streamer: the broadcast ends, their sessions are gone, and the audit log says who did it', async () => {
    await page.goto(`${web}/dashboard/c/night-show`)
    await page.getByRole('button', {name: 'Create a stream key'}).click()
    await page.waitForURL(`${web}/dashboard/c/night-show`)
    const fresh = await page.locator('#new-key').inputValue()
    publisher = await publishWhenRoom(`${server}/${fresh}`)
    await waitFor('live again', async () => (await playback('night-show')).live, {timeoutMs: 30_000, intervalMs: 250})

    const created = await runAdminOperation('user.create', {username: 'boss', email: 'boss@example.test', role: 'admin'}, {...site.env, SHING_COMPONENT: 'web'})
    const boss = createdUserSchema.parse(created.reply.ok ? created.reply.result : undefined)
    const admin = new FormClient(web, '192.0.2.20')
    expect((await admin.submit('/login', '/login', {login: 'boss', password: boss.password})).status).toBe(303)
    const area = await admin.get('/admin?q=stream')
    expect(area.status).toBe(200)
    const banForm = /<form method="post" action="(\/admin\/users\/[0-9a-f]{24}\/status)">[^]*?name="status" value="banned"/.exec(area.text)
    expect(banForm).not.toBeNull()
    const started = Date.now()
    const ban = await admin.post(banForm![1]!, {_csrf: csrfToken(area.text), status: 'banned'})
    expect(ban.status).toBe(303)
    await waitFor('the broadcast to end', async () => !(await playback('night-show')).live, {timeoutMs: 15_000, intervalMs: 250})
    expect((Date.now() - started) / 1000).toBeLessThan(10)
    await page.goto(`${web}/dashboard`)
    expect(page.url()).toBe(`${web}/login?next=%2Fdashboard`)

    const audit = await admin.get('/admin/audit')
    expect(audit.text).toMatch(/<td>boss<\/td><td><code>user\.ban<\/code><\/td><td>streamer<\/td>/)
    expect(audit.text).toContain('broadcastsEnded: night-show')

    // A user who is not an admin is refused the admin area.
    const other = new FormClient(web, '192.0.2.21')
    await other.submit('/login', '/login', {login: 'someone', password: PASSWORD})
    expect((await other.get('/admin')).status).toBe(403)
    expect((await other.post(banForm![1]!, {_csrf: csrfToken((await other.get('/account')).text), status: 'active'})).status).toBe(403)

    await page.getByLabel('Username or e-mail').fill('boss')
    await page.getByLabel('Password').fill(boss.password)
    await page.getByRole('button', {name: 'Log in'}).click()
    await page.waitForURL(`${web}/dashboard`)
    await page.goto(`${web}/admin`)
    await screenshot(page, 'admin')
    await page.goto(`${web}/admin/audit`)
    await screenshot(page, 'admin-audit')
    await page.goto(`${web}/admin/settings`)
    await screenshot(page, 'admin-settings')
  })
})
