/**
 * A channel's profile, through a real web process on real Redis, FerretDB and MinIO: the streamer
 * edits description, category, tags, language and the mature flag on the dashboard (hostile input
 * shown as text everywhere), uploads avatar, banner and offline image (re-encoded to WebP at one
 * size, without the file's metadata, served under /media/ to be cached for good; a replaced one
 * leaves S3), and a file too large or not an image is refused with what to do instead. Nobody
 * else can edit the channel, no other site can post to it, and search and browse find it. The
 * pages are looked at in Chromium, on a desktop and on a phone.
 */
import type {Page} from 'playwright-core'
import sharp from 'sharp'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {streamStateKey, type StreamState} from '../../../appliance/contract/index.js'
import {screenshot} from '../../harness/artifacts.js'
import {launchChromium, recordDialogs, type RunningChromium} from '../../harness/chromium.js'
import {type Answer, csrfToken, FormClient, signUpThroughForm} from '../../harness/http-client.js'
import {BUCKET, startLiveSite, type LiveSite} from '../../harness/live-site.js'
import {waitFor} from '../../harness/process.js'

let site: LiveSite
let chromium: RunningChromium
let page: Page
let web: string
let owner: FormClient
let other: FormClient
const dialogs: string[] = []

const PASSWORD = 'correct horse battery staple'
const CHANNEL = 'night-owl'
const dashboard = `/dashboard/c/${CHANNEL}`
const HOSTILE_DESCRIPTION = 'Talk until dawn.\n<script>alert("description")</script>\n<img src=x onerror=alert(1)> & more'

beforeAll(async () => {
  site = await startLiveSite()
  await site.start('web')
  web = `http://127.0.0.1:${site.get('web').httpPort}`
  owner = await signUp('owl-keeper', '198.51.100.70')
  other = await signUp('someone-else', '198.51.100.71')
  expect(await owner.submit('/dashboard', '/dashboard/channels', {name: CHANNEL, title: 'Late night <b>talk</b> & radio'})).toMatchObject({status: 303})
  chromium = await launchChromium()
  page = recordDialogs(await chromium.newPage(), dialogs)
})

afterAll(async () => {
  await chromium?.close().catch(() => undefined)
  await site?.stop()
})

const signUp = (username: string, address: string): Promise<FormClient> => signUpThroughForm(web, username, {password: PASSWORD, address})

/** The channel page as a visitor without a session gets it (its data is cached for 2 s). */
const channelPage = (check: (html: string) => boolean): Promise<string> =>
  waitFor('the channel page to show the change', async () => {
    const html = (await new FormClient(web).get(`/c/${CHANNEL}`)).text
    return check(html) ? html : undefined
  }, {timeoutMs: 8000, intervalMs: 250})

const saveProfile = async (client: FormClient, fields: Record<string, string>): Promise<Answer> => client.submit(dashboard, `${dashboard}/profile`, fields)

/** Uploads as the dashboard's image form does: its CSRF token first, then the file. */
async function upload(client: FormClient, kind: string, file: Buffer, name: string, type: string, token?: string): Promise<Answer> {
  const form = new FormData()
  form.append('_csrf', token ?? csrfToken((await client.get(dashboard)).text))
  form.append('image', new Blob([new Uint8Array(file)], {type}), name)
  return client.postMultipart(`${dashboard}/images/${kind}`, form)
}

const storedImages = async (): Promise<string[]> => {
  const names: string[] = []
  for await (const item of site.minio.listObjectsV2(BUCKET, `channels/${CHANNEL}/`, true)) names.push((item as {name: string}).name)
  return names.sort()
}

/** A photo as a phone makes one: JPEG with EXIF (who took it, with what). */
const photo = (colour: string, width: number, height: number): Promise<Buffer> =>
  sharp({create: {width, height, channels: 3, background: colour}})
    .jpeg()
    .withExif({IFD0: {Artist: 'Someone Private', Make: 'PhoneCo', Model: 'Phone 9'}})
    .toBuffer()

const imageUrl = (html: string, kind: string): string | undefined => new RegExp(`/media/channels/${CHANNEL}/${kind}-[0-9a-f]{16}\\.webp`).exec(html)?.[0]

describe('the channel profile', () => {
  it('refuses bad input beside its field and keeps what was typed, as text', async () => {
    const refused = await saveProfile(owner, {description: 'x'.repeat(2001), category: 'cooking', tags: 'chill, <img src=x onerror=alert(3)>', language: 'xx'})
    expect(refused.status).toBe(400)
    expect(refused.text).toMatch(/<span class="field-error" id="description-error">Keep the description to 2000 characters/)
    expect(refused.text).toContain('<span class="field-error" id="category-error">Choose a category from the list.</span>')
    expect(refused.text).toContain('<span class="field-error" id="language-error">Choose a language from the list.</span>')
    expect(refused.text).toContain('<span class="field-error" id="tags-error">&quot;&lt;img&quot; is not a tag: use 1-24 letters, digits or -.</span>')
    expect(refused.text).toContain('value="chill, &lt;img src=x onerror=alert(3)&gt;"')
    expect(refused.text).not.toContain('<img src=x')
    const many = await saveProfile(owner, {description: '', category: '', tags: 'a b c d e f', language: ''})
    expect(many.text).toContain('Up to 5 tags (you gave 6).')
  })

  it('saves description, category, tags, language and the mature flag; the channel page shows them escaped', async () => {
    const saved = await saveProfile(owner, {description: HOSTILE_DESCRIPTION, category: 'talk', tags: '#Chill, late-night radio, chill', language: 'fr', mature: '1'})
    expect(saved).toMatchObject({status: 303, location: `${dashboard}?saved=profile`})
    const html = await channelPage((h) => h.includes('About night-owl'))
    expect(html).toContain('&lt;script&gt;alert(&quot;description&quot;)&lt;/script&gt;')
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt; &amp; more')
    expect(html).not.toMatch(/<script>alert|<img src=x/)
    expect(html).toContain('Late night &lt;b&gt;talk&lt;/b&gt; &amp; radio')
    expect(html).toContain('<dt>Category</dt><dd><a href="/browse/talk">Talk</a></dd>')
    expect(html).toContain('<dd lang="fr">Français</dd>')
    expect(html).toContain('<ul class="tags"><li>chill</li><li>late-night</li><li>radio</li></ul>')
    expect(html).toContain('<span class="mature-badge">Mature content</span>')
    // The dashboard form shows what is saved.
    const form = (await owner.get(dashboard)).text
    expect(form).toContain('<option value="talk" selected>Talk</option>')
    expect(form).toContain('value="chill, late-night, radio"')
    expect(form).toMatch(/name="mature" value="1" checked/)
  })

  it('in Chromium, the description keeps its line breaks and runs no script', async () => {
    await page.goto(`${web}/c/${CHANNEL}`)
    expect(await page.locator('.description').innerText()).toBe(HOSTILE_DESCRIPTION)
    expect(await page.locator('.about img').count()).toBe(0)
    expect(dialogs).toEqual([])
  })
})

describe('channel images', () => {
  let firstAvatar: string

  it('an uploaded photo comes back as a WebP of the avatar size, without its EXIF, cacheable for good', async () => {
    const original = await photo('#3a7', 1200, 900)
    expect((await sharp(original).metadata()).exif).toBeDefined()
    const answer = await upload(owner, 'avatar', original, 'me.jpg', 'image/jpeg')
    expect(answer).toMatchObject({status: 303, location: `${dashboard}?saved=avatar`})
    const url = imageUrl((await owner.get(dashboard)).text, 'avatar')
    expect(url).toBeDefined()
    firstAvatar = url!
    const served = await fetch(`${web}${url}`)
    expect(served.status).toBe(200)
    expect(served.headers.get('content-type')).toBe('image/webp')
    expect(served.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
    expect(served.headers.get('x-content-type-options')).toBe('nosniff')
    const meta = await sharp(Buffer.from(await served.arrayBuffer())).metadata()
    expect(meta).toMatchObject({format: 'webp', width: 256, height: 256})
    expect(meta.exif).toBeUndefined()
    expect(meta.icc).toBeUndefined()
    expect(await storedImages()).toEqual([`channels/${CHANNEL}/${url!.split('/').pop()}`])
  })

  it('a PNG banner is cropped to 1600×400; the offline image to 1280×720; the channel page shows them', async () => {
    const png = await sharp({create: {width: 800, height: 600, channels: 4, background: '#248'}}).png().toBuffer()
    expect((await upload(owner, 'banner', png, 'banner.png', 'image/png')).status).toBe(303)
    const gif = await sharp({create: {width: 640, height: 480, channels: 3, background: '#642'}}).gif().toBuffer()
    expect((await upload(owner, 'offline', gif, 'away.gif', 'image/gif')).status).toBe(303)
    const html = await channelPage((h) => imageUrl(h, 'banner') !== undefined && imageUrl(h, 'offline') !== undefined)
    const size = async (url: string): Promise<[number | undefined, number | undefined]> => {
      const meta = await sharp(Buffer.from(await (await fetch(`${web}${url}`)).arrayBuffer())).metadata()
      return [meta.width, meta.height]
    }
    expect(await size(imageUrl(html, 'banner')!)).toEqual([1600, 400])
    expect(await size(imageUrl(html, 'offline')!)).toEqual([1280, 720])
    expect(html).toMatch(/<img class="channel-banner" src="\/media\/channels\/night-owl\/banner-/)
    expect(html).toMatch(/<div id="offline" class="with-image"><img src="\/media\/channels\/night-owl\/offline-/)
    expect(html).toContain(`<img class="avatar small" src="${firstAvatar}"`)
  })

  it('a new avatar replaces the old one: the old object leaves S3 and its URL answers 404', async () => {
    expect((await upload(owner, 'avatar', await photo('#a33', 300, 300), 'again.jpg', 'image/jpeg')).status).toBe(303)
    const now = imageUrl((await owner.get(dashboard)).text, 'avatar')
    expect(now).not.toBe(firstAvatar)
    const stored = await storedImages()
    expect(stored).toHaveLength(3)
    expect(stored).not.toContain(`channels/${CHANNEL}/${firstAvatar.split('/').pop()}`)
    expect((await fetch(`${web}${firstAvatar}`)).status).toBe(404)
    expect((await fetch(`${web}/media/channels/${CHANNEL}/..%2F..%2Fdvr%2Fx`)).status).toBe(404)
  })

  it('a 20 MB shell script is refused as too large, naming what is taken; nothing is stored', async () => {
    const before = await storedImages()
    const script = Buffer.from(`#!/bin/sh\n${'echo "not a picture at all"\n'.repeat(20 * 1024 * 1024 / 27)}`)
    expect(script.length).toBeGreaterThan(19 * 1024 * 1024)
    const answer = await upload(owner, 'banner', script, 'banner.png', 'image/png')
    expect(answer.status).toBe(413)
    expect(answer.text).toContain('<span class="field-error" id="banner-error">That file is larger than 8 MB: upload a JPEG, PNG, WebP or GIF image up to 8 MB.</span>')
    expect(await storedImages()).toEqual(before)
  })

  it('a small file that is not an image is refused with what is accepted; so is an SVG', async () => {
    const before = await storedImages()
    const script = await upload(owner, 'avatar', Buffer.from('#!/bin/sh\nrm -rf ~\n'), 'avatar.jpg', 'image/jpeg')
    expect(script.status).toBe(400)
    expect(script.text).toContain('<span class="field-error" id="avatar-error">That file is not an image this site takes: upload a JPEG, PNG, WebP or GIF image.</span>')
    const svg = await upload(owner, 'avatar', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>'), 'a.svg', 'image/svg+xml')
    expect(svg.status).toBe(400)
    expect(svg.text).toContain('not an image this site takes')
    expect(await storedImages()).toEqual(before)
  })

  it('removing an image deletes it; the channel page falls back to the initial', async () => {
    const html = (await owner.get(dashboard)).text
    const avatar = imageUrl(html, 'avatar')!
    expect((await owner.post(`${dashboard}/images/avatar/remove`, {_csrf: csrfToken(html)})).location).toBe(`${dashboard}?removed=avatar`)
    expect(await storedImages()).not.toContain(`channels/${CHANNEL}/${avatar.split('/').pop()}`)
    const page = await channelPage((h) => imageUrl(h, 'avatar') === undefined)
    expect(page).toMatch(/<span class="avatar small hue-\d" aria-hidden="true">N<\/span><h1>night-owl<\/h1>/)
  })
})

describe('who may change it', () => {
  it('a form without the token (as another site would post it) is refused and changes nothing', async () => {
    const before = await storedImages()
    const forged = await owner.post(`${dashboard}/profile`, {description: 'owned', category: 'music', tags: '', language: ''})
    expect(forged.status).toBe(403)
    const form = new FormData()
    form.append('image', new Blob([new Uint8Array(await photo('#000', 64, 64))], {type: 'image/jpeg'}), 'x.jpg')
    const upload = await owner.postMultipart(`${dashboard}/images/avatar`, form)
    expect(upload.status).toBe(403)
    expect(upload.text).toContain('This form has expired')
    expect(await storedImages()).toEqual(before)
    expect((await site.mongoClient.db('shing').collection('channels').findOne({name: CHANNEL}))?.category).toBe('talk')
  })

  it('someone else gets 404 for the dashboard, the profile and the images of a channel not theirs', async () => {
    expect((await other.get(dashboard)).status).toBe(404)
    const token = csrfToken((await other.get('/dashboard')).text)
    expect((await other.post(`${dashboard}/profile`, {_csrf: token, description: 'mine now', category: 'music', tags: '', language: ''})).status).toBe(404)
    expect((await upload(other, 'avatar', await photo('#000', 64, 64), 'x.jpg', 'image/jpeg', token)).status).toBe(404)
    expect((await other.post(`${dashboard}/images/banner/remove`, {_csrf: token})).status).toBe(404)
    const doc = await site.mongoClient.db('shing').collection('channels').findOne({name: CHANNEL})
    expect(doc).toMatchObject({category: 'talk', description: HOSTILE_DESCRIPTION.replace(/\r/g, '')})
    expect(doc?.images?.banner).toMatch(/^banner-[0-9a-f]{16}\.webp$/)
  })
})

describe('finding channels', () => {
  beforeAll(async () => {
    // A second channel in Talk, live: an ingest holding its broadcast writes this state.
    expect((await other.submit('/dashboard', '/dashboard/channels', {name: 'quiet-one', title: 'Quiet hours'})).status).toBe(303)
    await other.submit('/dashboard/c/quiet-one', '/dashboard/c/quiet-one/profile', {description: '', category: 'talk', tags: '', language: ''})
    const state: StreamState = {channel: 'quiet-one', streamId: 'quiet-one-1', since: new Date().toISOString(), ingestId: 'ingest-test', origin: '127.0.0.1:1', renditions: [{name: '720p', height: 720, bandwidth: 2_000_000}]}
    await site.client.set(streamStateKey('quiet-one'), JSON.stringify(state), 'EX', 600)
  })

  it('search finds a channel by name or title in any case, takes the words literally, and shows them as text', async () => {
    const visitor = new FormClient(web)
    expect((await visitor.get('/search?q=NIGHT-O')).text).toContain('<a href="/c/night-owl">night-owl</a>')
    const byTitle = (await visitor.get('/search?q=LATE%20night')).text
    expect(byTitle).toContain('<a href="/c/night-owl">night-owl</a>')
    expect(byTitle).not.toContain('quiet-one')
    expect((await visitor.get('/search?q=.*')).text).toContain('No channel matches “.*”.')
    const hostile = (await visitor.get(`/search?q=${encodeURIComponent('<script>alert(1)</script>')}`)).text
    expect(hostile).toContain('value="&lt;script&gt;alert(1)&lt;/script&gt;"')
    expect(hostile).not.toContain('<script>alert')
  })

  it('browse lists the categories with their counts; a category lists its channels, live first; the front page shows the category', async () => {
    const visitor = new FormClient(web)
    const browse = await waitFor('the live channel counted', async () => {
      const text = (await visitor.get('/browse')).text
      return text.includes('1 live') ? text : undefined
    }, {timeoutMs: 10_000, intervalMs: 500})
    expect(browse).toMatch(/<a href="\/browse\/talk">Talk<\/a><span class="muted">2 channels · <span class="live-count">1 live<\/span>/)
    const talk = (await visitor.get('/browse/talk')).text
    expect(talk.indexOf('quiet-one')).toBeGreaterThan(0)
    expect(talk.indexOf('quiet-one')).toBeLessThan(talk.indexOf('night-owl'))
    expect((await visitor.get('/browse/cooking')).status).toBe(404)
    const front = (await visitor.get('/')).text
    expect(front).toMatch(/<ul class="channels live"><li><a href="\/c\/quiet-one">quiet-one<\/a><span class="row-title">Quiet hours<\/span><span class="row-meta"><span class="live-dot">Live<\/span><a class="category" href="\/browse\/talk">Talk<\/a>/)
  })
})

describe('in Chromium, on a desktop and on a phone', () => {
  const look = async (path: string, name: string): Promise<void> => {
    await page.setViewportSize({width: 1280, height: 800})
    await page.goto(`${web}${path}`)
    await screenshot(page, name)
    await page.setViewportSize({width: 390, height: 844})
    await page.reload()
    await screenshot(page, `${name}-phone`)
    expect(await page.evaluate(() => document.documentElement.scrollWidth), `${path} on a phone`).toBeLessThanOrEqual(390)
  }

  it('uploads the offline image through the dashboard form, and every page fits', async () => {
    await page.context().addCookies([{name: 'shing_session', value: owner.cookie('shing_session')!, url: web}])
    await page.setViewportSize({width: 1280, height: 800})
    await page.goto(`${web}${dashboard}`)
    const file = await sharp({create: {width: 1920, height: 1080, channels: 3, background: '#345'}}).jpeg().toBuffer()
    await page.getByLabel('Offline image').setInputFiles({name: 'away.jpg', mimeType: 'image/jpeg', buffer: file})
    await page.getByRole('button', {name: 'Upload the offline image'}).click()
    await page.waitForURL(`${web}${dashboard}?saved=offline#images`)
    expect(await page.locator('[role=status].notice').first().textContent()).toBe('The new offline image is saved.')
    await page.getByLabel('Avatar').setInputFiles({name: 'me.jpg', mimeType: 'image/jpeg', buffer: await photo('#c63', 400, 400)})
    await page.getByRole('button', {name: 'Upload the avatar'}).click()
    await page.waitForURL(`${web}${dashboard}?saved=avatar#images`)
    await look(dashboard, 'profile-dashboard')
    await page.goto(`${web}${dashboard}`)
    await page.getByLabel('Banner').setInputFiles({name: 'x.sh', mimeType: 'text/x-shellscript', buffer: Buffer.from('#!/bin/sh\necho hi\n')})
    await page.getByRole('button', {name: 'Upload the banner'}).click()
    await page.waitForSelector('#banner-error')
    await screenshot(page, 'profile-image-refused')
    for (const [path, name] of [
      [`/c/${CHANNEL}`, 'profile-channel-page'],
      ['/c/quiet-one', 'profile-channel-page-no-images'],
      ['/', 'profile-front-page'],
      ['/browse', 'profile-browse'],
      ['/browse/talk', 'profile-browse-category'],
      ['/search?q=o', 'profile-search'],
    ] as const) {
      await look(path, name)
    }
    expect(dialogs).toEqual([])
  })
})
