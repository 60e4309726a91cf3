/**
 * Deleting an account through the web (real Redis, FerretDB, MinIO, and the worker that empties
 * recordings from S3): a wrong confirmation changes nothing; the right one takes the account with
 * its channel, stream keys, avatar, past broadcasts (documents and recordings), chat (its channel's,
 * and what it said elsewhere) and access tokens,
 * ends its other sessions, frees the channel's name, and leaves a line in the audit log.
 */
import sharp from 'sharp'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {screenshot} from '../../harness/artifacts.js'
import {launchChromium} from '../../harness/chromium.js'
import {csrfToken, FormClient} from '../../harness/http-client.js'
import {BUCKET, startLiveSite, type LiveSite} from '../../harness/live-site.js'
import {waitFor} from '../../harness/process.js'

let site: LiveSite
let web: string
const PASSWORD = 'leaving for the mountains'
const CHANNEL = 'farewell-show'
const STREAM_ID = 'a1b2c3d4e5f6a7b8'

beforeAll(async () => {
  site = await startLiveSite()
  await Promise.all([site.start('web'), site.start('worker')])
  web = `http://127.0.0.1:${site.get('web').httpPort}`
})

afterAll(async () => site?.stop())

const objects = async (prefix: string): Promise<string[]> => {
  const names: string[] = []
  for await (const item of site.minio.listObjectsV2(BUCKET, prefix, true)) names.push((item as {name: string}).name)
  return names
}

describe('deleting an account', () => {
  const owner = new FormClient('', '192.0.2.60')
  const elsewhere = new FormClient('', '192.0.2.61')
  let token = ''

  it('takes the account with its channel, keys, images, past broadcasts and tokens, once confirmed', async () => {
    const at = (path: string): string => `${web}${path}`
    expect((await owner.submit(at('/signup'), at('/signup'), {username: 'wanda', email: 'wanda@example.test', password: PASSWORD})).status).toBe(303)
    expect((await owner.submit(at('/dashboard'), at('/dashboard/channels'), {name: CHANNEL, title: 'Last show'})).status).toBe(303)
    expect((await owner.submit(at(`/dashboard/c/${CHANNEL}`), at(`/dashboard/c/${CHANNEL}/keys`), {})).status).toBe(303)
    const form = new FormData()
    form.append('_csrf', csrfToken((await owner.get(at(`/dashboard/c/${CHANNEL}`))).text))
    form.append('image', new Blob([new Uint8Array(await sharp({create: {width: 300, height: 300, channels: 3, background: '#3a6'}}).png().toBuffer())], {type: 'image/png'}), 'me.png')
    expect((await owner.postMultipart(at(`/dashboard/c/${CHANNEL}/images/avatar`), form)).status).toBe(303)
    // A past broadcast, as the ingest and the worker leave one: its recording in S3 and its document.
    for (const name of ['720p/index.m3u8', '720p/init.mp4', '720p/seg1.m4s']) await site.minio.putObject(BUCKET, `dvr/${CHANNEL}/${STREAM_ID}/${name}`, Buffer.from('media'))
    await site.mongoClient.db('shing').collection('vods').insertOne({streamId: STREAM_ID, channel: CHANNEL, segments: 1, durationSeconds: 2, renditions: [{name: '720p', segments: 1, durationSeconds: 2}], createdAt: new Date()})
    // Chat: what she said in her channel and in another, her channel's settings, her place as another channel's moderator.
    const chat = site.mongoClient.db('shing')
    const wandaId = (await chat.collection('users').findOne({usernameKey: 'wanda'}))!._id.toHexString()
    const said = (channel: string, userId: string, text: string) => ({channel, userId, user: userId === wandaId ? 'wanda' : 'guest', text, at: new Date()})
    await chat.collection('chat_messages').insertMany([said(CHANNEL, wandaId, 'welcome!'), said('elsewhere', wandaId, 'hi from wanda'), said(CHANNEL, 'someone-else', 'hello wanda'), said('elsewhere', 'someone-else', 'stays')])
    await chat.collection('chat_settings').insertOne({_id: CHANNEL as never, slowModeSeconds: 5})
    await chat.collection('chat_moderators').insertOne({channel: 'elsewhere', userId: wandaId, user: 'wanda', permissions: ['delete'], addedBy: 'guest', at: new Date()})
    expect((await owner.submit(at('/account/tokens'), at('/account/tokens'), {name: 'script', scopes: 'read'})).status).toBe(303)
    token = /id="new-token" value="(shing_pat_[A-Za-z0-9_-]{43})"/.exec((await owner.get(at('/account/tokens'))).text)![1]!
    expect((await fetch(at('/api/me'), {headers: {authorization: `Bearer ${token}`}})).status).toBe(200)
    expect(await objects(`channels/${CHANNEL}/`)).toHaveLength(1)
    expect((await elsewhere.submit(at('/login'), at('/login'), {login: 'wanda', password: PASSWORD})).status).toBe(303)

    // A wrong confirmation: nothing happens, and the form says what to type.
    const wrong = await owner.submit(at('/account'), at('/account/delete'), {confirmUsername: 'someone', deletePassword: PASSWORD})
    expect(wrong.status).toBe(400)
    expect(wrong.text).toContain('Type your username, wanda, to confirm.')
    expect((await owner.submit(at('/account'), at('/account/delete'), {confirmUsername: 'wanda', deletePassword: 'not my password'})).status).toBe(400)
    expect((await new FormClient(web).get(`/c/${CHANNEL}`)).status).toBe(200)

    // The owner deletes it in Chromium, from the account page (their other sessions end with it).
    const chromium = await launchChromium()
    try {
      const page = await chromium.newPage()
      await page.goto(at('/login'))
      await page.getByLabel('Username or e-mail').fill('wanda')
      await page.getByLabel('Password').fill(PASSWORD)
      await page.getByRole('button', {name: 'Log in'}).click()
      await page.waitForURL(at('/account'))
      await screenshot(page, 'account-page')
      await page.getByLabel('Type your username (wanda) to confirm').fill('wanda')
      await page.getByLabel('Current password').last().fill(PASSWORD)
      await page.getByRole('button', {name: 'Delete my account for good'}).click()
      await page.waitForSelector('h1:text("Your account is deleted")')
      expect(await page.locator('.notice.ok').textContent()).toContain('Your account is gone with its channel and 1 past broadcast')
      await screenshot(page, 'account-deleted')
    } finally {
      await chromium.close()
    }

    // Gone everywhere: its pages, its sessions here and elsewhere, its token, its log-in, its storage.
    // (A visitor's page is cached a couple of seconds.)
    await waitFor('the channel page to be gone', async () => ((await new FormClient(web).get(`/c/${CHANNEL}`)).status === 404 ? true : undefined), {timeoutMs: 10_000, intervalMs: 500})
    expect((await owner.get(at('/account'))).status).toBe(303)
    expect((await elsewhere.get(at('/account'))).status).toBe(303)
    expect((await fetch(at('/api/me'), {headers: {authorization: `Bearer ${token}`}})).status).toBe(401)
    expect((await new FormClient(web, '192.0.2.62').submit('/login', '/login', {login: 'wanda', password: PASSWORD})).status).toBe(401)
    expect(await objects(`channels/${CHANNEL}/`)).toEqual([])
    await waitFor('the recording to leave S3', async () => ((await objects(`dvr/${CHANNEL}/`)).length === 0 ? true : undefined), {timeoutMs: 30_000, intervalMs: 500})
    const db = site.mongoClient.db('shing')
    expect(await db.collection('streamKeys').countDocuments({channel: CHANNEL})).toBe(0)
    expect(await db.collection('vods').countDocuments({channel: CHANNEL})).toBe(0)
    // Her channel's chat went with it, and what she said elsewhere; what others said elsewhere stays.
    expect((await db.collection('chat_messages').find({}).toArray()).map((m) => m.text)).toEqual(['stays'])
    expect(await db.collection('chat_settings').countDocuments({_id: CHANNEL as never})).toBe(0)
    expect(await db.collection('chat_moderators').countDocuments({userId: wandaId})).toBe(0)
    expect(await db.collection('audit').findOne({action: 'user.delete'})).toMatchObject({actor: 'wanda', target: 'wanda', details: {channels: CHANNEL, pastBroadcasts: 1}})
  })

  it('frees the name and the channel for someone new', async () => {
    const next = new FormClient(web, '192.0.2.63')
    expect((await next.submit('/signup', '/signup', {username: 'wanda', email: 'wanda@example.test', password: PASSWORD})).status).toBe(303)
    expect((await next.submit('/dashboard', '/dashboard/channels', {name: CHANNEL, title: ''})).status).toBe(303)
  })
})
