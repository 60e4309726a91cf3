import {channelEventListeners} from '../../community/channel-events.js'
import type {ChannelEventResult, JobData} from '../../jobs/types.js'
import type {JobContext} from './context.js'

/**
 * channel.event: a channel went live, went offline or posted. Every listener runs, even after one
 * failed; the job then fails (and is retried: each listener is idempotent) naming those that did.
 */
export async function channelEvent(event: JobData['channel.event'], context: JobContext): Promise<ChannelEventResult> {
  const listeners: Record<string, string> = {}
  const failed: string[] = []
  for (const listener of channelEventListeners) {
    try {
      listeners[listener.name] = await listener.handle(event, context)
    } catch (error) {
      failed.push(`${listener.name}: ${(error as Error).message}`)
    }
  }
  if (failed.length > 0) throw new Error(`channel.event ${event.event} of ${event.channel}: ${failed.join('; ')}`)
  return {status: 'done', listeners}
}
