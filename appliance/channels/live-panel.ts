/**
 * The dashboard's "your stream now": viewers, and what the ingest measures of the encoder (the
 * picture, frames per second, bitrate, keyframe interval, frames that did not arrive), with what
 * to change in OBS in plain words. Rendered on the page, and as JSON that the dashboard's island
 * reads every few seconds: the same words both ways.
 */
import type {Redis} from 'ioredis'

import {encoderStatsSchema, streamStatsKey, type EncoderStats} from '../contract/index.js'
import {countViewers} from '../relay/audience.js'
import {escapeHtml} from '../web/html.js'
import type {StreamStates} from './stream-state.js'

export const figureNames = ['viewers', 'picture', 'bitrate', 'keyframes', 'dropped'] as const
export type FigureName = (typeof figureNames)[number]
const figureLabels: Record<FigureName, string> = {viewers: 'Viewers', picture: 'Picture', bitrate: 'Bitrate', keyframes: 'Keyframes', dropped: 'Dropped frames'}

export interface LivePanel {
  live: boolean
  since?: string
  figures: Record<FigureName, string>
  warnings: string[]
}

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`

export function figuresOf(stats: EncoderStats | undefined, viewers: number | undefined): Pick<LivePanel, 'figures' | 'warnings'> {
  const measuring = 'measuring…'
  const s = stats
  const fps = s?.fps === undefined ? undefined : `${Math.round(s.fps)} fps${s.declaredFps !== undefined && Math.abs(s.declaredFps - s.fps) >= 1 ? ` (OBS sends ${Math.round(s.declaredFps)})` : ''}`
  const size = s?.width === undefined || s.height === undefined ? undefined : `${s.width}×${s.height}`
  const bitrate = [s?.videoKbps === undefined ? undefined : `${s.videoKbps} kbit/s video`, s?.audioKbps === undefined ? undefined : `${s.audioKbps} kbit/s audio`].filter((x) => x !== undefined)
  return {
    figures: {
      viewers: viewers === undefined ? '—' : String(viewers),
      picture: size === undefined && fps === undefined ? (s?.audioKbps !== undefined ? 'audio only' : measuring) : [size, fps].filter((x) => x !== undefined).join(' at '),
      bitrate: bitrate.length === 0 ? measuring : bitrate.join(', '),
      keyframes: s?.keyframeIntervalSeconds === undefined ? (s?.audioKbps !== undefined && s.width === undefined ? '—' : measuring) : `every ${s.keyframeIntervalSeconds} s`,
      dropped: s?.droppedPercent === undefined ? (s === undefined ? measuring : '—') : `${s.droppedPercent}%${s.stalls > 0 ? `; the connection stalled ${plural(s.stalls, 'time', 'times')}` : ''}`,
    },
    warnings: s?.warnings ?? [],
  }
}

/** The panel's data: the stream state, the ingest's last measurement, the viewers now. */
export async function readLivePanel(redis: Redis, states: StreamStates, channel: string): Promise<LivePanel> {
  const state = await states.get(channel)
  if (state === undefined) return {live: false, ...figuresOf(undefined, undefined)}
  const [raw, counts] = await Promise.all([redis.get(streamStatsKey(channel)), countViewers(redis, [channel])])
  const parsed = raw === null ? undefined : encoderStatsSchema.safeParse(JSON.parse(raw))
  return {live: true, since: state.since, ...figuresOf(parsed?.success === true ? parsed.data : undefined, counts.get(channel))}
}

/** The panel as HTML (the island fills the same ids with the JSON's words). */
export function livePanelHtml(panel: LivePanel): string {
  return `<section id="live-panel" aria-labelledby="live-panel-heading"${panel.live ? '' : ' hidden'}>
<h2 id="live-panel-heading">Your stream now</h2>
<dl class="facts live-figures">${figureNames.map((name) => `<dt>${figureLabels[name]}</dt><dd id="figure-${name}">${escapeHtml(panel.figures[name])}</dd>`).join('')}</dl>
<ul id="live-warnings" class="notice error"${panel.warnings.length === 0 ? ' hidden' : ''}>${panel.warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join('')}</ul>
</section>`
}
