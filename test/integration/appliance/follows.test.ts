/**
 * Following channels, in Chromium against the real web (Redis, FerretDB): Follow on a channel's
 * page counts the follower; the live-alert switch; /following lists what one follows, live
 * channels first; Unfollow; a visitor is sent to log in; a followers-only chat lets only
 * followers write; deleting the account takes its follows.
 */
import type {Page} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {streamStateKey} from '../../../appliance/contract/index.js'
import {screenshot} from '../../harness/artifacts.js'
import {launchChromium, recordDialogs, type RunningChromium} from '../../harness/chromium.js'
import {FormClient, signUpThroughForm} from '../../harness/http-client.js'
import {startLiveSite, type LiveSite} from '../../harness/live-site.js'
import {waitFor} from '../../harness/process.js'

const PASSWORD = 'followers gather here'
let site: LiveSite
let web: string
let chromium: RunningChromium
let page: Page
let fan: FormClient
let owner: FormClient
const dialogs: string[] = []

beforeAll(async () => {
  site = await startLiveSite()
  await site.start('web')
  web = `http://127.0.0.1:${site.get('web').httpPort}`
  owner = await signUp('quiet-owner', '198.51.100.120')
  expect(await owner.submit('/dashboard', '/dashboard/channels', {name: 'quiet-hour', title: 'Quiet hour'})).toMatchObject({status: 303})
  const other = await signUp('loud-owner', '198.51.100.122')
  expect(await other.submit('/dashboard', '/dashboard/channels', {name: 'loud-hour', title: 'Loud <b>hour</b>'})).toMatchObject({status: 303})
  // The owner writes in a followers-only chat (set on its moderation page).
  const settings = await owner.submit('/c/quiet-hour/moderation', '/c/quiet-hour/moderation/settings', {slowModeSeconds: '0', minAccountAgeMinutes: '0', followersOnly: 'on', linksAllowed: 'on', bannedTerms: ''})
  expect(settings.status, settings.text.slice(0, 300)).toBe(303)
  fan = await signUp('keen-fan', '198.51.100.121')
  chromium = await launchChromium()
  const context = await chromium.browser.newContext()
  await context.addCookies([{name: 'shing_session', value: fan.cookie('shing_session')!, url: web}])
  page = recordDialogs(await context.newPage(), dialogs)
})

afterAll(async () => {
  await chromium?.close().catch(() => undefined)
  await site?.stop()
})

const signUp = (username: string, address: string): Promise<FormClient> => signUpThroughForm(web, username, {password: PASSWORD, address})

const followers = async (): Promise<string | null> => page.locator('#followers').textContent()

describe('following a channel', () => {
  it('a visitor who presses Follow is asked to log in first', async () => {
    const visitor = await new FormClient(web).get('/c/quiet-hour')
    expect(visitor.text).toContain('0 followers')
    expect(visitor.text).toContain('href="/login?next=%2Fc%2Fquiet-hour"')
    expect((await new FormClient(web).post('/c/quiet-hour/follow', {})).status).toBe(403)
  })

  it('Follow counts the follower; the live-alert switch turns; the chat that is followers-only lets them write', async () => {
    await page.goto(`${web}/c/quiet-hour`)
    expect(await followers()).toBe('0 followers')
    // Not a follower: the chat says what to do.
    await page.waitForSelector('#chat[data-you="cannot-write"]')
    expect(await page.locator('#chat-cannot').textContent()).toBe('This chat is for the channel\'s followers: follow the channel to write.')
    await page.getByRole('button', {name: 'Follow', exact: true}).click()
    await page.waitForURL(`${web}/c/quiet-hour`)
    expect(await followers()).toBe('1 follower')
    const alerts = page.getByRole('button', {name: 'Live alerts on'})
    expect(await alerts.getAttribute('aria-pressed')).toBe('true')
    await page.waitForSelector('#chat[data-you="writer"]')
    await page.locator('#chat-input').fill('glad to be here')
    await page.locator('#chat-input').press('Enter')
    await page.locator('#chat-log li', {hasText: 'glad to be here'}).waitFor()
    await screenshot(page, 'follow-channel')
    await alerts.click()
    await page.waitForURL(`${web}/c/quiet-hour`)
    expect(await page.getByRole('button', {name: 'Live alerts off'}).getAttribute('aria-pressed')).toBe('false')
    const doc = await site.mongoClient.db('shing').collection('follows').findOne({channel: 'quiet-hour'})
    expect(doc).toMatchObject({notify: false})
  })

  it('/following lists the channels followed, the live ones first, titles as text', async () => {
    await page.goto(`${web}/c/loud-hour`)
    await page.getByRole('button', {name: 'Follow', exact: true}).click()
    await page.waitForURL(`${web}/c/loud-hour`)
    await page.goto(`${web}/following`)
    const names = (): Promise<string[]> => page.locator('ul.channels li > a').allTextContents()
    // loud-hour is the newest follow; quiet-hour goes live and comes first.
    expect(await names()).toEqual(['loud-hour', 'quiet-hour'])
    const state = {channel: 'quiet-hour', streamId: '20261206T080000Z-0a1b2c3d', since: new Date().toISOString(), ingestId: 'ingest', origin: '127.0.0.1:1', renditions: [{name: '360p', height: 360, bandwidth: 1_000_000}]}
    await site.client.set(streamStateKey('quiet-hour'), JSON.stringify(state), 'EX', 60)
    await waitFor('quiet-hour to be listed first, live', async () => {
      await page.reload()
      return (await names())[0] === 'quiet-hour' && (await page.locator('ul.channels li').first().locator('.live-dot').count()) === 1
    }, {timeoutMs: 15_000, intervalMs: 1000})
    expect(await page.locator('ul.channels').textContent()).toContain('Loud <b>hour</b>')
    expect(dialogs).toEqual([])
    await page.setViewportSize({width: 390, height: 844})
    await screenshot(page, 'following-phone')
    await page.setViewportSize({width: 1280, height: 800})
    await site.client.del(streamStateKey('quiet-hour'))
  })

  it('the owner sees how many follow the channel, and no button to follow it', async () => {
    const own = await owner.get('/c/quiet-hour')
    expect(own.text).toMatch(/id="followers" class="followers">[12] followers?</)
    expect(own.text).not.toContain('action="/c/quiet-hour/follow"')
    expect(own.text).not.toContain('action="/c/quiet-hour/unfollow"')
  })

  it('Unfollow takes the follow away, and /following says how to find channels when there is none', async () => {
    for (const channel of ['quiet-hour', 'loud-hour']) {
      await page.goto(`${web}/c/${channel}`)
      await page.getByRole('button', {name: 'Unfollow'}).click()
      await page.waitForURL(`${web}/c/${channel}`)
      expect(await followers()).toBe('0 followers')
    }
    await page.goto(`${web}/following`)
    expect(await page.locator('main').textContent()).toContain('You follow no channel yet.')
  })

  it('deleting an account takes its follows', async () => {
    await fan.submit('/c/quiet-hour', '/c/quiet-hour/follow', {})
    expect(await site.mongoClient.db('shing').collection('follows').countDocuments({})).toBe(1)
    expect((await fan.submit('/account', '/account/delete', {confirmUsername: 'keen-fan', deletePassword: PASSWORD})).status).toBe(200)
    expect(await site.mongoClient.db('shing').collection('follows').countDocuments({})).toBe(0)
  })
})
