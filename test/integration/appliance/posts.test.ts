/**
 * A channel's posts, through a real web process on real Redis, FerretDB and MinIO, with real forms
 * (CSRF tokens, multipart uploads) and Chromium: the owner posts Markdown with a hostile script and
 * a javascript: link (both harmless on the page), two photos (drawn again smaller as WebP without
 * their EXIF, served by the site) and a link to a past broadcast; the post is announced as a
 * channel.event job. Others cannot post or edit; a viewer likes (twice is once), comments, is
 * answered and mentioned (notifications), reports; the Community tab pages newest first without
 * repeats while posts arrive; an edit re-renders and drops an unticked picture from S3; a delete
 * takes the post, its comments, likes and pictures; a disabled channel's posts are gone from view.
 */
import {ObjectId, type Db} from 'mongodb'
import pino from 'pino'
import type {Page} from 'playwright-core'
import sharp from 'sharp'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {JobQueues} from '../../../appliance/jobs/queues.js'
import {PHONE, screenshotDesktopAndPhone} from '../../harness/artifacts.js'
import {launchChromium, recordDialogs, type RunningChromium} from '../../harness/chromium.js'
import {type Answer, csrfToken, FormClient, signUpThroughForm} from '../../harness/http-client.js'
import {BUCKET, startLiveSite, type LiveSite} from '../../harness/live-site.js'
import {waitFor} from '../../harness/process.js'

const PASSWORD = 'posts are for people'
const CHANNEL = 'quill-notes'
const STREAM_ID = '20261201T180000Z-0a1b2c3d'
const HOSTILE = `**Big news** for _everyone_: <script>alert("post")</script>

[tap here](javascript:alert('link')) or [our site](https://example.org/news?a=1&b=2)

<img src=x onerror=alert("img")>`

let site: LiveSite
let web: string
let db: Db
let chromium: RunningChromium
let page: Page
let owner: FormClient
let fan: FormClient
let stranger: FormClient
let jobs: JobQueues
let postId: string
const dialogs: string[] = []

beforeAll(async () => {
  site = await startLiveSite()
  await site.start('web')
  web = `http://127.0.0.1:${site.get('web').httpPort}`
  db = site.mongoClient.db('shing')
  owner = await signUp('quill-owner', '198.51.100.140')
  fan = await signUp('inkfan', '198.51.100.141')
  stranger = await signUp('stranger-7', '198.51.100.142')
  expect(await owner.submit('/dashboard', '/dashboard/channels', {name: CHANNEL, title: 'Notes from the quill'})).toMatchObject({status: 303})
  // A past broadcast with its poster, as dvr.finalize and vod.previews leave them.
  await db.collection('vods').insertOne({streamId: STREAM_ID, channel: CHANNEL, segments: 10, durationSeconds: 3723, renditions: [{name: '360p', segments: 10, durationSeconds: 3723}], createdAt: new Date(), previews: {sheets: 1, tiles: 10, tileSeconds: 10, madeAt: new Date()}})
  const poster = await sharp({create: {width: 640, height: 360, channels: 3, background: '#3a6'}}).jpeg().toBuffer()
  await site.minio.putObject(BUCKET, `dvr/${CHANNEL}/${STREAM_ID}/previews/poster.jpg`, poster, poster.length, {'Content-Type': 'image/jpeg'})
  jobs = new JobQueues(site.redisEndpoint, site.client, pino({level: 'silent'}))
  chromium = await launchChromium()
  const context = await chromium.browser.newContext()
  await context.addCookies([{name: 'shing_session', value: fan.cookie('shing_session')!, url: web}])
  page = recordDialogs(await context.newPage(), dialogs)
})

afterAll(async () => {
  await jobs?.close()
  await chromium?.close().catch(() => undefined)
  await site?.stop()
})

const signUp = (username: string, address: string): Promise<FormClient> => signUpThroughForm(web, username, {password: PASSWORD, address})

/** A photo as a phone makes one: a large JPEG with EXIF (who took it, with what). */
const photo = (colour: string, width: number, height: number): Promise<Buffer> =>
  sharp({create: {width, height, channels: 3, background: colour}})
    .jpeg()
    .withExif({IFD0: {Artist: 'Someone Private', Make: 'PhoneCo', Model: 'Phone 9'}})
    .toBuffer()

/** Sends a post's form as its page does: the CSRF token first, then the text, pictures and link. */
async function sendPost(client: FormClient, action: string, fields: {markdown: string; link?: string; keep?: string[]; images?: Buffer[]; tokenFrom?: string}): Promise<Answer> {
  const form = new FormData()
  form.append('_csrf', csrfToken((await client.get(fields.tokenFrom ?? `/c/${CHANNEL}/posts`)).text))
  form.append('markdown', fields.markdown)
  for (const key of fields.keep ?? []) form.append('keep', key)
  for (const [i, image] of (fields.images ?? []).entries()) form.append('images', new Blob([new Uint8Array(image)], {type: 'image/jpeg'}), `photo-${i}.jpg`)
  if ((fields.images ?? []).length === 0) form.append('images', new Blob([], {type: 'application/octet-stream'}), '')
  form.append('link', fields.link ?? '')
  return client.postMultipart(action, form)
}

const postDoc = (id = postId) => db.collection('posts').findOne({_id: new ObjectId(id)})
const stored = async (prefix: string): Promise<string[]> => {
  const names: string[] = []
  for await (const item of site.minio.listObjectsV2(BUCKET, prefix, true)) names.push((item as {name: string}).name)
  return names.sort()
}
const idFrom = (answer: Answer): string => {
  const match = new RegExp(`^/c/${CHANNEL}/posts/([0-9a-f]{24})$`).exec(answer.headers.get('location') ?? '')
  expect(match, `${answer.status} ${answer.headers.get('location')} ${answer.text.slice(0, 400)}`).not.toBeNull()
  return match![1]!
}

describe('writing a post', () => {
  it('the owner posts Markdown, two photos and a past broadcast: stored sanitized, the photos redrawn, the post announced', async () => {
    const answer = await sendPost(owner, `/c/${CHANNEL}/posts`, {markdown: HOSTILE, link: `vod:${STREAM_ID}`, images: [await photo('#c33', 3000, 2000), await photo('#33c', 800, 1200)]})
    expect(answer.status, answer.text.slice(0, 400)).toBe(303)
    postId = idFrom(answer)
    const doc = await postDoc()
    expect(doc).toMatchObject({channel: CHANNEL, markdown: HOSTILE, likes: 0, comments: 0, link: {kind: 'vod', id: STREAM_ID, channel: CHANNEL}})
    expect(doc!.html).toContain('<strong>Big news</strong>')
    expect(doc!.html).toContain('<a href="https://example.org/news?a=1&amp;b=2" rel="nofollow ugc noopener">our site</a>')
    // What was hostile is left as text: no element, attribute or link of it.
    expect(doc!.html).not.toMatch(/<script|<img|href="javascript|<[^>]*\son\w+=/i)
    expect(doc!.html).toContain("[tap here](javascript:alert('link'))")
    expect(doc!.images).toHaveLength(2)
    expect(doc!.images.map((i: {width: number; height: number}) => [i.width, i.height])).toEqual([[1600, 1067], [800, 1200]])
    expect(await stored(`posts/${postId}/`)).toEqual(doc!.images.map((i: {key: string}) => i.key).sort())
    // The worker's listeners (timelines, notifications, webhooks) hear of it.
    const job = await jobs.queue('channel.event').getJob(`channel.event-post-${postId}`)
    expect(job?.data).toMatchObject({channel: CHANNEL, event: 'post', postId})
  })

  it('serves each photo as WebP without the EXIF it came with', async () => {
    const html = (await new FormClient(web).get(`/c/${CHANNEL}/posts/${postId}`)).text
    const urls = [...html.matchAll(new RegExp(`/c/${CHANNEL}/posts/${postId}/images/[0-9a-f]{16}\\.webp`, 'g'))].map((m) => m[0])
    expect(new Set(urls).size).toBe(2)
    for (const url of new Set(urls)) {
      const response = await fetch(`${web}${url}`)
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toBe('image/webp')
      expect(response.headers.get('cache-control')).toContain('immutable')
      const meta = await sharp(Buffer.from(await response.arrayBuffer())).metadata()
      expect(meta.format).toBe('webp')
      expect(meta.exif).toBeUndefined()
      expect(Math.max(meta.width, meta.height)).toBeLessThanOrEqual(1600)
    }
    expect((await fetch(`${web}/c/${CHANNEL}/posts/${postId}/images/0000000000000000.webp`)).status).toBe(404)
  })

  it('refuses a post from anyone but the owner, and a form without its token', async () => {
    expect((await sendPost(stranger, `/c/${CHANNEL}/posts`, {markdown: 'not mine to say'})).status).toBe(403)
    expect((await stranger.get(`/c/${CHANNEL}/posts/${postId}/edit`)).status).toBe(403)
    expect((await sendPost(stranger, `/c/${CHANNEL}/posts/${postId}/edit`, {markdown: 'rewritten'})).status).toBe(403)
    expect((await stranger.submit(`/c/${CHANNEL}/posts/${postId}`, `/c/${CHANNEL}/posts/${postId}/delete`, {})).status).toBe(403)
    const tokenless = new FormData()
    tokenless.append('markdown', 'no token')
    expect((await owner.postMultipart(`/c/${CHANNEL}/posts`, tokenless)).status).toBe(403)
    expect((await sendPost(owner, `/c/${CHANNEL}/posts/ffffffffffffffffffffffff/edit`, {markdown: 'x'})).status).toBe(404)
    expect(await db.collection('posts').countDocuments({})).toBe(1)
    expect((await postDoc())!.markdown).toBe(HOSTILE)
  })

  it('refuses an empty post beside the form, keeping the link chosen', async () => {
    const refused = await sendPost(owner, `/c/${CHANNEL}/posts`, {markdown: '   ', link: `vod:${STREAM_ID}`})
    expect(refused.status).toBe(400)
    expect(refused.text).toContain('Write something first.')
    expect(refused.text).toContain(`<option value="vod:${STREAM_ID}" selected>`)
  })
})

describe('reading, liking and commenting', () => {
  it('the post page shows the Markdown harmless, the photos and the broadcast card, in a browser', async () => {
    await page.goto(`${web}/c/${CHANNEL}/posts/${postId}`)
    const body = page.locator(`#post-${postId} .post-body`)
    expect(await body.locator('strong').textContent()).toBe('Big news')
    expect(await body.textContent()).toContain('<script>alert("post")</script>')
    expect(await body.locator('a').evaluateAll((links) => links.map((a) => a.getAttribute('href')))).toEqual(['https://example.org/news?a=1&b=2'])
    await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('.post-images img, .post-link img')].every((img) => img.complete && img.naturalWidth > 0))
    expect(await page.locator('.post-images img').count()).toBe(2)
    expect(await page.locator('.post-link').getAttribute('href')).toBe(`/c/${CHANNEL}/vod/${STREAM_ID}`)
    expect(dialogs).toEqual([])
  })

  it('a like counts once, however often it is pressed; unlike takes it back', async () => {
    const like = page.locator(`#post-${postId} .post-actions button`)
    await like.click()
    await page.waitForURL(new RegExp(`/c/${CHANNEL}/posts/${postId}`))
    expect(await page.locator(`#post-${postId} .post-actions button`).getAttribute('aria-pressed')).toBe('true')
    // A second like (another tab, a double click) changes nothing.
    expect((await fan.submit(`/c/${CHANNEL}/posts/${postId}`, `/c/${CHANNEL}/posts/${postId}/like`, {})).status).toBe(303)
    await Promise.all([fan.submit(`/c/${CHANNEL}/posts/${postId}`, `/c/${CHANNEL}/posts/${postId}/like`, {}), fan.submit(`/c/${CHANNEL}/posts/${postId}`, `/c/${CHANNEL}/posts/${postId}/like`, {})])
    expect((await postDoc())!.likes).toBe(1)
    expect(await db.collection('post_likes').countDocuments({})).toBe(1)
    await owner.submit(`/c/${CHANNEL}/posts/${postId}`, `/c/${CHANNEL}/posts/${postId}/like`, {})
    expect((await postDoc())!.likes).toBe(2)
    await owner.submit(`/c/${CHANNEL}/posts/${postId}`, `/c/${CHANNEL}/posts/${postId}/unlike`, {})
    await owner.submit(`/c/${CHANNEL}/posts/${postId}`, `/c/${CHANNEL}/posts/${postId}/unlike`, {})
    expect((await postDoc())!.likes).toBe(1)
    await page.reload()
    expect(await page.locator(`#post-${postId} .post-actions button`).textContent()).toBe('♥ 1 like')
  })

  it('a comment, a reply to it that mentions someone: one level deep, escaped, and both told', async () => {
    await page.locator('#comment-text').fill('Lovely! <b>bold?</b> @stranger-7 should see this')
    await page.getByRole('button', {name: 'Comment', exact: true}).click()
    await page.waitForURL(/#comment-[0-9a-f]{24}$/)
    const fanComment = await db.collection('post_comments').findOne({author: 'inkfan'})
    expect(fanComment).toMatchObject({text: 'Lovely! <b>bold?</b> @stranger-7 should see this', channel: CHANNEL})
    expect(await page.locator(`#comment-${fanComment!._id.toHexString()} .comment-text`).textContent()).toBe('Lovely! <b>bold?</b> @stranger-7 should see this')
    // The owner answers from the Reply link (its form names whom it answers).
    const replyPage = await owner.get(`/c/${CHANNEL}/posts/${postId}?reply=${fanComment!._id.toHexString()}`)
    expect(replyPage.text).toContain('Replying to <strong>@inkfan</strong>')
    const reply = await owner.submit(`/c/${CHANNEL}/posts/${postId}?reply=${fanComment!._id.toHexString()}`, `/c/${CHANNEL}/posts/${postId}/comments`, {replyTo: fanComment!._id.toHexString(), text: '@inkfan thank you!'})
    expect(reply.status).toBe(303)
    const ownerReply = await db.collection('post_comments').findOne({author: 'quill-owner'})
    expect(ownerReply?.replyTo).toMatchObject({commentId: fanComment!._id.toHexString(), author: 'inkfan'})
    // A reply to the reply is still a comment on the post, naming whom it answers.
    await fan.submit(`/c/${CHANNEL}/posts/${postId}`, `/c/${CHANNEL}/posts/${postId}/comments`, {replyTo: ownerReply!._id.toHexString(), text: 'you are welcome'})
    const third = await db.collection('post_comments').findOne({text: 'you are welcome'})
    expect(third).toMatchObject({postId: new ObjectId(postId), replyTo: {commentId: ownerReply!._id.toHexString(), author: 'quill-owner'}})
    expect((await postDoc())!.comments).toBe(3)
    const users = db.collection('users')
    const idOf = async (username: string): Promise<string> => (await users.findOne({usernameKey: username}))!._id.toHexString()
    const notifications = db.collection('notifications')
    expect(await notifications.findOne({userId: await idOf('inkfan'), key: `reply:${ownerReply!._id.toHexString()}`})).toMatchObject({kind: 'reply', actor: 'quill-owner', url: `/c/${CHANNEL}/posts/${postId}#comment-${ownerReply!._id.toHexString()}`})
    expect(await notifications.findOne({userId: await idOf('stranger-7'), key: `mention:${fanComment!._id.toHexString()}`})).toMatchObject({kind: 'mention', actor: 'inkfan'})
    expect(await notifications.findOne({userId: await idOf('quill-owner'), key: `reply:${third!._id.toHexString()}`})).toMatchObject({kind: 'reply'})
    // Nobody is told of their own words.
    expect(await notifications.countDocuments({key: `mention:${ownerReply!._id.toHexString()}`})).toBe(0)
  })

  it('a comment goes by its author or the channel owner, nobody else', async () => {
    const mine = await db.collection('post_comments').findOne({text: 'you are welcome'})
    const path = `/c/${CHANNEL}/posts/${postId}/comments/${mine!._id.toHexString()}/delete`
    expect((await stranger.submit(`/c/${CHANNEL}/posts/${postId}`, path, {})).status).toBe(403)
    expect((await owner.submit(`/c/${CHANNEL}/posts/${postId}`, path, {})).status).toBe(303)
    expect(await db.collection('post_comments').countDocuments({_id: mine!._id})).toBe(0)
    expect((await postDoc())!.comments).toBe(2)
  })

  it('a post and a comment are reported to the moderators, with what was reported', async () => {
    const comment = await db.collection('post_comments').findOne({author: 'quill-owner'})
    const reportPost = await fan.submit(`/c/${CHANNEL}/posts/${postId}/report`, `/c/${CHANNEL}/posts/${postId}/report`, {reason: 'spam', details: 'It <b>shouts</b>'})
    expect(reportPost.status).toBe(200)
    expect(reportPost.text).toContain('Your report is sent.')
    const commentPath = `/c/${CHANNEL}/posts/${postId}/comments/${comment!._id.toHexString()}/report`
    expect((await fan.submit(commentPath, commentPath, {reason: 'harassment'})).status).toBe(200)
    // Again: the same report, changed.
    expect((await fan.submit(commentPath, commentPath, {reason: 'other'})).text).toContain('Your report is updated.')
    const reports = await db.collection('reports').find({}).sort({createdAt: 1}).toArray()
    expect(reports).toHaveLength(2)
    expect(reports[0]).toMatchObject({channel: CHANNEL, reason: 'spam', reporter: 'inkfan', target: {kind: 'post', id: postId, url: `/c/${CHANNEL}/posts/${postId}`}})
    expect(reports[1]).toMatchObject({reason: 'other', target: {kind: 'comment', id: comment!._id.toHexString(), excerpt: '@inkfan thank you!'}})
    // The channel itself is reported apart from them.
    expect((await fan.submit(`/c/${CHANNEL}/report`, `/c/${CHANNEL}/report`, {reason: 'other'})).text).toContain('Your report is sent.')
    expect(await db.collection('reports').countDocuments({})).toBe(3)
    // A moderator sees what was reported, as text, with the way to it.
    await db.collection('users').updateOne({usernameKey: 'stranger-7'}, {$set: {role: 'moderator'}})
    const queue = await stranger.get('/admin/reports')
    expect(queue.status).toBe(200)
    expect(queue.text).toContain(`A comment: <a href="/c/${CHANNEL}/posts/${postId}#comment-${comment!._id.toHexString()}">@inkfan thank you!</a>`)
    expect(queue.text).toContain(`A post: <a href="/c/${CHANNEL}/posts/${postId}">**Big news** for _everyone_: &lt;script&gt;`)
    await db.collection('users').updateOne({usernameKey: 'stranger-7'}, {$unset: {role: ''}})
  })

  it("a site moderator removes a reported comment and a reported post from the reports page; their reports close", async () => {
    await db.collection('users').updateOne({usernameKey: 'stranger-7'}, {$set: {role: 'moderator'}})
    try {
      const comment = await db.collection('post_comments').findOne({author: 'quill-owner'})
      const commentId = comment!._id.toHexString()
      const commentReport = await db.collection('reports').findOne({'target.id': commentId, status: 'open'})
      // The page offers it beside each report of a post or a comment.
      expect((await stranger.get('/admin/reports')).text).toContain(`action="/admin/reports/${commentReport!._id.toHexString()}/remove"`)
      const moderatorContext = await chromium.browser.newContext()
      await moderatorContext.addCookies([{name: 'shing_session', value: stranger.cookie('shing_session')!, url: web}])
      const queuePage = await moderatorContext.newPage()
      await queuePage.goto(`${web}/admin/reports`)
      expect(await queuePage.getByRole('button', {name: 'Remove the comment'}).count()).toBe(1)
      expect(await screenshotDesktopAndPhone(queuePage, 'reports-post-and-comment'), 'the reports page on a phone').toBeLessThanOrEqual(PHONE.width)
      await moderatorContext.close()
      // Without the form's token: refused, nothing removed.
      expect((await stranger.post(`/admin/reports/${commentReport!._id.toHexString()}/remove`, {})).status).toBe(403)
      // Not staff: the fan cannot.
      expect([403, 404]).toContain((await fan.submit(`/c/${CHANNEL}/posts/${postId}`, `/admin/reports/${commentReport!._id.toHexString()}/remove`, {})).status)
      expect(await db.collection('post_comments').countDocuments({_id: comment!._id})).toBe(1)
      const removed = await stranger.submit('/admin/reports', `/admin/reports/${commentReport!._id.toHexString()}/remove`, {})
      expect(removed).toMatchObject({status: 303, location: '/admin/reports'})
      expect((await stranger.get('/admin/reports')).text).toContain(`The comment on ${CHANNEL} is removed; its report is closed.`)
      expect(await db.collection('post_comments').countDocuments({_id: comment!._id})).toBe(0)
      expect((await fan.get(`/c/${CHANNEL}/posts/${postId}`)).text).not.toContain(`id="comment-${commentId}"`)
      expect(await db.collection('reports').findOne({_id: commentReport!._id})).toMatchObject({status: 'closed', resolution: 'content-removed', closedBy: 'stranger-7'})

      // A post of its own, reported, removed with its pictures.
      const doomed = idFrom(await sendPost(owner, `/c/${CHANNEL}/posts`, {markdown: 'Something nobody should read', images: [await photo('#aa0000', 400, 300)]}))
      expect(await stored(`posts/${doomed}/`)).toHaveLength(1)
      expect((await fan.submit(`/c/${CHANNEL}/posts/${doomed}/report`, `/c/${CHANNEL}/posts/${doomed}/report`, {reason: 'spam'})).status).toBe(200)
      const postReport = await db.collection('reports').findOne({'target.id': doomed, status: 'open'})
      expect((await stranger.submit('/admin/reports', `/admin/reports/${postReport!._id.toHexString()}/remove`, {})).status).toBe(303)
      expect(await postDoc(doomed)).toBeNull()
      expect((await fetch(`${web}/c/${CHANNEL}/posts/${doomed}`)).status).toBe(404)
      expect(await stored(`posts/${doomed}/`)).toEqual([])
      const closed = await stranger.get('/admin/reports')
      expect(closed.text).toContain('Post removed by stranger-7')
      expect(await db.collection('audit').countDocuments({action: 'report.remove-post', actor: 'stranger-7'})).toBe(1)
    } finally {
      await db.collection('users').updateOne({usernameKey: 'stranger-7'}, {$unset: {role: ''}})
    }
  })

  it('a long conversation pages: the newest 200 comments, then "Earlier comments" for the rest, none twice', async () => {
    const post = (await postDoc())!
    const base = Date.now() - 3_600_000
    // 205 comments written straight in (the form allows 60 a minute), five of them in the same millisecond.
    const seeded = Array.from({length: 205}, (_, i) => ({_id: new ObjectId(), postId: post._id, channel: CHANNEL, authorId: 'seed', author: 'seed', text: `seeded ${i}`, createdAt: new Date(base + Math.min(i, 200) * 1000)}))
    await db.collection('post_comments').insertMany(seeded)
    try {
      const texts = (html: string): string[] => [...html.matchAll(/<p class="comment-text">(seeded \d+)<\/p>/g)].map((m) => m[1]!)
      const first = await fan.get(`/c/${CHANNEL}/posts/${postId}`)
      const newest = texts(first.text)
      expect(newest).toHaveLength(200 - (await db.collection('post_comments').countDocuments({postId: post._id, authorId: {$ne: 'seed'}})))
      const earlier = /href="([^"]+)" rel="prev">Earlier comments</.exec(first.text)?.[1]
      expect(earlier).toBeDefined()
      const rest = texts((await fan.get(earlier!.replaceAll('&amp;', '&'))).text)
      expect(new Set([...rest, ...newest]).size).toBe(205)
      expect([...rest, ...newest]).toHaveLength(205)
    } finally {
      await db.collection('post_comments').deleteMany({postId: post._id, authorId: 'seed'})
    }
  })

  it('screenshots of the post page, on a desktop and a phone', async () => {
    await page.goto(`${web}/c/${CHANNEL}/posts/${postId}`)
    await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('.post-images img, .post-link img')].every((img) => img.complete && img.naturalWidth > 0))
    expect(await screenshotDesktopAndPhone(page, 'post-page')).toBeLessThanOrEqual(390)
  })
})

describe('the Community tab', () => {
  it('lists the posts newest first, ten a page, and pages on without repeats while new posts arrive', async () => {
    const ids = [postId]
    for (let i = 1; i <= 11; i++) ids.push(idFrom(await sendPost(owner, `/c/${CHANNEL}/posts`, {markdown: `Note number ${i}`})))
    const cardIds = (html: string): string[] => [...html.matchAll(/<article class="post" id="post-([0-9a-f]{24})"/g)].map((m) => m[1]!)
    const first = await fan.get(`/c/${CHANNEL}/posts`)
    expect(cardIds(first.text)).toEqual(ids.slice(2).reverse())
    const older = /href="(\/c\/quill-notes\/posts\?before=[^"]+)" rel="next"/.exec(first.text)?.[1]
    expect(older).toBeDefined()
    // One more post while the reader is on page one: page two goes on where page one ended.
    ids.push(idFrom(await sendPost(owner, `/c/${CHANNEL}/posts`, {markdown: 'A late note'})))
    const second = await fan.get(older!.replaceAll('&amp;', '&'))
    expect(cardIds(second.text)).toEqual([ids[1], ids[0]])
    expect(second.text).not.toContain('rel="next"')
    // The channel's own page shows the newest three and the way to the tab.
    const channelPage = await waitFor('the channel page to show the newest posts', async () => {
      const html = (await new FormClient(web).get(`/c/${CHANNEL}`)).text
      return html.includes('A late note') ? html : undefined
    }, {timeoutMs: 8000, intervalMs: 250})
    expect(channelPage).toContain(`<a href="/c/${CHANNEL}/posts">All posts</a>`)
    expect(channelPage).toContain(`href="/c/${CHANNEL}/posts/${ids.at(-1)}"`)
    await page.goto(`${web}/c/${CHANNEL}`)
    await page.locator('#community').scrollIntoViewIfNeeded()
    expect(await screenshotDesktopAndPhone(page, 'channel-community-section')).toBeLessThanOrEqual(390)
    await page.getByRole('link', {name: 'All posts'}).click()
    await page.waitForURL(`${web}/c/${CHANNEL}/posts`)
  })

  it('the owner writes from the tab in a browser (keyboard and pointer), and it looks right on a desktop and a phone', async () => {
    const ownerContext = await chromium.browser.newContext()
    await ownerContext.addCookies([{name: 'shing_session', value: owner.cookie('shing_session')!, url: web}])
    const ownerPage = recordDialogs(await ownerContext.newPage(), dialogs)
    await ownerPage.goto(`${web}/dashboard/c/${CHANNEL}`)
    await ownerPage.getByRole('link', {name: 'Write a post'}).click()
    await ownerPage.locator('#post-markdown').fill('Stream tonight at **8**: bring tea. Details at https://example.org/tonight')
    await ownerPage.locator('select[name="link"]').selectOption(`vod:${STREAM_ID}`)
    await ownerPage.locator('input[name="images"]').setInputFiles({name: 'tea.jpg', mimeType: 'image/jpeg', buffer: await photo('#a73', 1200, 900)})
    expect(await screenshotDesktopAndPhone(ownerPage, 'community-write')).toBeLessThanOrEqual(390)
    await ownerPage.locator('#post-markdown').focus()
    await ownerPage.keyboard.press('Tab')
    await ownerPage.getByRole('button', {name: 'Post', exact: true}).press('Enter')
    await ownerPage.waitForURL(new RegExp(`/c/${CHANNEL}/posts/[0-9a-f]{24}$`))
    expect(await ownerPage.locator('.post-body strong').textContent()).toBe('8')
    await ownerContext.close()
    await page.goto(`${web}/c/${CHANNEL}/posts`)
    await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('.posts img')].every((img) => img.complete && img.naturalWidth > 0))
    expect(await page.locator('.channel-tabs a[aria-current="page"]').textContent()).toBe('Community')
    expect(await screenshotDesktopAndPhone(page, 'community-tab')).toBeLessThanOrEqual(390)
    expect(dialogs).toEqual([])
  })
})

describe('editing and deleting', () => {
  it('an edit re-renders the Markdown, says it was edited, and a picture left out leaves S3', async () => {
    const before = (await postDoc())!
    const [kept, dropped] = before.images.map((i: {key: string}) => i.key) as [string, string]
    const answer = await sendPost(owner, `/c/${CHANNEL}/posts/${postId}/edit`, {markdown: 'Edited: *now calmer*', keep: [kept], link: `vod:${STREAM_ID}`, tokenFrom: `/c/${CHANNEL}/posts/${postId}/edit`})
    expect(answer.status, answer.text.slice(0, 300)).toBe(303)
    const after = (await postDoc())!
    expect(after.html).toBe('<p>Edited: <em>now calmer</em></p>')
    expect(after.editedAt).toBeInstanceOf(Date)
    expect(after.images.map((i: {key: string}) => i.key)).toEqual([kept])
    expect(await stored(`posts/${postId}/`)).toEqual([kept])
    expect(dropped).not.toBe(kept)
    // An edit keeps its likes and comments (one of the three went with a moderator).
    expect(after).toMatchObject({likes: 1, comments: 1})
    expect((await fan.get(`/c/${CHANNEL}/posts/${postId}`)).text).toMatch(/· edited <time/)
  })

  it('a disabled channel\'s posts are gone from view with its pages', async () => {
    await db.collection('channels').updateOne({name: CHANNEL}, {$set: {disabled: {by: 'a-moderator', at: new Date(), reason: 'test'}}})
    const key = (await postDoc())!.images[0].key as string
    await waitFor('the post page to answer 410', async () => (await fan.get(`/c/${CHANNEL}/posts/${postId}`)).status === 410, {timeoutMs: 8000, intervalMs: 250})
    expect((await fan.get(`/c/${CHANNEL}/posts`)).status).toBe(410)
    expect((await fetch(`${web}/c/${CHANNEL}/posts/${postId}/images/${key.split('/').pop()}`)).status).toBe(410)
    await db.collection('channels').updateOne({name: CHANNEL}, {$unset: {disabled: ''}})
    await waitFor('the post page to come back', async () => (await fan.get(`/c/${CHANNEL}/posts/${postId}`)).status === 200, {timeoutMs: 8000, intervalMs: 250})
  })

  it('a delete takes the post, its comments, its likes and its pictures', async () => {
    expect(await stored(`posts/${postId}/`)).toHaveLength(1)
    const answer = await owner.submit(`/c/${CHANNEL}/posts/${postId}/edit`, `/c/${CHANNEL}/posts/${postId}/delete`, {})
    expect(answer.status).toBe(303)
    expect(answer.headers.get('location')).toBe(`/c/${CHANNEL}/posts?deleted=1`)
    expect(await postDoc()).toBeNull()
    expect(await db.collection('post_comments').countDocuments({postId: new ObjectId(postId)})).toBe(0)
    expect(await db.collection('post_likes').countDocuments({postId: new ObjectId(postId)})).toBe(0)
    expect(await stored(`posts/${postId}/`)).toEqual([])
    expect((await fan.get(`/c/${CHANNEL}/posts/${postId}`)).status).toBe(404)
  })
})

describe('deleting accounts', () => {
  it('a viewer who goes takes their likes and comments (the counts follow); an owner who goes takes the channel\'s posts and pictures', async () => {
    const id = idFrom(await sendPost(owner, `/c/${CHANNEL}/posts`, {markdown: 'Last words', images: [await photo('#777', 400, 300)]}))
    await fan.submit(`/c/${CHANNEL}/posts/${id}`, `/c/${CHANNEL}/posts/${id}/like`, {})
    await fan.submit(`/c/${CHANNEL}/posts/${id}`, `/c/${CHANNEL}/posts/${id}/comments`, {text: 'bye now'})
    await stranger.submit(`/c/${CHANNEL}/posts/${id}`, `/c/${CHANNEL}/posts/${id}/comments`, {text: 'staying'})
    expect(await postDoc(id)).toMatchObject({likes: 1, comments: 2})
    expect((await fan.submit('/account', '/account/delete', {confirmUsername: 'inkfan', deletePassword: PASSWORD})).status).toBe(200)
    expect(await postDoc(id)).toMatchObject({likes: 0, comments: 1})
    expect(await db.collection('post_comments').countDocuments({author: 'inkfan'})).toBe(0)
    expect(await db.collection('post_likes').countDocuments({})).toBe(0)
    expect(await stored(`posts/${id}/`)).toHaveLength(1)
    expect((await owner.submit('/account', '/account/delete', {confirmUsername: 'quill-owner', deletePassword: PASSWORD})).status).toBe(200)
    expect(await db.collection('posts').countDocuments({channel: CHANNEL})).toBe(0)
    expect(await db.collection('post_comments').countDocuments({channel: CHANNEL})).toBe(0)
    expect(await stored('posts/')).toEqual([])
  })
})
