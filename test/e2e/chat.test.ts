/**
 * Live chat across two web instances (`npm run e2e:chat`), in Chromium, with real Redis, FerretDB
 * and MinIO, the web instances, an ingest and a worker as processes behind one front: three people
 * on two instances each see every message once, in the same order; hostile text stays text; a
 * moderator on one instance times out and bans someone on the other at once; Redis killed and
 * restarted mid-conversation; a web instance killed under its viewers; a network blink recovered;
 * a past broadcast replays its chat at the moments it was said.
 * Ends with `chat e2e: delivered=<n>/<n> lost-after-redis-restart=<n>`.
 */
import type {BrowserContext, Page} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {streamStateKey} from '../../appliance/contract/index.js'
import {screenshot} from '../harness/artifacts.js'
import {launchChromium, recordDialogs, type RunningChromium} from '../harness/chromium.js'
import {FormClient, signUpThroughForm} from '../harness/http-client.js'
import {startLiveSite, type LiveSite} from '../harness/live-site.js'
import {waitFor, type ManagedProcess} from '../harness/process.js'
import {publishWhenThereIsRoom} from '../harness/rtmp.js'

const CHANNEL = 'night-chat'
const PASSWORD = 'owls talk all night long'
const XSS = '<img src=x onerror=alert(1)><script>alert(2)</script>"&'

let site: LiveSite
let chromium: RunningChromium
let front: string
const dialogs: string[] = []
const contexts: BrowserContext[] = []
let publisher: ManagedProcess | undefined
/** Every message a page should have shown, and how many it did: the e2e's last line. */
const delivery = {expected: 0, delivered: 0}
let lostAfterRedisRestart = -1

interface Person {
  name: string
  client: FormClient
  page: Page
}
const people: Record<'ana' | 'ben' | 'cy' | 'mo', Person> = {} as never

beforeAll(async () => {
  // Redis keeps an append-only file, as the stack's does: a restart keeps sessions.
  site = await startLiveSite({redisPersistence: true, adjustProfile: (p) => ({...p, ladder: [{name: '180p', height: 180, fps: 15, videoKbps: 300, audioKbps: 64}]})})
  front = site.frontUrl()
  await Promise.all(['web', 'web-2', 'ingest', 'worker'].map((id) => site.start(id, {SHING_PUBLIC_URL: front})))
  const owner = await signUp('night-owner', '198.51.100.90')
  expect(await owner.submit('/dashboard', '/dashboard/channels', {name: CHANNEL, title: 'Night talk'})).toMatchObject({status: 303})
  chromium = await launchChromium()
  // ana and cy on web, ben (and the moderator) on web-2: the front pins each browser's WebSocket.
  const pins = {ana: 'web', ben: 'web-2', cy: 'web', mo: 'web'} as const
  let address = 91
  for (const name of ['ana', 'ben', 'cy', 'mo'] as const) {
    const client = await signUp(`${name}-owl`, `198.51.100.${address++}`)
    people[name] = {name: `${name}-owl`, client, page: await openChat(client, pins[name])}
  }
  // mo moderates the channel (as the owner makes someone a moderator on the moderation page).
  const mo = await site.mongoClient.db('shing').collection('users').findOne({usernameKey: 'mo-owl'})
  await site.mongoClient.db('shing').collection('chat_moderators').insertOne({channel: CHANNEL, userId: mo!._id.toHexString(), user: 'mo-owl', permissions: ['delete', 'timeout', 'ban'], addedBy: 'night-owner', at: new Date()})
  // The web instances read a channel's moderators through a 2 s cache.
  await waitFor('mo to be a moderator', async () => {
    await people.mo.page.reload()
    await people.mo.page.waitForSelector('#chat[data-you="writer"]')
    return people.mo.page.evaluate(() => (window as unknown as {shingChat: {you: {permissions: string[]}}}).shingChat.you.permissions.length === 3)
  }, {timeoutMs: 15_000, intervalMs: 1000})
})

afterAll(async () => {
  if (delivery.expected > 0) process.stdout.write(`chat e2e: delivered=${delivery.delivered}/${delivery.expected} lost-after-redis-restart=${lostAfterRedisRestart}\n`)
  await publisher?.stop().catch(() => undefined)
  for (const context of contexts) await context.close().catch(() => undefined)
  await chromium?.close().catch(() => undefined)
  await site?.stop()
})

const signUp = (username: string, address: string): Promise<FormClient> => signUpThroughForm(front, username, {password: PASSWORD, address})

/** A browser of its own (its own cookies) on the channel page, logged in as the client's account, its chat on `instance`. */
async function openChat(client: FormClient, instance: string): Promise<Page> {
  const context = await chromium.browser.newContext({extraHTTPHeaders: {'x-front-prefer': instance}})
  contexts.push(context)
  await context.addCookies([{name: 'shing_session', value: client.cookie('shing_session')!, url: front}])
  const page = recordDialogs(await context.newPage(), dialogs)
  await page.goto(`${front}/c/${CHANNEL}`)
  await page.waitForSelector('#chat[data-you="writer"]', {timeout: 20_000})
  return page
}

/** Types a message and sends it with Enter; settles when the server took it (the box empties) or refused it (the status says why). */
async function say(person: Person, text: string): Promise<string> {
  const input = person.page.locator('#chat-input')
  await person.page.locator('#chat-status').evaluate((status) => (status.textContent = ''))
  await input.fill(text)
  await input.press('Enter')
  await waitFor(`${person.name}'s message to be answered`, async () => (await input.inputValue()) === '' || (await person.page.locator('#chat-status').textContent()) !== '', {timeoutMs: 15_000})
  return (await input.inputValue()) === '' ? 'sent' : ((await person.page.locator('#chat-status').textContent()) ?? '')
}

/** What a page's chat shows: each line's author and text. */
const lines = (page: Page): Promise<{user: string; text: string}[]> =>
  page.$$eval('#chat-log li', (items) => items.map((li) => ({user: li.querySelector('.chat-user')?.textContent ?? '', text: li.querySelector('.chat-text')?.textContent ?? ''})))

/** Waits until every page shows `texts` (in this order, each once, among its lines); counts the deliveries. */
async function expectEveryoneSees(pages: Page[], texts: string[]): Promise<void> {
  for (const page of pages) {
    const shown = async (): Promise<string[]> => (await lines(page)).map((l) => l.text).filter((t) => texts.includes(t))
    await waitFor('every message on every page', async () => (await shown()).length >= texts.length, {timeoutMs: 15_000}).catch(() => undefined)
    const seen = await shown()
    delivery.expected += texts.length
    delivery.delivered += texts.filter((t) => seen.includes(t)).length
    expect(seen, 'each message once, in the order sent').toEqual(texts)
  }
}

const chatConnections = async (id: string): Promise<number> => site.metric(id, 'shing_chat_connections')

describe('chat across two web instances', () => {
  it('three people on two instances see every message once, in the order sent; hostile text stays text; mentions and links show', async () => {
    expect(await chatConnections('web')).toBeGreaterThanOrEqual(2)
    expect(await chatConnections('web-2')).toBeGreaterThanOrEqual(1)
    const {ana, ben, cy} = people
    const sent: string[] = []
    for (let round = 1; round <= 4; round++) {
      for (const person of [ana, ben, cy]) {
        const text = `${person.name} says ${round}`
        expect(await say(person, text)).toBe('sent')
        sent.push(text)
      }
    }
    expect(await say(cy, XSS)).toBe('sent')
    expect(await say(ana, `hi @${ben.name}, see https://example.org/owls`)).toBe('sent')
    sent.push(XSS, `hi @${ben.name}, see https://example.org/owls`)
    await expectEveryoneSees([ana.page, ben.page, cy.page], sent)
    // The hostile message is text on every page, and ran nowhere.
    expect(dialogs).toEqual([])
    expect(await ben.page.locator('#chat-log li').filter({hasText: 'onerror'}).locator('img, script').count()).toBe(0)
    // ben is mentioned: his line stands out for him; the link is a link (the channel allows them).
    const mention = ben.page.locator('#chat-log li.mentions-you')
    await expect.poll(() => mention.count()).toBe(1)
    expect(await mention.locator('.mention').textContent()).toBe(`@${ben.name}`)
    expect(await ana.page.locator('#chat-log a[href="https://example.org/owls"]').getAttribute('rel')).toContain('nofollow')
    // The box takes 500 characters; a client that sends more is refused by the server.
    await ana.page.locator('#chat-input').fill('x'.repeat(501))
    expect((await ana.page.locator('#chat-input').inputValue()).length).toBe(500)
    await ana.page.locator('#chat-input').fill('')
    const tooLong = await ana.page.evaluate((text) => new Promise<{ok: boolean; error?: string}>((resolve) => (window as unknown as {shingChat: {socket: {emit: (...a: unknown[]) => void}}}).shingChat.socket.emit('send', text, resolve)), 'y'.repeat(501))
    expect(tooLong).toEqual({ok: false, error: 'A message is at most 500 characters.'})
    await ana.page.setViewportSize({width: 1280, height: 800})
    await screenshot(ana.page, 'chat-live')
    await ana.page.setViewportSize({width: 390, height: 844})
    await screenshot(ana.page, 'chat-live-phone')
    expect(await ana.page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390)
    await ana.page.setViewportSize({width: 1280, height: 800})
  })

  it('flood control: past the burst the sender is told to slow down and nothing is delivered; a frame too big or an event storm closes the socket', async () => {
    const {ana, cy, mo} = people
    type Emitting = {shingChat: {socket: {emit: (...a: unknown[]) => void; on: (e: string, f: (r: string) => void) => void}}}
    // mo has said nothing yet: a full bucket.
    const answers = await mo.page.evaluate(() =>
      Promise.all(Array.from({length: 8}, (_, i) => new Promise<{ok: boolean; error?: string}>((resolve) => (window as unknown as Emitting).shingChat.socket.emit('send', `burst ${i}`, resolve)))),
    )
    // The default bucket: 5 at once, then one a second (a slow box may refill one while the 8 are handled).
    const accepted = answers.flatMap((a, i) => (a.ok ? [`burst ${i}`] : []))
    expect(accepted.length).toBeGreaterThanOrEqual(5)
    expect(accepted.length).toBeLessThanOrEqual(6)
    expect(answers.find((a) => !a.ok)?.error).toMatch(/^You are sending messages too fast: wait \d+ seconds?\.$/)
    await expectEveryoneSees([ana.page], accepted)
    expect((await lines(ana.page)).some((l) => l.text === 'burst 7')).toBe(false)
    // A frame over 8 KiB closes the connection (the client reconnects by itself).
    const closed = await cy.page.evaluate(
      (text) =>
        new Promise<string>((resolve) => {
          const chat = (window as unknown as Emitting).shingChat
          chat.socket.on('disconnect', resolve)
          chat.socket.emit('send', text, () => resolve('answered'))
        }),
      'z'.repeat(10_000),
    )
    expect(closed).toBe('transport close')
    await cy.page.waitForFunction(() => (window as unknown as {shingChat: {connected: boolean}}).shingChat.connected, undefined, {timeout: 15_000})
    // So does a storm of events from one connection (60 per 10 s by default).
    const stormed = await cy.page.evaluate(
      () =>
        new Promise<string>((resolve) => {
          const chat = (window as unknown as Emitting).shingChat
          chat.socket.on('disconnect', resolve)
          for (let i = 0; i < 80; i++) chat.socket.emit('moderate', {action: 'unban', user: 'nobody-here'}, () => undefined)
        }),
    )
    expect(stormed).toBe('io server disconnect')
    // Refused by the server itself, the page reconnects on its own a little later.
    await cy.page.waitForFunction(() => (window as unknown as {shingChat: {connected: boolean}}).shingChat.connected, undefined, {timeout: 20_000})
  })

  it('a visitor reads the chat but is asked to log in to write; the pop-out page shows the same chat', async () => {
    const context = await chromium.browser.newContext()
    contexts.push(context)
    const page = recordDialogs(await context.newPage(), dialogs)
    await page.goto(`${front}/c/${CHANNEL}/chat`)
    await page.waitForSelector('#chat[data-you="reader"]')
    expect(await page.locator('#chat-login').isVisible()).toBe(true)
    expect(await page.locator('#chat-form').isVisible()).toBe(false)
    await expect.poll(async () => (await lines(page)).some((l) => l.text === XSS)).toBe(true)
    await page.setViewportSize({width: 400, height: 640})
    await screenshot(page, 'chat-popout')
    await context.close()
  })

  it('a moderator on one instance times out and bans someone on the other, at once', async () => {
    const {ana, ben, mo} = people
    // Moderators find the channel's moderation page from the chat; others do not see the link.
    expect(await mo.page.locator('#chat-moderation').isVisible()).toBe(true)
    expect(await ana.page.locator('#chat-moderation').isVisible()).toBe(false)
    expect(await say(ben, 'ben talks too much')).toBe('sent')
    await expect.poll(async () => (await lines(mo.page)).some((l) => l.text === 'ben talks too much')).toBe(true)
    // The time-out, from the message's menu.
    const line = mo.page.locator('#chat-log li', {hasText: 'ben talks too much'})
    await line.getByLabel(`Moderate ${ben.name}`).click()
    await screenshot(mo.page, 'chat-moderation-menu')
    const started = Date.now()
    await line.getByRole('button', {name: `Time out ${ben.name} for 10 min`}).click()
    await ben.page.waitForSelector('#chat[data-you="cannot-write"]', {timeout: 5000})
    const timeoutTookMs = Date.now() - started
    expect(await ben.page.locator('#chat-cannot').textContent()).toMatch(/timed out until/)
    expect(timeoutTookMs).toBeLessThan(3000)
    // Even a client that ignores its page cannot send.
    const refused = await ben.page.evaluate(() => new Promise<{ok: boolean; error?: string}>((resolve) => (window as unknown as {shingChat: {socket: {emit: (...a: unknown[]) => void}}}).shingChat.socket.emit('send', 'sneaky', resolve)))
    expect(refused).toMatchObject({ok: false, error: expect.stringMatching(/timed out/)})
    // /unban ends the time-out; then the ban: ben's messages vanish for everyone, and he cannot write.
    expect(await say(mo, `/unban ${ben.name}`)).toBe('sent')
    await ben.page.waitForSelector('#chat[data-you="writer"]', {timeout: 5000})
    expect(await say(mo, `/ban ${ben.name}`)).toBe('sent')
    await ben.page.waitForSelector('#chat[data-you="cannot-write"]', {timeout: 5000})
    expect(await ben.page.locator('#chat-cannot').textContent()).toContain('banned')
    for (const page of [ana.page, mo.page]) await expect.poll(async () => (await lines(page)).filter((l) => l.user === ben.name).length).toBe(0)
    // A moderator cannot act against the owner.
    expect(await say(mo, '/ban night-owner')).toBe('sent')
    await expect.poll(() => mo.page.locator('#chat-status').textContent()).toMatch(/owner/)
    expect(await say(mo, `/unban ${ben.name}`)).toBe('sent')
    await ben.page.waitForSelector('#chat[data-you="writer"]', {timeout: 5000})
    // The log of the channel names who did what.
    const log = await site.mongoClient.db('shing').collection('chat_log').find({channel: CHANNEL}).sort({at: 1}).toArray()
    expect(log.map((e) => `${e.actor} ${e.action} ${e.target}`)).toEqual([`mo-owl timeout ${ben.name}`, `mo-owl unban ${ben.name}`, `mo-owl ban ${ben.name}`, `mo-owl unban ${ben.name}`])
  })

  it('a network blink: the connection comes back, recovered, with what was said meanwhile', async () => {
    const {ana, cy} = people
    await cy.page.evaluate(() => (window as unknown as {shingChat: {socket: {io: {engine: {close: () => void}}}}}).shingChat.socket.io.engine.close())
    const meanwhile = ['said during the blink 1', 'said during the blink 2']
    for (const text of meanwhile) expect(await say(ana, text)).toBe('sent')
    await cy.page.waitForFunction(() => (window as unknown as {shingChat: {connected: boolean}}).shingChat.connected, undefined, {timeout: 15_000})
    await expectEveryoneSees([cy.page], meanwhile)
    expect(await cy.page.evaluate(() => (window as unknown as {shingChat: {socket: {recovered: boolean}}}).shingChat.socket.recovered)).toBe(true)
  })

  it('Redis killed and restarted mid-conversation: a message sent meanwhile is refused and kept; nothing sent after is lost', async () => {
    const {ana, ben, cy} = people
    expect(await say(ana, 'before the restart')).toBe('sent')
    await site.redis.restart({downMs: 2000}).then(() => undefined)
    // During the outage (now over), or right after it, a message may be refused: the sender is told and keeps the text.
    const afterText: string[] = []
    // The web instances reconnect by themselves; the first message may still meet a reconnecting client.
    await waitFor('chat to take messages again', async () => (await say(cy, 'are we back?')) === 'sent', {timeoutMs: 30_000, intervalMs: 1000})
    afterText.push('are we back?')
    for (let i = 1; i <= 3; i++) {
      for (const person of [ana, ben, cy]) {
        const text = `after the restart ${person.name} ${i}`
        expect(await say(person, text)).toBe('sent')
        afterText.push(text)
      }
    }
    const before = delivery.delivered
    const expectedBefore = delivery.expected
    await expectEveryoneSees([ana.page, ben.page, cy.page], afterText).catch((error: unknown) => {
      lostAfterRedisRestart = delivery.expected - expectedBefore - (delivery.delivered - before)
      throw error
    })
    lostAfterRedisRestart = delivery.expected - expectedBefore - (delivery.delivered - before)
    expect(lostAfterRedisRestart).toBe(0)
  })

  it('Redis down: a message is refused with a reason and stays in the box; sent again once Redis is back, it arrives once', async () => {
    const {ana, ben} = people
    const restart = site.redis.restart({downMs: 4000})
    await new Promise((resolve) => setTimeout(resolve, 500))
    const during = await say(ana, 'said while redis is down')
    expect(during).toMatch(/unavailable|did not answer/)
    expect(await ana.page.locator('#chat-input').inputValue()).toBe('said while redis is down')
    await restart
    await waitFor('ana to get her message through', async () => (await say(ana, 'said while redis is down')) === 'sent', {timeoutMs: 30_000, intervalMs: 1000})
    await expectEveryoneSees([ana.page, ben.page], ['said while redis is down'])
  })

  it('a web instance killed: its viewers reconnect to the other and catch up', async () => {
    const {ana, ben} = people
    process.kill(site.get('web-2').process.pid, 'SIGKILL')
    await site.get('web-2').process.exited
    const meanwhile = ['while web-2 is gone 1', 'while web-2 is gone 2', 'while web-2 is gone 3']
    for (const text of meanwhile) expect(await say(ana, text)).toBe('sent')
    await ben.page.waitForFunction(() => (window as unknown as {shingChat: {connected: boolean}}).shingChat.connected, undefined, {timeout: 20_000}).catch(async (error: unknown) => {
      const errors = await ben.page.evaluate(() => (window as unknown as {shingChat: {errors: string[]}}).shingChat.errors)
      throw new Error(`ben did not reconnect (${(error as Error).message}): errors ${JSON.stringify(errors)}, status ${await ben.page.locator('#chat-status').textContent()}\n${site.get('web').process.output().slice(-3000)}`)
    })
    await expectEveryoneSees([ben.page], meanwhile)
    expect(await say(ben, 'ben is back')).toBe('sent')
    await expectEveryoneSees([ana.page, ben.page], ['ben is back'])
    expect(await chatConnections('web')).toBeGreaterThanOrEqual(4)
  })

  it('a past broadcast replays its chat at the moments it was said', async () => {
    const {ana} = people
    const key = await site.streamKey(CHANNEL)
    publisher = await publishWhenThereIsRoom({url: `rtmp://127.0.0.1:${site.get('ingest').rtmpPort}/live/${key}`, size: '320x180', fps: 15, timeoutMs: 60_000})
    await waitFor('the broadcast to be live', async () => (await site.client.get(streamStateKey(CHANNEL))) !== null, {timeoutMs: 60_000})
    const state = JSON.parse((await site.client.get(streamStateKey(CHANNEL)))!) as {streamId: string}
    await new Promise((resolve) => setTimeout(resolve, 4000))
    expect(await say(ana, 'the first moment')).toBe('sent')
    await new Promise((resolve) => setTimeout(resolve, 6000))
    expect(await say(ana, 'the second moment')).toBe('sent')
    await new Promise((resolve) => setTimeout(resolve, 3000))
    await publisher.stop()
    publisher = undefined
    // The worker closes the archive: the VOD is listed.
    await waitFor('the VOD', async () => (await site.web<{vods: {streamId: string}[]}>(`/api/streams/${CHANNEL}/vods`)).body.vods.some((v) => v.streamId === state.streamId), {timeoutMs: 90_000, intervalMs: 1000})
    const replay = (await site.web<{messages: {text: string; offsetSeconds: number}[]}>(`/api/streams/${CHANNEL}/vods/${state.streamId}/chat`)).body
    const first = replay.messages.find((m) => m.text === 'the first moment')!
    const second = replay.messages.find((m) => m.text === 'the second moment')!
    expect(replay.messages.map((m) => m.text)).toEqual(['the first moment', 'the second moment'])
    expect(second.offsetSeconds - first.offsetSeconds).toBeGreaterThan(5)
    expect(first.offsetSeconds).toBeGreaterThan(2)
    // In the player: nothing before the first moment; the first at it; both after the second.
    const page = ana.page
    await page.goto(`${front}/c/${CHANNEL}/vod/${state.streamId}`)
    await page.waitForFunction(() => (document.getElementById('video') as HTMLVideoElement).readyState >= 1, undefined, {timeout: 30_000})
    const seek = (t: number): Promise<void> =>
      page.evaluate(
        (to) =>
          new Promise<void>((resolve) => {
            const video = document.getElementById('video') as HTMLVideoElement
            video.pause()
            video.addEventListener('seeked', () => resolve(), {once: true})
            video.currentTime = to
          }),
        t,
      )
    const shown = async (): Promise<string[]> => (await lines(page)).map((l) => l.text)
    await seek(Math.max(0, first.offsetSeconds - 1.5))
    await expect.poll(shown).toEqual([])
    await seek(first.offsetSeconds + 0.5)
    await expect.poll(shown).toEqual(['the first moment'])
    await seek(second.offsetSeconds + 0.5)
    await expect.poll(shown).toEqual(['the first moment', 'the second moment'])
    await seek(1)
    await expect.poll(shown).toEqual([])
    await seek(second.offsetSeconds + 0.5)
    await screenshot(page, 'chat-replay')
  })
})
