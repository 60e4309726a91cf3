/**
 * Which archived segments make a clip: whole segments (each starts on a keyframe), from one
 * rendition's playlist. Pure: a parsed playlist and the request in, the segments (or why not) out.
 *
 * A range that crosses an EXT-X-DISCONTINUITY (the ladder restarted, or a segment was lost) is
 * never glued: the timestamps of the two sides do not follow each other. It is split: the clip
 * keeps the longest uninterrupted part (the later one of two equal parts) and says so; when no part
 * is MIN_PART_SECONDS long, it is refused with the reason.
 */
import {continuousRuns, type ListedSegment} from '../vods/archive-playlists.js'

/** The shortest clip made of what is there (a split range, or a broadcast younger than asked). */
export const MIN_PART_SECONDS = 5

export interface ClipRequest {
  seconds: number
  /** Playlist time of the VOD where the clip starts; absent: the last `seconds` archived (a live broadcast). */
  startSeconds?: number
}

export type ClipSelection =
  | {
      ok: true
      segments: ListedSegment[]
      /** Where the first segment starts, in the playlist's time. */
      startOffsetSeconds: number
      durationSeconds: number
      /** Said on the clip: it is shorter than asked, and why. */
      notice?: string
    }
  | {ok: false; reason: string}

const round3 = (n: number): number => Math.round(n * 1000) / 1000
const sum = (segments: readonly ListedSegment[]): number => segments.reduce((total, s) => total + s.duration, 0)
const secondsText = (n: number): string => `${Math.round(n)} s`

export function selectClipSegments(segments: readonly ListedSegment[], request: ClipRequest): ClipSelection {
  const starts: number[] = []
  let t = 0
  for (const s of segments) {
    starts.push(t)
    t += s.duration
  }
  const total = t
  let window: {segment: ListedSegment; start: number}[]
  if (request.startSeconds === undefined) {
    // The newest segments whose durations add up to the length asked (or all there are).
    window = []
    let covered = 0
    for (let i = segments.length - 1; i >= 0 && covered < request.seconds; i--) {
      window.unshift({segment: segments[i]!, start: starts[i]!})
      covered += segments[i]!.duration
    }
  } else {
    const from = request.startSeconds
    const to = from + request.seconds
    if (from >= total) return {ok: false, reason: `The broadcast is ${secondsText(total)} long: the clip cannot start at ${secondsText(from)}.`}
    // Every segment that overlaps [from, to): the clip starts on the keyframe at or before `from`.
    window = segments.map((segment, i) => ({segment, start: starts[i]!})).filter(({segment, start}) => start + segment.duration > from && start < to)
  }
  if (window.length === 0) return {ok: false, reason: 'Nothing of this broadcast is archived yet: try again in a few seconds.'}

  // Cut at each discontinuity; the first segment's own mark is about what came before the window.
  const runs = continuousRuns(window.map((w, i) => ({...w, discontinuity: i > 0 && w.segment.discontinuity})))
  let best = runs[0]!
  for (const run of runs) if (sum(run.map((r) => r.segment)) >= sum(best.map((r) => r.segment))) best = run
  const chosen = best.map((r) => r.segment)
  const duration = sum(chosen)
  const asked = request.seconds
  if (runs.length > 1) {
    if (duration < MIN_PART_SECONDS) {
      return {ok: false, reason: `The broadcast was interrupted within this range (its encoder restarted, or a piece of it was lost), and no uninterrupted part of it is ${MIN_PART_SECONDS} s long: choose another moment.`}
    }
    return {
      ok: true,
      segments: chosen,
      startOffsetSeconds: round3(best[0]!.start),
      durationSeconds: round3(duration),
      notice: `The broadcast was interrupted within the range asked (its encoder restarted, or a piece of it was lost): this clip is its longest uninterrupted part, ${secondsText(duration)} of the ${secondsText(asked)} asked.`,
    }
  }
  if (duration < MIN_PART_SECONDS) return {ok: false, reason: `Only ${secondsText(duration)} of this broadcast is archived yet: a clip needs at least ${MIN_PART_SECONDS} s.`}
  const notice =
    duration >= asked - 0.5
      ? undefined
      : request.startSeconds === undefined
        ? `The broadcast was ${secondsText(duration)} old: the clip is all of it.`
        : `The broadcast ends ${secondsText(duration)} after the start asked: the clip is shorter than asked.`
  return {ok: true, segments: chosen, startOffsetSeconds: round3(best[0]!.start), durationSeconds: round3(duration), ...(notice === undefined ? {} : {notice})}
}
