/**
 * What happens when a channel goes live, goes offline or posts: the `channel.event` job (enqueued
 * by the ingest and the web, one per event) runs every listener here in turn. Each listener is
 * idempotent (the job is retried when one fails, and runs them all again) and quick: a long
 * delivery (mail to every follower, a webhook's retries) is a job of its own that it enqueues.
 */
import type {JobData} from '../jobs/catalog.js'
import type {JobContext} from '../worker/handlers/context.js'
import {liveNotificationListener} from './live-notifications.js'
import {scheduleLinkListener} from './schedule-events.js'
import {timelineFanoutListener} from './timeline-fanout.js'
import {webhookListener} from './webhook-events.js'

export type ChannelEvent = JobData['channel.event']

export interface ChannelEventListener {
  /** Shown in the job's result beside what it did. */
  name: string
  /** Answers a few words on what it did ("notified 12 followers", "2 webhooks queued"). */
  handle(event: ChannelEvent, context: JobContext): Promise<string>
}

/** Every listener, in the order they run. Add yours here. */
export const channelEventListeners: ChannelEventListener[] = [liveNotificationListener, timelineFanoutListener, scheduleLinkListener, webhookListener]
