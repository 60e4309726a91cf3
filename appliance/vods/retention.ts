/**
 * How long past broadcasts stay: the site's retention.vodDays (0 keeps them all), unless their
 * streamer keeps them (VodDoc.kept, the dashboard's Keep button). Housekeeping deletes the rest
 * (housekeeping/expired-vods.ts); the dashboard and the API say when each would go.
 */
import type {VodDoc} from './vods.js'

const DAY_MS = 24 * 3600 * 1000

/** VODs made before this are past retention; undefined when nothing expires (vodDays 0). */
export function vodExpiryCutoff(vodDays: number, now = new Date()): Date | undefined {
  return vodDays > 0 ? new Date(now.getTime() - vodDays * DAY_MS) : undefined
}

/** When housekeeping deletes this VOD (from then on, at its next run); undefined when never. */
export function vodExpiresAt(vod: Pick<VodDoc, 'createdAt' | 'kept'>, vodDays: number): Date | undefined {
  return vodDays > 0 && vod.kept !== true ? new Date(vod.createdAt.getTime() + vodDays * DAY_MS) : undefined
}
