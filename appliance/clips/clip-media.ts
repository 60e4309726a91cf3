/**
 * What clip.create reads and writes besides the remux: the rendition a clip is cut from, the
 * clip's own HLS playlist (over the archive's segments), and its poster frame.
 */
import {execa} from 'execa'
import type {Db} from 'mongodb'

import {STREAMS_COLLECTION, type StreamDoc} from '../channels/stream-state.js'
import {isMissingObject, readObjectText, type Storage} from '../platform/storage.js'
import {bestVariant, parseMasterPlaylist, parseMediaPlaylist, type ListedSegment, type MediaPlaylist} from '../vods/archive-playlists.js'

/** The text of an object, or undefined when there is none. */
async function readIfThere(storage: Storage, key: string): Promise<string | undefined> {
  try {
    return await readObjectText(storage, key)
  } catch (error) {
    if (isMissingObject(error)) return undefined
    throw error
  }
}

/**
 * The rendition to cut from and its playlist: `preferred` (an earlier run's choice); else the
 * highest the master lists (a finished broadcast); else, while live (no master yet), the highest
 * rendition whose EVENT playlist is the longest (a rendition shed on the way stopped growing).
 */
export async function chooseRendition(storage: Storage, db: Db, prefix: string, streamId: string, preferred?: string): Promise<{rendition?: string; playlist: MediaPlaylist}> {
  const none = {playlist: {segments: [], durationSeconds: 0, closed: false}}
  if (preferred !== undefined) {
    const text = await readIfThere(storage, `${prefix}/${preferred}/index.m3u8`)
    return text === undefined ? none : {rendition: preferred, playlist: parseMediaPlaylist(text)}
  }
  const master = await readIfThere(storage, `${prefix}/master.m3u8`)
  if (master !== undefined) {
    const best = bestVariant(parseMasterPlaylist(master))
    const text = best === undefined ? undefined : await readIfThere(storage, `${prefix}/${best.uri}`)
    return best === undefined || text === undefined ? none : {rendition: best.name, playlist: parseMediaPlaylist(text)}
  }
  const stream = await db.collection<StreamDoc>(STREAMS_COLLECTION).findOne({streamId})
  const renditions = [...(stream?.renditions ?? [])].sort((a, b) => b.bandwidth - a.bandwidth)
  let found: {rendition: string; playlist: MediaPlaylist} | undefined
  for (const r of renditions) {
    const text = await readIfThere(storage, `${prefix}/${r.name}/index.m3u8`)
    if (text === undefined) continue
    const playlist = parseMediaPlaylist(text)
    if (found === undefined || playlist.segments.length > found.playlist.segments.length) found = {rendition: r.name, playlist}
  }
  return found ?? none
}

/**
 * The clip's HLS form: a closed (VOD) playlist of the archive's own segments, by their names in
 * the rendition's folder; /clip/<id>/media/ maps each name to its archive object.
 */
export function clipPlaylist(segments: readonly Pick<ListedSegment, 'name' | 'duration'>[]): string {
  const target = Math.max(1, ...segments.map((s) => Math.ceil(s.duration)))
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    `#EXT-X-TARGETDURATION:${target}`,
    '#EXT-X-PLAYLIST-TYPE:VOD',
    '#EXT-X-MEDIA-SEQUENCE:0',
    '#EXT-X-INDEPENDENT-SEGMENTS',
    '#EXT-X-MAP:URI="init.mp4"',
    ...segments.flatMap((s) => [`#EXTINF:${s.duration.toFixed(3)},`, s.name]),
    '#EXT-X-ENDLIST',
  ]
  return `${lines.join('\n')}\n`
}

/** One frame at `atSeconds` as a JPEG, at most 720 lines high; returns the file. */
export async function framePoster(file: string, output: string, atSeconds: number, signal: AbortSignal): Promise<string> {
  await execa(
    'ffmpeg',
    ['-hide_banner', '-nostdin', '-loglevel', 'error', '-ss', atSeconds.toFixed(3), '-i', file, '-frames:v', '1', '-vf', "scale=-2:'min(720,ih)'", '-q:v', '3', '-y', output],
    {cancelSignal: signal, forceKillAfterDelay: 2000},
  )
  return output
}
