import {createHash} from 'node:crypto'

import {UnrecoverableError} from 'bullmq'

import {deliver, type DeliveryAnswer} from '../../community/webhook-delivery.js'
import {WebhookAddressError, webhookSignature, Webhooks, type DeliveryDoc} from '../../community/webhooks.js'
import {jobCatalog} from '../../jobs/catalog.js'
import type {JobData, JobRun, WebhookDeliverResult} from '../../jobs/types.js'
import type {JobContext} from './context.js'

/** How long a receiver has to answer. */
export const WEBHOOK_TIMEOUT_MS = 10_000

/** The delivery's id: the same on every attempt (receivers drop a repeat by it). */
export const deliveryIdOf = (data: JobData['webhook.deliver']): string =>
  createHash('sha256').update(`${data.webhookId}-${data.event}-${data.streamId ?? data.postId ?? ''}`).digest('hex').slice(0, 32)

/** Whether another try may go better: no answer, a server error, or "too many requests". */
const retryable = (status: number): boolean => status >= 500 || status === 429

/**
 * webhook.deliver: POSTs the event as JSON to one webhook, signed (X-Shing-Signature), and records
 * the outcome for the dashboard. A network error, a 5xx or a 429 throws (BullMQ retries with
 * backoff); any other answer is final. A delivery already answered 2xx is not sent again (a
 * retry after a crash between the answer and the job's end).
 */
export async function webhookDeliver(data: JobData['webhook.deliver'], context: JobContext, run: JobRun): Promise<WebhookDeliverResult> {
  const webhooks = new Webhooks(context.db)
  const deliveryId = deliveryIdOf(data)
  const webhook = await webhooks.byId(data.webhookId)
  if (webhook === null || webhook.channel !== data.channel) return {status: 'skipped', deliveryId, reason: 'webhook removed'}
  if (!webhook.events.includes(data.event)) return {status: 'skipped', deliveryId, reason: 'event not wanted'}
  if ((await webhooks.delivered(deliveryId)) !== null) return {status: 'skipped', deliveryId, reason: 'already delivered'}

  const base = context.publicUrl.replace(/\/+$/, '')
  const channelUrl = `${base}/c/${encodeURIComponent(data.channel)}`
  const payload = {
    event: data.event,
    channel: data.channel,
    ...(data.streamId === undefined ? {} : {streamId: data.streamId}),
    ...(data.postId === undefined ? {} : {postId: data.postId}),
    url: data.postId === undefined ? channelUrl : `${channelUrl}/posts/${data.postId}`,
    at: data.at,
  }
  const body = JSON.stringify(payload)
  // Signed at each attempt: a receiver may refuse old timestamps (replays).
  const timestamp = Math.floor(Date.now() / 1000)
  const attempt = run.attempt
  const record = (fields: Pick<DeliveryDoc, 'state'> & Partial<Pick<DeliveryDoc, 'httpStatus' | 'error'>>): Promise<void> =>
    webhooks.record({_id: deliveryId, webhookId: data.webhookId, channel: data.channel, event: data.event, eventAt: new Date(data.at), at: new Date(), attempts: attempt, ...fields})
  // The last attempt's failure is final: the dashboard says "failed", not "retrying".
  const lastAttempt = attempt >= jobCatalog['webhook.deliver'].options.attempts

  let answer: DeliveryAnswer
  try {
    answer = await deliver({
      url: webhook.url,
      body,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Shing-Webhooks/1',
        'x-shing-event': data.event,
        'x-shing-delivery': deliveryId,
        'x-shing-timestamp': String(timestamp),
        'x-shing-signature': webhookSignature(webhook.secret, timestamp, body),
      },
      allowPrivateAddresses: context.community.webhooks.allowPrivateAddresses,
      timeoutMs: WEBHOOK_TIMEOUT_MS,
      signal: AbortSignal.any([run.signal, AbortSignal.timeout(WEBHOOK_TIMEOUT_MS + 1000)]),
    })
  } catch (error) {
    const message = (error as Error).message
    if (error instanceof WebhookAddressError) {
      await record({state: 'failed', error: message})
      throw new UnrecoverableError(message)
    }
    await record({state: lastAttempt ? 'failed' : 'retrying', error: `no answer: ${message}`})
    context.log.info({webhook: data.webhookId, channel: data.channel, event: data.event, attempt, err: message}, lastAttempt ? 'webhook delivery failed for good' : 'webhook delivery failed: retried later')
    throw new Error(`webhook ${data.webhookId}: ${message}`, {cause: error})
  }
  if (answer.status >= 200 && answer.status < 300) {
    await record({state: 'delivered', httpStatus: answer.status})
    return {status: 'delivered', deliveryId, httpStatus: answer.status, attempt}
  }
  const why =
    answer.status >= 300 && answer.status < 400
      ? `answered ${answer.status}: redirects are not followed (give the final address)`
      : retryable(answer.status)
        ? `answered ${answer.status}${lastAttempt ? '' : ': tried again later'}`
        : `answered ${answer.status}: not tried again (only no answer, a 5xx or a 429 is)`
  if (retryable(answer.status)) {
    await record({state: lastAttempt ? 'failed' : 'retrying', httpStatus: answer.status, error: why})
    throw new Error(`webhook ${data.webhookId}: ${why}`)
  }
  await record({state: 'failed', httpStatus: answer.status, error: why})
  throw new UnrecoverableError(`webhook ${data.webhookId}: ${why}`)
}
