/**
 * Whether media plays, as ffprobe and ffmpeg read it: the streams of a file, and a whole HLS
 * rendition read through to its end (every segment opened, every packet parsed) before a
 * re-encode replaces the archive it came from.
 */
import {execa} from 'execa'
import {z} from 'zod'

export interface MediaStreams {
  video?: {codec: string; width: number; height: number}
  audio?: {codec: string}
  /** The container's duration, seconds (for HLS: what the playlist says). */
  durationSeconds: number
}

const probeSchema = z.object({
  streams: z.array(z.object({codec_type: z.string(), codec_name: z.string().optional(), width: z.number().optional(), height: z.number().optional()})).default([]),
  format: z.object({duration: z.string().optional()}).optional(),
})

export class NotPlayableError extends Error {
  override name = 'NotPlayableError'
}

export async function probeStreams(input: string, signal?: AbortSignal): Promise<MediaStreams> {
  const {stdout} = await execa('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name,width,height:format=duration', '-of', 'json', input], {
    ...(signal === undefined ? {} : {cancelSignal: signal}),
  })
  const probed = probeSchema.parse(JSON.parse(stdout))
  const video = probed.streams.find((s) => s.codec_type === 'video')
  const audio = probed.streams.find((s) => s.codec_type === 'audio')
  return {
    ...(video === undefined ? {} : {video: {codec: video.codec_name ?? 'unknown', width: video.width ?? 0, height: video.height ?? 0}}),
    ...(audio === undefined ? {} : {audio: {codec: audio.codec_name ?? 'unknown'}}),
    durationSeconds: Number.parseFloat(probed.format?.duration ?? '') || 0,
  }
}

/**
 * Reads a local HLS rendition (index.m3u8 beside its init and segments) through without decoding:
 * its streams, and the duration up to its last packet. A segment that will not open or parse is
 * a warning to ffmpeg's HLS reader, which then skips it: any warning fails the check.
 */
export async function checkPlayableHls(playlist: string, signal?: AbortSignal): Promise<MediaStreams> {
  const streams = await probeStreams(playlist, signal)
  const read = await execa('ffmpeg', ['-hide_banner', '-nostdin', '-v', 'warning', '-nostats', '-progress', 'pipe:1', '-i', playlist, '-map', '0', '-c', 'copy', '-f', 'null', '-'], {
    reject: false,
    ...(signal === undefined ? {} : {cancelSignal: signal}),
  })
  signal?.throwIfAborted()
  if (read.exitCode !== 0 || read.stderr.trim() !== '') throw new NotPlayableError(`${playlist} does not read through: ${read.stderr.trim().slice(0, 500) || `ffmpeg exit ${read.exitCode}`}`)
  const times = [...read.stdout.matchAll(/^out_time_us=(\d+)$/gm)].map((m) => Number(m[1]))
  const last = times.at(-1)
  if (last === undefined) throw new NotPlayableError(`${playlist}: ffmpeg read no packet`)
  return {...streams, durationSeconds: last / 1_000_000}
}
