/**
 * One MP4 of a whole archived rendition, without re-encoding (the downloadable VOD, and the
 * re-encode's input). Each continuous run of segments is remuxed on its own (media/remux.ts); a
 * broadcast with several runs (the ladder restarted, a segment lost with a crash) has them joined
 * by ffmpeg's concat demuxer, which starts each run where the previous one ended instead of
 * gluing their timestamps.
 */
import {stat, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {execa} from 'execa'

import {probeMedia, remuxToMp4, RemuxError, type RemuxResult} from '../media/remux.js'
import {readObjectText, type Storage} from '../platform/storage.js'
import {bestVariant, continuousRuns, parseMasterPlaylist, parseMediaPlaylist, type ArchiveVariant, type MediaPlaylist} from './archive-playlists.js'

/** SIGTERM, then SIGKILL after this long, when the job's signal aborts. */
const KILL_AFTER_MS = 2000

export interface ArchivedRenditionPlaylist {
  variant: ArchiveVariant
  playlist: MediaPlaylist
}

/** The archive's renditions as its master lists them (throws when it has none). */
export async function readArchiveVariants(storage: Storage, prefix: string): Promise<ArchiveVariant[]> {
  const variants = parseMasterPlaylist(await readObjectText(storage, `${prefix}/master.m3u8`))
  if (variants.length === 0) throw new Error(`${prefix}/master.m3u8 lists no rendition`)
  return variants
}

/** The archive's best rendition (highest bandwidth) and its closed playlist. */
export async function readBestRendition(storage: Storage, prefix: string): Promise<ArchivedRenditionPlaylist> {
  const variant = bestVariant(await readArchiveVariants(storage, prefix))!
  const playlist = parseMediaPlaylist(await readObjectText(storage, `${prefix}/${variant.uri}`))
  if (!playlist.closed) throw new Error(`${prefix}/${variant.uri} is not closed: the broadcast is not finished`)
  if (playlist.segments.length === 0) throw new Error(`${prefix}/${variant.uri} lists no segment`)
  return {variant, playlist}
}

export interface ArchiveMp4Options {
  storage: Storage
  /** dvr/<channel>/<streamId> */
  prefix: string
  rendition: ArchivedRenditionPlaylist
  /** Made if missing; the caller removes it. */
  workDir: string
  fileName?: string
  signal?: AbortSignal
}

export async function archiveToMp4(options: ArchiveMp4Options): Promise<RemuxResult & {runs: number}> {
  const {storage, prefix, rendition, workDir, signal} = options
  const folder = `${prefix}/${rendition.variant.name}`
  const fileName = options.fileName ?? 'archive.mp4'
  const runs = continuousRuns(rendition.playlist.segments)
  const remuxRun = (segments: typeof runs[number], name: string): Promise<RemuxResult> =>
    remuxToMp4({storage, initKey: `${folder}/init.mp4`, segmentKeys: segments.map((s) => `${folder}/${s.name}`), workDir, fileName: name, ...(signal === undefined ? {} : {signal})})
  if (runs.length === 1) return {...(await remuxRun(runs[0]!, fileName)), runs: 1}

  const parts: string[] = []
  for (const [i, run] of runs.entries()) parts.push((await remuxRun(run, `run-${i}.mp4`)).file)
  const list = path.join(workDir, 'runs.txt')
  await writeFile(list, parts.map((p) => `file '${p.replaceAll("'", "'\\''")}'\n`).join(''))
  const file = path.join(workDir, fileName)
  try {
    await execa('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-f', 'concat', '-safe', '0', '-i', list, '-map', '0', '-c', 'copy', '-movflags', '+faststart', '-f', 'mp4', '-y', file], {
      stdout: 'ignore',
      forceKillAfterDelay: KILL_AFTER_MS,
      ...(signal === undefined ? {} : {cancelSignal: signal}),
    })
  } catch (error) {
    if (signal?.aborted === true) throw error
    throw new RemuxError(`ffmpeg could not join ${runs.length} runs of ${folder}: ${(error as {stderr?: string}).stderr?.trim() || (error as Error).message}`)
  }
  const {size} = await stat(file)
  return {file, bytes: size, ...(await probeMedia(file, signal === undefined ? {} : {signal})), runs: runs.length}
}
