/**
 * Home timelines against real Redis, FerretDB, a web and workers: B and C follow A; A's posts
 * reach their timelines through channel.event → post.fanout; /home pages without gaps or repeats
 * while posts arrive; only timelines that exist (were read) are written into, and a read keeps one
 * for 14 days; a channel above the threshold is merged in at read (and not "unfanned"); a deleted
 * post leaves every timeline; a disabled channel's posts leave every /home until it is enabled; a
 * Redis restart loses nothing (rebuilt from MongoDB on read); a worker killed in the middle of a
 * fan-out to 20,000 followers whose timelines exist is resumed by another, and each has the post
 * once; a deleted account's timeline goes with it.
 */
import {Queue} from 'bullmq'
import pino from 'pino'
import {ObjectId, type Db} from 'mongodb'
import type {Page} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {MONGO_DATABASE} from '../../../appliance/contract/index.js'
import {QUEUE_PREFIX} from '../../../appliance/jobs/catalog.js'
import {JobQueues} from '../../../appliance/jobs/queues.js'
import {Posts, type PostDoc} from '../../../appliance/community/posts.js'
import {Channels} from '../../../appliance/channels/channels.js'
import {TIMELINE_TTL_MS, timelineKey} from '../../../appliance/community/timelines.js'
import {screenshotDesktopAndPhone} from '../../harness/artifacts.js'
import {launchChromium, type RunningChromium} from '../../harness/chromium.js'
import {csrfToken, FormClient, signUpThroughForm} from '../../harness/http-client.js'
import {startLiveSite, type LiveSite} from '../../harness/live-site.js'
import {waitFor} from '../../harness/process.js'

const PASSWORD = 'posts on a timeline'
/** Small, so that a channel with 4 followers is "big" (merged at read); the crowd test raises it. */
const SMALL_SITE = JSON.stringify({timelines: {fanoutMaxFollowers: 3, length: 50}})
const CROWD = 20_000

let site: LiveSite
let web: string
let db: Db
let posts: Posts
let jobs: JobQueues
let owner: FormClient
let b: FormClient
let c: FormClient
const ids: Record<string, string> = {}
let clock = Date.UTC(2026, 11, 1, 12, 0, 0)

beforeAll(async () => {
  site = await startLiveSite()
  await Promise.all([site.start('web', {SHING_COMMUNITY: SMALL_SITE}), site.start('worker', {SHING_COMMUNITY: SMALL_SITE})])
  web = `http://127.0.0.1:${site.get('web').httpPort}`
  db = site.mongoClient.db(MONGO_DATABASE)
  posts = new Posts(db)
  jobs = new JobQueues(site.redisEndpoint, site.client, pino({level: 'silent'}))
  owner = await signUp('alpha-owner', '198.51.100.140')
  expect(await owner.submit('/dashboard', '/dashboard/channels', {name: 'alpha-posts', title: 'Alpha'})).toMatchObject({status: 303})
  // One channel per account: the big channel has an owner of its own.
  const star = await signUp('big-owner', '198.51.100.143')
  expect(await star.submit('/dashboard', '/dashboard/channels', {name: 'big-stage', title: 'Big stage'})).toMatchObject({status: 303})
  b = await signUp('reader-b', '198.51.100.141')
  c = await signUp('reader-c', '198.51.100.142')
  for (const name of ['alpha-owner', 'reader-b', 'reader-c']) ids[name] = (await db.collection('users').findOne({username: name}))!._id.toHexString()
}, 120_000)

afterAll(async () => {
  await jobs?.close()
  await site?.stop()
})

const signUp = (username: string, address: string): Promise<FormClient> => signUpThroughForm(web, username, {password: PASSWORD, address})

/** A post written as the posts' route writes one (a second apart, unless told), then its channel.event. */
async function publish(channel: string, text: string, at = (clock += 1000)): Promise<string> {
  const _id = new ObjectId()
  const post: PostDoc = {_id, channel, authorId: ids['alpha-owner']!, markdown: text, html: `<p>${text}</p>`, images: [], createdAt: new Date(at), likes: 0, comments: 0}
  await posts.insert(post)
  await jobs.enqueue('channel.event', {channel, event: 'post', postId: _id.toHexString(), at: new Date(at).toISOString()})
  return _id.toHexString()
}

/** The post ids of a page of /home, in order, and its "Older posts" address. */
async function home(client: FormClient, path = '/home'): Promise<{ids: string[]; older?: string; text: string}> {
  const answer = await client.get(path)
  expect(answer.status).toBe(200)
  const older = /<a class="button secondary" href="([^"]+)" rel="next">Older posts/.exec(answer.text)?.[1]?.replaceAll('&amp;', '&')
  return {ids: [...answer.text.matchAll(/<article class="post" id="post-([0-9a-f]{24})"/g)].map((m) => m[1]!), text: answer.text, ...(older === undefined ? {} : {older})}
}

const inTimeline = async (user: string, postId: string): Promise<boolean> => (await site.client.zscore(timelineKey(ids[user]!), postId)) !== null

async function jobResult(type: string, jobId: string): Promise<unknown> {
  const queue = new Queue(type, {connection: {...site.redisEndpoint, maxRetriesPerRequest: null}, prefix: QUEUE_PREFIX})
  try {
    return await waitFor(`${jobId} to finish`, async () => (await queue.getJob(jobId))?.returnvalue ?? undefined, {timeoutMs: 30_000, intervalMs: 200})
  } finally {
    await queue.close()
  }
}

describe('home timelines', () => {
  let first: string
  const all: string[] = []

  it('B and C follow A; A posts; it is written into B\'s timeline (B has read /home), not into C\'s (none yet); both see it', async () => {
    expect((await home(b)).text).toContain('You follow no channel yet')
    expect((await home(b)).text).toContain('href="/browse"')
    for (const reader of [b, c]) expect((await reader.submit('/c/alpha-posts', '/c/alpha-posts/follow', {})).status).toBe(303)
    expect((await home(b)).text).toContain('have not posted yet')
    // A read keeps the timeline for 14 days from then.
    expect(await site.client.pttl(timelineKey(ids['reader-b']!))).toBeGreaterThan(TIMELINE_TTL_MS - 60_000)
    first = await publish('alpha-posts', 'Hello <followers>')
    all.unshift(first)
    expect(await jobResult('post.fanout', `post.fanout-${first}`)).toMatchObject({status: 'done', followers: 2, timelines: 1, resumedAfter: 0})
    expect(await inTimeline('reader-b', first)).toBe(true)
    // C never opened /home: no timeline is kept for C.
    expect(await site.client.exists(timelineKey(ids['reader-c']!))).toBe(0)
    const page = await home(b)
    expect(page.ids).toEqual([first])
    expect(page.text).toContain('<p>Hello <followers></p>')
    // C's is built from MongoDB at C's first read, with the post; from then on it is fanned into.
    expect((await home(c)).ids).toEqual([first])
    expect(await inTimeline('reader-c', first)).toBe(true)
    expect(await site.client.pttl(timelineKey(ids['reader-c']!))).toBeGreaterThan(TIMELINE_TTL_MS - 60_000)
  })

  it('A publishes and deletes through the posts\' own forms: the post comes into B\'s and C\'s timelines, then leaves them', async () => {
    const form = new FormData()
    form.append('_csrf', csrfToken((await owner.get('/c/alpha-posts/posts')).text))
    form.append('markdown', 'Written **on the site**')
    form.append('images', new Blob([], {type: 'application/octet-stream'}), '')
    form.append('link', '')
    const sent = await owner.postMultipart('/c/alpha-posts/posts', form)
    expect(sent.status, sent.text.slice(0, 300)).toBe(303)
    const path = sent.location!
    const postId = /\/posts\/([0-9a-f]{24})$/.exec(path)![1]!
    await waitFor('the post in both timelines', async () => (await inTimeline('reader-b', postId)) && (await inTimeline('reader-c', postId)), {timeoutMs: 20_000, intervalMs: 100})
    const page = await home(b)
    expect(page.ids[0]).toBe(postId)
    expect(page.text).toContain('<strong>on the site</strong>')
    expect((await owner.submit(path, `${path}/delete`, {})).status).toBe(303)
    await waitFor('out of both timelines', async () => !(await inTimeline('reader-b', postId)) && !(await inTimeline('reader-c', postId)), {timeoutMs: 20_000, intervalMs: 100})
    expect((await home(b)).ids).toEqual([first])
  })

  it('paging by "Older posts" shows every post once, in order, while new ones arrive (only at the top of a fresh load)', async () => {
    // 44 more, three of them in one millisecond (the cursor's id breaks the tie: a page ends among them).
    let same = 0
    for (let i = 0; i < 44; i++) {
      if (i === 22) same = clock += 1000
      all.unshift(await publish('alpha-posts', `post ${i}`, i >= 22 && i < 25 ? same : undefined))
    }
    await waitFor('all in B\'s timeline', async () => (await site.client.zcard(timelineKey(ids['reader-b']!))) >= 46, {timeoutMs: 60_000, intervalMs: 200})
    const seen: string[] = []
    const arrived: string[] = []
    let page = await home(b)
    for (;;) {
      seen.push(...page.ids)
      // New posts while B reads older pages.
      arrived.push(await publish('alpha-posts', `arrived while paging ${arrived.length}`))
      if (page.older === undefined) break
      page = await home(b, page.older)
    }
    expect(seen).toEqual(all)
    expect(new Set(seen).size).toBe(seen.length)
    await waitFor('the arrivals fanned out', async () => inTimeline('reader-b', arrived.at(-1)!), {timeoutMs: 20_000, intervalMs: 100})
    const fresh = await home(b)
    expect(fresh.ids.slice(0, arrived.length)).toEqual([...arrived].reverse())
    all.unshift(...[...arrived].reverse())
  })

  it('a channel above the threshold is not fanned out: its posts are merged in when the timeline is read', async () => {
    for (const reader of [b, c]) expect((await reader.submit('/c/big-stage', '/c/big-stage/follow', {})).status).toBe(303)
    await db.collection('follows').insertMany(['x1', 'x2', 'x3'].map((userId) => ({userId, channel: 'big-stage', notify: false, at: new Date()})))
    const big = await publish('big-stage', 'to a big audience', Date.now() + 60_000)
    expect(await jobResult('post.fanout', `post.fanout-${big}`)).toMatchObject({status: 'pulled', followers: 5})
    expect(await inTimeline('reader-b', big)).toBe(false)
    expect((await home(b)).ids[0]).toBe(big)
    expect((await home(c)).ids[0]).toBe(big)
    all.unshift(big)
    // Deleting a post of a pulled channel has no timelines to go through.
    const gone = await publish('big-stage', 'soon gone', Date.now() + 30_000)
    expect(await jobResult('post.fanout', `post.fanout-${gone}`)).toMatchObject({status: 'pulled'})
    await posts.remove(new ObjectId(gone))
    await jobs.enqueue('post.unfanout', {postId: gone, channel: 'big-stage'})
    expect(await jobResult('post.unfanout', `post.unfanout-${gone}`)).toMatchObject({status: 'skipped', reason: 'pulled channel'})
  })

  it('the timeline page in Chromium (desktop and phone): cards, Older posts, the header link', async () => {
    const chromium: RunningChromium = await launchChromium()
    try {
      const context = await chromium.browser.newContext()
      await context.addCookies([{name: 'shing_session', value: b.cookie('shing_session')!, url: web}])
      const page: Page = await context.newPage()
      await page.goto(`${web}/`)
      await page.getByRole('link', {name: 'Home', exact: true}).click()
      await page.waitForURL(`${web}/home`)
      expect(await page.locator('article.post').count()).toBe(20)
      expect(await screenshotDesktopAndPhone(page, 'timeline-home')).toBeLessThanOrEqual(390)
      await page.getByRole('link', {name: 'Older posts'}).focus()
      await page.keyboard.press('Enter')
      await page.waitForURL(/\/home\?before=/)
      expect(await page.locator('article.post').first().getAttribute('id')).toBe(`post-${all[20]!}`)
      // Someone who follows nothing is told what to do.
      const newcomer = await signUp('reader-d', '198.51.100.144')
      const fresh = await chromium.browser.newContext()
      await fresh.addCookies([{name: 'shing_session', value: newcomer.cookie('shing_session')!, url: web}])
      const empty = await fresh.newPage()
      await empty.goto(`${web}/home`)
      await empty.getByRole('link', {name: 'Find channels to follow'}).waitFor()
      expect(await screenshotDesktopAndPhone(empty, 'timeline-empty')).toBeLessThanOrEqual(390)
    } finally {
      await chromium.close()
    }
  })

  it('a deleted post leaves every timeline', async () => {
    const gone = all[1]!
    await posts.remove(new ObjectId(gone))
    await jobs.enqueue('post.unfanout', {postId: gone, channel: 'alpha-posts'})
    await waitFor('out of both timelines', async () => !(await inTimeline('reader-b', gone)) && !(await inTimeline('reader-c', gone)), {timeoutMs: 20_000, intervalMs: 100})
    all.splice(1, 1)
    expect((await home(b)).ids).toEqual(all.slice(0, 20))
    expect((await home(c)).ids).toEqual(all.slice(0, 20))
  })

  it('a disabled channel\'s posts leave every /home (its follows stay); enabled again, they are back', async () => {
    const channels = new Channels(db)
    expect(await channels.disable('alpha-posts', {at: new Date(), by: 'test', reason: 'moderated'})).toBe(true)
    // Only big-stage's post is left, on one page: no "Older posts" leading through alpha-posts' hidden ones.
    for (const reader of [b, c]) {
      const page = await home(reader)
      expect(page.ids).toEqual([all[0]])
      expect(page.older).toBeUndefined()
    }
    // From MongoDB alone (no timeline in Redis: built again on this read) it is the same.
    await site.client.del(timelineKey(ids['reader-c']!))
    expect((await home(c)).ids).toEqual([all[0]])
    expect(await channels.enable('alpha-posts')).toBe(true)
    expect((await home(b)).ids).toEqual(all.slice(0, 20))
    expect((await home(c)).ids).toEqual(all.slice(0, 20))
  })

  it('after a Redis restart (everything in it gone) the timeline is rebuilt from MongoDB, once, on read', async () => {
    const before = (await home(c)).ids
    await site.redis.restart()
    await waitFor('the site\'s Redis', async () => (await site.client.ping().catch(() => '')) === 'PONG', {timeoutMs: 10_000, intervalMs: 100})
    expect(await site.client.exists(timelineKey(ids['reader-c']!))).toBe(0)
    // The session went with Redis: log in again.
    expect((await c.submit('/login', '/login', {login: 'reader-c', password: PASSWORD})).status).toBe(303)
    // Several readers at once: one rebuilds, the others read MongoDB meanwhile; all see the same.
    const pages = await Promise.all([home(c), home(c), home(c)])
    for (const page of pages) expect(page.ids).toEqual(before)
    // alpha-posts' posts are back in Redis; big-stage's stay merged at read.
    expect(await inTimeline('reader-c', all[0]!)).toBe(false)
    expect(await inTimeline('reader-c', all[1]!)).toBe(true)
    const alphaPosts = await posts.collection.countDocuments({channel: 'alpha-posts'})
    expect(await site.client.zcard(timelineKey(ids['reader-c']!))).toBe(Math.min(alphaPosts, 50) + 1)
  })

  it(`a worker killed in the middle of a fan-out to ${CROWD} followers: another resumes it, and each follower has the post once`, async () => {
    // The threshold above the crowd; the first worker goes, a new one takes its place.
    await site.get('worker').process.stop()
    const crowdSite = JSON.stringify({timelines: {fanoutMaxFollowers: 2 * CROWD, length: 50}})
    await site.start('worker-2', {SHING_COMMUNITY: crowdSite})
    const follows = db.collection('follows')
    for (let i = 0; i < CROWD; i += 2000) {
      await follows.insertMany(Array.from({length: 2000}, (_, j) => ({userId: `crowd-${i + j}`, channel: 'alpha-posts', notify: false, at: new Date(0)})))
    }
    // Only existing timelines are written into: the crowd's exist, as a first read leaves them
    // (built, nothing in them yet, the marker of their follows).
    const seed = site.client.pipeline()
    for (let i = 0; i < CROWD; i++) seed.zadd(timelineKey(`crowd-${i}`), '+inf', 'synced:0')
    await seed.exec()
    const postId = await publish('alpha-posts', 'to the crowd')
    const queue = new Queue('post.fanout', {connection: {...site.redisEndpoint, maxRetriesPerRequest: null}, prefix: QUEUE_PREFIX})
    try {
      const done = await waitFor('the fan-out to be part way', async () => {
        const progress = (await queue.getJob(`post.fanout-${postId}`))?.progress as {done?: number} | undefined
        return progress?.done !== undefined && progress.done >= 1000 ? progress.done : undefined
      }, {timeoutMs: 60_000, intervalMs: 20})
      await site.get('worker-2').process.kill('SIGKILL')
      expect(done).toBeLessThan(CROWD)
      await site.start('worker-3', {SHING_COMMUNITY: crowdSite})
      const result = (await waitFor('the fan-out to finish', async () => (await queue.getJob(`post.fanout-${postId}`))?.returnvalue ?? undefined, {timeoutMs: 90_000, intervalMs: 500})) as {status: string; followers: number; timelines: number; resumedAfter: number}
      expect(result.status).toBe('done')
      expect(result.followers).toBe(CROWD + 2)
      // The crowd's and C's (read since the restart); a page written again after the kill counts again.
      expect(result.timelines).toBeGreaterThanOrEqual(CROWD + 1)
      expect(result.resumedAfter).toBeGreaterThan(0)
      expect(result.resumedAfter).toBeLessThan(CROWD + 2)
    } finally {
      await queue.close()
    }
    const pipeline = site.client.pipeline()
    for (let i = 0; i < CROWD; i++) pipeline.zrange(timelineKey(`crowd-${i}`), '-inf', '(+inf', 'BYSCORE')
    const members = ((await pipeline.exec()) ?? []).map(([error, value]) => {
      expect(error).toBeNull()
      return value as string[]
    })
    expect(members.filter((m) => m.length === 1 && m[0] === postId)).toHaveLength(CROWD)
    expect(await inTimeline('reader-c', postId)).toBe(true)
    // B has not read /home since the restart: B has no timeline (it is built at B's next read).
    expect(await site.client.exists(timelineKey(ids['reader-b']!))).toBe(0)
  }, 240_000)

  it('a deleted account\'s timeline goes with it', async () => {
    expect(await site.client.exists(timelineKey(ids['reader-c']!))).toBe(1)
    expect((await c.submit('/account', '/account/delete', {confirmUsername: 'reader-c', deletePassword: PASSWORD})).status).toBe(200)
    expect(await site.client.exists(timelineKey(ids['reader-c']!))).toBe(0)
  })
})
