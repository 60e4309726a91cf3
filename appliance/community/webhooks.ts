/**
 * A channel's outgoing webhooks (MongoDB `webhooks`): where to POST which of its events, and the
 * secret each delivery is signed with; and the deliveries' outcomes (`webhook_deliveries`, one
 * document per delivery, its last attempt), which the dashboard shows so a streamer sees why
 * theirs fails. The address rules live here too: see docs/webhooks.md.
 */
import {createHmac, randomBytes} from 'node:crypto'
import {lookup} from 'node:dns/promises'
import {BlockList, isIP} from 'node:net'

import {ObjectId, type Collection, type Db} from 'mongodb'

export const WEBHOOKS_COLLECTION = 'webhooks'
export const WEBHOOK_DELIVERIES_COLLECTION = 'webhook_deliveries'

export const webhookEvents = ['live', 'offline', 'post'] as const
export type WebhookEvent = (typeof webhookEvents)[number]
export const WEBHOOK_EVENT_LABELS: Record<WebhookEvent, string> = {live: 'Went live', offline: 'Went offline', post: 'New post'}

/** Endpoints one channel may have. */
export const WEBHOOKS_PER_CHANNEL = 10
/** Deliveries kept per webhook for the dashboard. */
export const DELIVERIES_KEPT = 20
export const WEBHOOK_URL_MAX_LENGTH = 2000

export interface WebhookDoc {
  _id: ObjectId
  channel: string
  url: string
  events: WebhookEvent[]
  /** Signs every delivery (HMAC-SHA256); shown to the streamer, made anew on request. */
  secret: string
  createdAt: Date
}

export interface DeliveryDoc {
  /** The delivery's id (X-Shing-Delivery): the same on every attempt. */
  _id: string
  webhookId: string
  channel: string
  event: WebhookEvent
  /** When the event happened. */
  eventAt: Date
  /** When the last attempt ended. */
  at: Date
  attempts: number
  state: 'delivered' | 'retrying' | 'failed'
  /** The receiver's HTTP status, when it answered. */
  httpStatus?: number
  /** What went wrong, in words. */
  error?: string
}

export const newWebhookSecret = (): string => `whsec_${randomBytes(24).toString('base64url')}`

/** The X-Shing-Signature value: HMAC-SHA256 over "<timestamp>.<body>" with the webhook's secret. */
export function webhookSignature(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`
}

/**
 * Addresses a webhook may not reach unless the site allows it (community.webhooks
 * allowPrivateAddresses): this host, private networks, link-local (cloud metadata), shared
 * carrier space, multicast and the reserved ranges.
 */
const privateRanges = (() => {
  const list = new BlockList()
  for (const [net, prefix] of [
    ['0.0.0.0', 8],
    ['10.0.0.0', 8],
    ['100.64.0.0', 10],
    ['127.0.0.0', 8],
    ['169.254.0.0', 16],
    ['172.16.0.0', 12],
    ['192.0.0.0', 24],
    ['192.0.2.0', 24],
    ['192.168.0.0', 16],
    ['198.18.0.0', 15],
    ['198.51.100.0', 24],
    ['203.0.113.0', 24],
    ['224.0.0.0', 4],
    ['240.0.0.0', 4],
  ] as const)
    list.addSubnet(net, prefix, 'ipv4')
  for (const [net, prefix] of [
    ['::', 128],
    ['::1', 128],
    ['64:ff9b::', 96],
    ['100::', 64],
    ['2001:db8::', 32],
    ['fc00::', 7],
    ['fe80::', 10],
    ['ff00::', 8],
  ] as const)
    list.addSubnet(net, prefix, 'ipv6')
  return list
})()

/** Whether an IP address is one a webhook may not reach by default. */
export function isPrivateAddress(address: string): boolean {
  // An IPv4 address written as IPv6 (::ffff:10.0.0.1) is the IPv4 address.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1]
  if (mapped !== undefined) return isPrivateAddress(mapped)
  const family = isIP(address)
  if (family === 0) return true
  return privateRanges.check(address, family === 4 ? 'ipv4' : 'ipv6')
}

export class WebhookAddressError extends Error {}

/** The host as net/dns take it: an IPv6 literal without its brackets. */
export const bareHost = (url: URL): string => url.hostname.replace(/^\[(.*)\]$/, '$1')

/**
 * A webhook's URL as the form sends it, checked: http or https (https recommended), no user
 * name or password in it, and (unless allowed) a host whose addresses are all public. Throws
 * WebhookAddressError with what to change.
 */
export async function checkWebhookUrl(raw: string, allowPrivateAddresses: boolean, resolve: (host: string) => Promise<string[]> = resolveHost): Promise<URL> {
  const text = raw.trim()
  if (text === '') throw new WebhookAddressError('Give the address to send to (https://…).')
  if (text.length > WEBHOOK_URL_MAX_LENGTH) throw new WebhookAddressError(`At most ${WEBHOOK_URL_MAX_LENGTH} characters.`)
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new WebhookAddressError('That is not a web address: it starts with https:// .')
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new WebhookAddressError('Only https:// (or http://) addresses.')
  if (url.username !== '' || url.password !== '') throw new WebhookAddressError('No user name or password in the address: the signature proves the sender.')
  url.hash = ''
  if (allowPrivateAddresses) return url
  const host = bareHost(url)
  const addresses = isIP(host) === 0 ? await resolve(host).catch(() => undefined) : [host]
  if (addresses === undefined || addresses.length === 0) throw new WebhookAddressError(`${host} cannot be found (DNS): check the address.`)
  const inside = addresses.find(isPrivateAddress)
  if (inside !== undefined) throw new WebhookAddressError(`${host} is a private, loopback or link-local address${inside === host ? '' : ` (${inside})`}: webhooks go to public addresses only on this site.`)
  return url
}

export async function resolveHost(host: string): Promise<string[]> {
  return (await lookup(host, {all: true, verbatim: true})).map((a) => a.address)
}

export class WebhookLimitError extends Error {}

export class Webhooks {
  readonly collection: Collection<WebhookDoc>
  readonly deliveries: Collection<DeliveryDoc>

  constructor(db: Db) {
    this.collection = db.collection<WebhookDoc>(WEBHOOKS_COLLECTION)
    this.deliveries = db.collection<DeliveryDoc>(WEBHOOK_DELIVERIES_COLLECTION)
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({channel: 1, createdAt: 1}, {name: 'channel_webhooks'})
    await this.deliveries.createIndex({webhookId: 1, at: -1}, {name: 'webhook_deliveries'})
  }

  async add(channel: string, url: URL, events: WebhookEvent[]): Promise<WebhookDoc> {
    if ((await this.collection.countDocuments({channel})) >= WEBHOOKS_PER_CHANNEL) throw new WebhookLimitError(`A channel may have at most ${WEBHOOKS_PER_CHANNEL} webhooks: remove one first.`)
    const doc: WebhookDoc = {_id: new ObjectId(), channel, url: url.href, events, secret: newWebhookSecret(), createdAt: new Date()}
    await this.collection.insertOne(doc)
    return doc
  }

  ofChannel(channel: string): Promise<WebhookDoc[]> {
    return this.collection.find({channel}).sort({createdAt: 1}).toArray()
  }

  /** Those that want this event of the channel. */
  subscribed(channel: string, event: WebhookEvent): Promise<WebhookDoc[]> {
    return this.collection.find({channel, events: event}).toArray()
  }

  byId(id: string): Promise<WebhookDoc | null> {
    return /^[a-f0-9]{24}$/.test(id) ? this.collection.findOne({_id: new ObjectId(id)}) : Promise.resolve(null)
  }

  async regenerateSecret(channel: string, id: ObjectId): Promise<boolean> {
    return (await this.collection.updateOne({_id: id, channel}, {$set: {secret: newWebhookSecret()}})).matchedCount === 1
  }

  async remove(channel: string, id: ObjectId): Promise<boolean> {
    const removed = (await this.collection.deleteOne({_id: id, channel})).deletedCount === 1
    if (removed) await this.deliveries.deleteMany({webhookId: id.toHexString()})
    return removed
  }

  async removeChannel(channel: string): Promise<void> {
    await this.collection.deleteMany({channel})
    await this.deliveries.deleteMany({channel})
  }

  /** Records an attempt's outcome; keeps the newest DELIVERIES_KEPT of the webhook. */
  async record(delivery: DeliveryDoc): Promise<void> {
    const {_id, ...fields} = delivery
    await this.deliveries.updateOne({_id}, {$set: fields}, {upsert: true})
    const older = await this.deliveries.find({webhookId: delivery.webhookId}).sort({at: -1}).skip(DELIVERIES_KEPT).limit(100).toArray()
    if (older.length > 0) await this.deliveries.deleteMany({_id: {$in: older.map((d) => d._id)}})
  }

  delivered(id: string): Promise<DeliveryDoc | null> {
    return this.deliveries.findOne({_id: id, state: 'delivered'})
  }

  /** The newest deliveries of each of these webhooks. */
  async recent(webhookIds: readonly string[], perWebhook = 10): Promise<Map<string, DeliveryDoc[]>> {
    const docs = await this.deliveries.find({webhookId: {$in: [...webhookIds]}}).sort({at: -1}).limit(webhookIds.length * DELIVERIES_KEPT).toArray()
    const byWebhook = new Map<string, DeliveryDoc[]>()
    for (const doc of docs) {
      const list = byWebhook.get(doc.webhookId) ?? []
      if (list.length < perWebhook) list.push(doc)
      byWebhook.set(doc.webhookId, list)
    }
    return byWebhook
  }
}
