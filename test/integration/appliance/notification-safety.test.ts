/**
 * What notifications, mail and channel events must survive, through real parts (Redis, FerretDB,
 * MinIO, Mailpit, a web): a mail whose queueing failed is not taken for mailed; a retried mail.send
 * whose mail went already sends none; comment mentions tell only active accounts and at most a
 * budget of people per writer; a broadcast that housekeeping ends (its ingest died) is told offline,
 * and a post whose channel.event was never queued is queued by housekeeping; a disabled channel
 * reminds and tells no one.
 */
import {ObjectId} from 'mongodb'
import nodemailer from 'nodemailer'
import pino from 'pino'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {requeuePostEvents} from '../../../appliance/housekeeping/post-events.js'
import {endStaleStreams} from '../../../appliance/housekeeping/stale-streams.js'
import {mailNotifications} from '../../../appliance/community/notification-mail.js'
import {notifyLive} from '../../../appliance/community/live-notifications.js'
import {mentionBudgetKey, MENTIONED_PER_WINDOW} from '../../../appliance/community/mention-budget.js'
import {remindFollowers} from '../../../appliance/community/schedule-events.js'
import {MONGO_DATABASE} from '../../../appliance/contract/index.js'
import {JobQueues} from '../../../appliance/jobs/queues.js'
import {connectStorage} from '../../../appliance/platform/storage.js'
import {mailSend, mailSentKey} from '../../../appliance/worker/handlers/mail-send.js'
import type {JobContext} from '../../../appliance/worker/handlers/context.js'
import {csrfToken, FormClient, signUpThroughForm} from '../../harness/http-client.js'
import {BUCKET, startLiveSite, type LiveSite} from '../../harness/live-site.js'
import {startMailpit, type MailpitServer} from '../../harness/mailpit.js'

const PASSWORD = 'mail once and only once'
const CHANNEL = 'quiet-bells'
const log = pino({level: 'silent'})

let site: LiveSite
let mailpit: MailpitServer
let jobs: JobQueues
let web: string
let owner: FormClient
let fan: FormClient

const db = () => site.mongoClient.db(MONGO_DATABASE)
const idOf = async (username: string): Promise<string> => (await db().collection('users').findOne({usernameKey: username}))!._id.toHexString()
/** The worker's context, with the parts these handlers use (the rest they never touch). */
const contextOf = (parts: Partial<JobContext>): JobContext => ({db: db(), redis: site.client, jobs, log, publicUrl: web, ...parts}) as JobContext
const smtp = () => ({transport: nodemailer.createTransport({host: '127.0.0.1', port: mailpit.smtpPort, secure: false, ignoreTLS: true, auth: {user: mailpit.username, pass: mailpit.password}}), from: 'Bells <bells@example.test>'})

beforeAll(async () => {
  ;[site, mailpit] = await Promise.all([startLiveSite(), startMailpit()])
  await site.start('web')
  web = `http://127.0.0.1:${site.get('web').httpPort}`
  owner = await signUpThroughForm(web, 'bell-owner', {password: PASSWORD, address: '198.51.100.150'})
  fan = await signUpThroughForm(web, 'bell-fan', {password: PASSWORD, address: '198.51.100.151'})
  for (const [i, name] of ['alpha-one', 'beta-two', 'gamma-3', 'dormant-1'].entries()) await signUpThroughForm(web, name, {password: PASSWORD, address: `198.51.100.${160 + i}`})
  await db().collection('users').updateOne({usernameKey: 'dormant-1'}, {$set: {status: 'suspended'}})
  expect(await owner.submit('/dashboard', '/dashboard/channels', {name: CHANNEL, title: 'Bells'})).toMatchObject({status: 303})
  jobs = new JobQueues(site.redisEndpoint, site.client, log)
})

afterAll(async () => {
  await jobs?.close()
  await site?.stop()
  await mailpit?.stop()
})

describe('notification safety', () => {
  it('a notification whose mail could not be queued is not taken for mailed: the retry mails it', async () => {
    const userId = await idOf('bell-fan')
    await db().collection('users').updateOne({usernameKey: 'bell-fan'}, {$set: {emailVerifiedAt: new Date()}})
    const _id = new ObjectId()
    await db().collection('notifications').insertOne({_id, userId, key: 'live:20250305T100000Z-000000a1', kind: 'live', channel: CHANNEL, text: `${CHANNEL} is live`, url: `/c/${CHANNEL}`, at: new Date()})
    // Redis away for this worker's queues: a JobQueues whose connections are closed.
    const cut = new JobQueues(site.redisEndpoint, site.client, log)
    await cut.queue('mail.send').waitUntilReady()
    await cut.close()
    await expect(mailNotifications([_id.toHexString()], contextOf({jobs: cut, mail: smtp()}))).rejects.toThrow()
    expect((await db().collection('notifications').findOne({_id}))?.mailedAt).toBeUndefined()
    // The retry, Redis back: it is queued, and claimed.
    expect(await mailNotifications([_id.toHexString()], contextOf({mail: smtp()}))).toEqual({status: 'done', queued: 1, skipped: {}})
    expect((await db().collection('notifications').findOne({_id}))?.mailedAt).toBeInstanceOf(Date)
    expect(await jobs.queue('mail.send').getJob(`mail.notification-${_id.toHexString()}`)).toBeDefined()
  })

  it('a retried mail.send whose mail an earlier try sent sends none; a refused one is sent by its retry', async () => {
    const mail = {to: 'once@example.test', subject: 'Only once', text: 'once', html: '<p>once</p>'}
    expect(await mailSend(mail, contextOf({mail: smtp()}), {id: 'once-1'})).toMatchObject({status: 'sent'})
    expect(await mailSend(mail, contextOf({mail: smtp()}), {id: 'once-1'})).toEqual({status: 'skipped', reason: 'already sent'})
    await new Promise((resolve) => setTimeout(resolve, 1000))
    expect(await mailpit.mailTo('once@example.test')).toHaveLength(1)
    expect(await site.client.ttl(mailSentKey('once-1'))).toBeGreaterThan(3600)
    // No SMTP server there: the try fails and leaves no marker, so the retry sends.
    const nowhere = {transport: nodemailer.createTransport({host: '127.0.0.1', port: 1, connectionTimeout: 2000}), from: 'Bells <bells@example.test>'}
    await expect(mailSend({...mail, to: 'retry@example.test'}, contextOf({mail: nowhere}), {id: 'retry-1'})).rejects.toThrow()
    expect(await site.client.exists(mailSentKey('retry-1'))).toBe(0)
    expect(await mailSend({...mail, to: 'retry@example.test'}, contextOf({mail: smtp()}), {id: 'retry-1'})).toMatchObject({status: 'sent'})
    await mailpit.waitForMail('retry@example.test')
  })

  it('a post is marked queued when its channel.event is; housekeeping queues those that were not', async () => {
    const form = new FormData()
    form.append('_csrf', csrfToken((await owner.get(`/c/${CHANNEL}/posts`)).text))
    form.append('markdown', 'Bells at nine, @alpha-one and @dormant-1')
    form.append('images', new Blob([], {type: 'application/octet-stream'}), '')
    form.append('link', '')
    const answer = await owner.postMultipart(`/c/${CHANNEL}/posts`, form)
    expect(answer.status).toBe(303)
    const postId = /\/posts\/([0-9a-f]{24})$/.exec(answer.headers.get('location') ?? '')![1]!
    expect((await db().collection('posts').findOne({_id: new ObjectId(postId)}))?.eventQueuedAt).toBeInstanceOf(Date)
    expect(await jobs.queue('channel.event').getJob(`channel.event-post-${postId}`)).toBeDefined()

    // Published while Redis was away: no eventQueuedAt. One too fresh is left to its publisher; one too old is news no more.
    const now = new Date()
    const post = (minutesAgo: number) => ({_id: new ObjectId(), channel: CHANNEL, authorId: 'x', markdown: 'm', html: '<p>m</p>', images: [], createdAt: new Date(now.getTime() - minutesAgo * 60_000), likes: 0, comments: 0})
    const [missed, fresh, old] = [post(5), post(0.2), post(25 * 60)]
    await db().collection('posts').insertMany([missed, fresh, old])
    const dry = await requeuePostEvents(db(), jobs, {now, dryRun: true, log})
    expect(dry).toEqual({count: 1, examples: [`${CHANNEL}/${missed._id.toHexString()}`]})
    expect(await jobs.queue('channel.event').getJob(`channel.event-post-${missed._id.toHexString()}`)).toBeUndefined()
    expect(await requeuePostEvents(db(), jobs, {now, dryRun: false, log})).toEqual(dry)
    const job = await jobs.queue('channel.event').getJob(`channel.event-post-${missed._id.toHexString()}`)
    expect(job?.data).toEqual({channel: CHANNEL, event: 'post', postId: missed._id.toHexString(), at: missed.createdAt.toISOString()})
    expect((await db().collection('posts').findOne({_id: missed._id}))?.eventQueuedAt).toBeInstanceOf(Date)
    expect(await requeuePostEvents(db(), jobs, {now, dryRun: false, log})).toEqual({count: 0, examples: []})
  })

  it('a broadcast housekeeping ends (its ingest died) is told offline', async () => {
    const streamId = '20250305T100000Z-000000b2'
    const startedAt = new Date(Date.now() - 3600_000)
    await db().collection('streams').insertOne({channel: CHANNEL, streamId, ingestId: 'ingest-gone', startedAt, live: true, renditions: []})
    const storage = connectStorage({endpoint: site.s3.endpoint, region: site.s3.region, bucket: BUCKET, pathStyle: true, accessKey: site.s3.accessKey, secretKey: site.s3.secretKey})
    // It had no archive yet: nothing to close, and no dvr.finalize.
    expect(await endStaleStreams(db(), site.client, jobs, {now: new Date(), dryRun: false, log, storage})).toEqual({count: 1, examples: [`${CHANNEL}/${streamId}`]})
    expect(await jobs.queue('dvr.finalize').getJob(`dvr.finalize-${streamId}`)).toBeUndefined()
    const job = await jobs.queue('channel.event').getJob(`channel.event-offline-${streamId}`)
    expect(job?.data).toMatchObject({channel: CHANNEL, event: 'offline', streamId})
  })

  it('comment mentions tell active accounts only, and at most a budget of people per writer', async () => {
    const postId = (await db().collection('posts').findOne({channel: CHANNEL, authorId: await idOf('bell-owner')}))!._id.toHexString()
    const comment = async (text: string): Promise<void> => {
      expect((await fan.submit(`/c/${CHANNEL}/posts/${postId}`, `/c/${CHANNEL}/posts/${postId}/comments`, {text})).status).toBe(303)
    }
    const mentions = async (username: string): Promise<number> => db().collection('notifications').countDocuments({kind: 'mention', userId: await idOf(username)})
    await comment('see you, @dormant-1 and @alpha-one')
    expect({alpha: await mentions('alpha-one'), dormant: await mentions('dormant-1')}).toEqual({alpha: 1, dormant: 0})
    // One person short of the budget (as after many comments): the first named is told, the next is not.
    await site.client.set(mentionBudgetKey(await idOf('bell-fan')), String(MENTIONED_PER_WINDOW - 1), 'EX', 600)
    await comment('@beta-two and @gamma-3, come too')
    await comment('@gamma-3?')
    expect({beta: await mentions('beta-two'), gamma: await mentions('gamma-3')}).toEqual({beta: 1, gamma: 0})
    // The comments themselves posted.
    expect(await db().collection('post_comments').countDocuments({postId: new ObjectId(postId)})).toBe(3)
  })

  it('a disabled channel reminds no one of its schedule and tells no one it went live', async () => {
    const fanId = await idOf('gamma-3')
    await db().collection('follows').insertOne({userId: fanId, channel: CHANNEL, notify: true, at: new Date()})
    const deps = {db: db(), redis: site.client, jobs, log}
    const startsAtMs = Date.now() + 10 * 60_000
    const entry = {_id: new ObjectId(), channel: CHANNEL, title: 'Evening bells', startsAt: new Date(startsAtMs), createdAt: new Date(), updatedAt: new Date()}
    await db().collection('schedules').insertOne(entry)
    const streamId = '20250305T100000Z-000000c3'
    await db().collection('streams').insertOne({channel: CHANNEL, streamId, ingestId: 'ingest-1', startedAt: new Date(), live: true, renditions: []})
    await db().collection('channels').updateOne({name: CHANNEL}, {$set: {disabled: {at: new Date(), by: 'staff', reason: 'spam'}}})
    expect(await remindFollowers(deps, {entryId: entry._id.toHexString(), startsAtMs})).toEqual({status: 'skipped', entryId: entry._id.toHexString(), reason: 'channel disabled'})
    expect(await notifyLive(deps, {channel: CHANNEL, streamId})).toEqual({status: 'disabled', followers: 0, notified: 0})
    // Enabled again: the same reminder tells its follower.
    await db().collection('channels').updateOne({name: CHANNEL}, {$unset: {disabled: ''}})
    expect(await remindFollowers(deps, {entryId: entry._id.toHexString(), startsAtMs})).toMatchObject({status: 'done', followers: 1, notified: 1})
    expect(await notifyLive(deps, {channel: CHANNEL, streamId})).toEqual({status: 'done', followers: 1, notified: 1})
  })
})
